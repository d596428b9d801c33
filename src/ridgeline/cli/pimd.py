"""``ridgeline pimd CONFIG.yaml [key=value ...] [--beads P ...]``: path-integral MD through i-PI with
a model file (or ASE's EMT) as i-PI's client (:mod:`ridgeline.integrations.ipi`), from a YAML config
(:class:`ridgeline.integrations.ipi.config.PIMDConfig`). Prints the summary as JSON; with
``--beads`` runs once per bead count and prints the convergence.

Exit status: 0 when the run completed, 2 for bad input or when i-PI failed (its log's error said).
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("config", help="YAML config (keys: structure, model, nbeads, temperature, timestep, steps, thermostat, "
                                  "tau, masses, isotope, socket, output_dir, ...; see "
                                  "ridgeline.integrations.ipi.config.PIMDConfig)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys (e.g. nbeads=16 isotope.atom=H)")
    p.add_argument("--beads", nargs="+", type=int, metavar="P",
                   help="run once per bead count (in output_dir/beads_P) and plot the energies against P")


def run(args) -> int:
    from ..integrations.ipi import beads_convergence, load_pimd_config, run_pimd

    config = load_pimd_config(args.config, args.overrides)
    if args.beads:
        if min(args.beads) < 1:
            from ..errors import ConfigError

            raise ConfigError(f"--beads: bead counts are at least 1, got {args.beads}")
        convergence = beads_convergence(config, args.beads)
        print(convergence.to_json())
        return 0
    result = run_pimd(config)
    print(result.to_json())
    k = result.per_atom("kinetic_cv")
    print(f"ridgeline pimd: {result.nbeads} beads, {result.steps} steps: quantum kinetic energy {1000 * k.mean:.2f} ± "
          f"{1000 * k.error:.2f} meV/atom; {result.output_dir}", file=sys.stderr)
    return 0

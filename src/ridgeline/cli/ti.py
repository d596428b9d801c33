"""``ridgeline ti CONFIG.yaml [key=value ...]``: free energies by thermodynamic integration
(:mod:`ridgeline.properties.thermodynamic_integration`, config :class:`~ridgeline.properties.
sampling_config.TIConfig`):

- ``mode: solid``: the classical absolute Helmholtz free energy of a crystal from the Einstein
  crystal (springs from the model's own fluctuations unless given), the centre of mass held;
- ``mode: alchemical``: F(model) - F(reference_model) along the linear path between the two.

Writes ``ti.json`` (the free energy with its error, the integrand at each λ), ``ti.png`` (the
integrand with its error bars) and the config to ``output_dir``; the finished λ points are kept, so
a rerun of the same config does only the missing ones.
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    from .workflow_args import add_config_arguments

    add_config_arguments(p, "mode, structure, model, reference_model, temperature, points, quadrature, steps, "
                            "equilibration, springs, workers, output_dir, ...", "points=12 temperature=600")


def run(args) -> int:
    import json

    from ..files import atomic_write_bytes
    from ..properties.sampling_config import TIConfig
    from ..properties.thermodynamic_integration import solid_free_energy, thermodynamic_integration
    from .workflow_args import start_sampling

    config, atoms, calculator, out = start_sampling(TIConfig, args)
    options = dict(points=config.points, quadrature_kind=config.quadrature, steps=config.steps,
                   equilibration=config.equilibration, timestep=config.timestep, ensemble=config.ensemble,
                   parameters=config.parameters, interval=config.interval, seed=config.seed,
                   executor=config.executor(), workers=config.workers, output_dir=out)
    key = {"model": config.model, "dtype": config.dtype}
    if config.mode == "solid":
        print(f"absolute free energy of {config.structure} ({len(atoms)} atoms) at {config.temperature:g} K from the "
              f"Einstein crystal, {config.points} λ points", file=sys.stderr)
        result = solid_free_energy(atoms, calculator, config.temperature, springs=config.springs,
                                   spring_steps=config.spring_steps, run_key=key, **options)
        integration = result.integration
        summary = result.to_dict()
        print(f"F = {result.free_energy:.5f} ± {result.error:.5f} eV ({result.per_atom:.5f} eV/atom); lattice energy "
              f"{result.lattice_energy:.5f} eV, Einstein crystal {result.einstein:.5f} eV, TI {integration.delta_f:.5f} eV, "
              f"centre of mass {result.center_of_mass:.5f} eV")
    else:
        reference = config.calculator(atoms, config.reference_model)
        print(f"F({config.model}) - F({config.reference_model}) for {config.structure} at {config.temperature:g} K, "
              f"{config.points} λ points", file=sys.stderr)
        integration = thermodynamic_integration(atoms, reference, calculator, config.temperature,
                                                run_key={**key, "reference_model": config.reference_model}, **options)
        summary = integration.to_dict()
        print(f"ΔF = {integration.delta_f:.5f} ± {integration.error:.5f} eV")
    atomic_write_bytes(out / "ti.json", json.dumps(summary, indent=1).encode())
    integration.plot(out / "ti.png")
    print(f"wrote {out / 'ti.json'} and {out / 'ti.png'}")
    return 0

"""``ridgeline md CONFIG.yaml [key=value ...] [--resume] [--no-progress]``: molecular dynamics with a
model file (or ASE's EMT) from a YAML config (:mod:`ridgeline.simulate.md_config`), writing as it
runs (:mod:`ridgeline.simulate.md_files`).

Exit status: 0 when the run completed (or stopped on the domain rule, which it says), 2 for bad
input, 3 when the structure exploded (everything up to the last recorded step is kept).
An output_dir that holds an unfinished run (a state file, no summary) is resumed; ``--resume``
also extends a finished one to a larger ``steps``.
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("config", help="YAML config (keys: structure, model, ensemble, steps, timestep, temperature, pressure, "
                                  "interval, seed, output_dir, bias, ...; see ridgeline.simulate.md_config.MDConfig)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys (e.g. steps=2000 bias.k=2.0)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in output_dir from its last written frame (also a finished one, to a larger steps)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from pathlib import Path

    import yaml
    from tqdm.auto import tqdm

    from ..errors import ConfigError
    from ..files import atomic_write_bytes
    from ..names import RUN_CONFIG_FILE
    from ..simulate import md_files as files
    from ..simulate.md import MD, DomainStop, ExplosionCheck, plot_energy
    from ..simulate.md_config import build_calculator, build_structure, check_structure, load_md_config

    config = load_md_config(args.config, args.overrides)
    out = Path(config.output_dir)
    has_state, finished = (out / files.STATE_FILE).exists(), (out / files.SUMMARY_FILE).exists()
    if has_state and finished and not args.resume:
        raise ConfigError(f"{out} holds a finished run ({files.SUMMARY_FILE}): give --resume with a larger steps to go on, "
                          "or another output_dir")
    if args.resume and not has_state:
        raise ConfigError(f"{out}: no run to resume ({files.STATE_FILE} not found)")
    resume = has_state
    if resume and finished:
        import json

        previous = json.loads((out / files.SUMMARY_FILE).read_text())
        if previous.get("status") != "completed":
            raise ConfigError(f"{out}: the run there did not complete ({previous.get('status')}: {previous.get('reason')}); "
                              "it cannot be resumed")

    atoms = build_structure(config)
    check_structure(config, atoms)
    calculator, closest = build_calculator(config, atoms)
    if resume:
        state = files.load_state(out)
        state.apply(atoms)
        rng, start = state.generator(), state.step
        (out / files.SUMMARY_FILE).unlink(missing_ok=True)
        print(f"resuming {out} from step {start}", file=sys.stderr)
    else:
        import numpy as np

        out.mkdir(parents=True, exist_ok=True)
        for name in (*files.APPENDED, files.SUMMARY_FILE, files.EXPLODED_FILE):  # a run killed before its first frame
            (out / name).unlink(missing_ok=True)
        rng, start = np.random.default_rng(config.seed), 0
    atomic_write_bytes(out / RUN_CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False).encode())

    min_distance = config.min_distance if config.min_distance is not None else (closest or ExplosionCheck.min_distance)
    explosion = ExplosionCheck(max_force=config.max_force, min_distance=min_distance,
                               max_temperature_factor=config.max_temperature_factor)
    domain = DomainStop(config.domain_window, config.domain_fraction, config.max_forces_sigma) if config.domain_stop else None
    progress = tqdm(total=config.steps, initial=min(start, config.steps), unit="step", disable=args.no_progress,
                    desc=f"md {config.ensemble}")
    recorder = files.Recorder(out, rng, config.timestep, config.max_forces_sigma, progress, start)
    md = MD(atoms, calculator, config.ensemble, timestep=config.timestep, temperature=config.temperature, seed=rng,
            interval=config.interval, velocities=not resume, explosion=explosion, domain_stop=domain,
            observers=[recorder], start_step=start, **config.ensemble_parameters())
    if resume:
        files.pressure(md.atoms)  # the calculator evaluated as the recorded step of the first run left it
    try:
        result = md.run(max(0, config.steps - start))
    finally:
        progress.update(max(0, min(md.step, config.steps) - progress.n))
        progress.close()

    if result.status == "exploded":
        atomic_write_bytes(out / files.EXPLODED_FILE,
                           files.extxyz_bytes(files.frame(md.atoms, result.step, config.timestep, labels=False)))
    if result.event is not None:  # the structure that stopped the run is the most uncertain one
        recorder.append_uncertain(result.event.structure, result.step)
    whole = files.run_from_log(out, config.ensemble, len(atoms), config.timestep, result.status, result.step,
                               result.reason)
    summary = files.summarize(whole, out)
    atomic_write_bytes(out / files.SUMMARY_FILE, summary.to_json().encode())
    plot_energy(whole, out / files.PLOT_FILE)
    print(summary.to_json())
    return exit_status("ridgeline md", result.status, result.reason,
                       f"{out}, the exploded structure in {out / files.EXPLODED_FILE}")


def exit_status(command: str, status: str, reason: str, where) -> int:
    """An MD run's exit status (module docstring), said on stderr where the run stopped early."""
    if status == "exploded":
        print(f"{command}: the structure exploded at {reason}; frames up to the last recorded step are in {where}",
              file=sys.stderr)
        return 3
    if status == "out_of_domain":
        print(f"{command}: stopped, left the model's domain at {reason}", file=sys.stderr)
    return 0

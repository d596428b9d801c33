"""``ridgeline umbrella CONFIG.yaml [key=value ...]``: umbrella sampling along a collective variable
with a model file (or EMT), the windows run in parallel (``workers``), and the free-energy profile
by MBAR (:mod:`ridgeline.properties.umbrella`, config :class:`~ridgeline.properties.sampling_config.
UmbrellaSamplingConfig`).

Writes to ``output_dir``: ``profile.json`` (F(s) with its error, the windows' overlap, samples,
statistical inefficiencies and domain flags; with a model that has uncertainties, the model's own
band of F(s) from ``draws`` posterior energy surfaces, :func:`~ridgeline.properties.umbrella.
profile_uncertainty`), ``profile.png`` (F(s) with its 2-sigma sampling band, the model's band, and
the overlap of neighbouring windows), the config it ran with, and the finished windows, so that a
rerun of the same config does only the windows that are missing.
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    from .workflow_args import add_config_arguments

    add_config_arguments(p, "structure, model, cv: {kind, atoms}, lower, upper, windows or centers, k, temperature, "
                            "steps, equilibration, workers, output_dir, ...", "windows=24 k=2.0")


def run(args) -> int:
    import json

    from ..files import atomic_write_bytes
    from ..properties.sampling_config import UmbrellaSamplingConfig
    from ..properties.umbrella import profile_uncertainty, umbrella_sampling
    from ..simulate.md_config import EMT_NAME
    from .workflow_args import start_sampling

    config, atoms, calculator, out = start_sampling(UmbrellaSamplingConfig, args)
    cv = config.build_cv()
    cv.check_atoms(len(atoms))
    centers = config.window_centers(cv)
    uq = None
    if config.model != EMT_NAME and config.frame_every > 0:
        from ..simulate.calculator import Calculator

        uq = Calculator(config.model, dtype=config.dtype).uq
    frame_every = config.frame_every if uq is not None else 0
    print(f"umbrella sampling of {config.cv.kind} {config.cv.atoms}: {len(centers)} windows from {centers.min():.4g} to "
          f"{centers.max():.4g} {cv.unit}, {config.steps} steps each, {config.workers} worker(s)", file=sys.stderr)
    result = umbrella_sampling(atoms, calculator, cv, centers, config.k, config.temperature, steps=config.steps,
                               equilibration=config.equilibration, timestep=config.timestep, ensemble=config.ensemble,
                               parameters=config.parameters, interval=config.interval, pull_steps=config.pull_steps,
                               seed=config.seed, bins=config.bins, executor=config.executor(), workers=config.workers,
                               output_dir=out, run_key={"model": config.model, "dtype": config.dtype},
                               frame_every=frame_every)
    summary = result.summary()
    band = None
    if uq is not None:
        band = profile_uncertainty(result, uq, draws=config.draws, confidence=config.confidence, seed=config.seed)
        summary["model_uncertainty"] = band.to_dict()
    atomic_write_bytes(out / "profile.json", json.dumps(summary, indent=1).encode())
    result.plot(out / "profile.png", uncertainty=band)
    profile = result.profile
    ok = profile.free_energy == profile.free_energy
    top = int(profile.free_energy[ok].argmax())
    model_part = "" if band is None else (f", model's {100 * config.confidence:g}% interval "
                                          f"[{band.lower[ok][top]:.4f}, {band.upper[ok][top]:.4f}] eV")
    print(f"free energy over the windows' range: max {profile.free_energy[ok][top]:.4f} "
          f"± {profile.error[ok][top]:.4f} eV (sampling){model_part} at {profile.bin_centers[ok][top]:.4g} {cv.unit} "
          "(0 at the lowest bin)")
    for lower, upper in profile.gaps:
        print(f"warning: windows at {lower:.4g} and {upper:.4g} do not overlap: add windows between them or lower k",
              file=sys.stderr)
    if result.flagged_windows:
        print(f"warning: out of the model's domain in the windows at {', '.join(f'{c:.4g}' for c in result.flagged_windows)}",
              file=sys.stderr)
    print(f"wrote {out / 'profile.json'} and {out / 'profile.png'}")
    return 0

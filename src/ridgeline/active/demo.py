"""The main job: active learning of ethanol against GFN2-xTB, from nothing to a checked potential
in about ten minutes on two CPU cores.

1. independent validation frames from xTB-driven Langevin MD (500 K);
2. the loop: rattled seeds -> committee of moment networks -> MD walkers (300 -> 700 K ramp) ->
   committee disagreement -> xTB labels -> warm-started retraining, until the committee's
   calibrated force uncertainty on fresh exploration is low, or the iteration limit;
3. the final committee on the validation frames (parity plot), and 1 ps of NVE MD with it
   (energy drift, uncertainty along the trajectory), stopped where it blows up or stays out of
   the committee's domain, which the report then says first.

Everything is written under the output directory; a killed demo resumes where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data import KeyMap, read_frames
from ..files import atomic_write_bytes
from ..names import AL_STATE_FILE, AL_VALIDATION_FILE
from ..simulate.calculator import Calculator
from ..simulate.md import DomainStop, plot_energy, run_md
from ..training.metrics import compute_metrics, predict
from ..training.report import parity_plot
from .config import load_active_config
from .loop import ActiveLearning
from .report import summary_markdown

DEMO_CONFIG = {
    "structures": "ethanol",
    "seed_frames": 8,
    "rattle": 0.05,
    "committee": 3,
    "oracle": {"name": "xtb", "workers": 2},
    "explore": {"walkers": 4, "steps": 600, "timestep": 0.5, "temperature": 300.0, "temperature_end": 700.0,
                "interval": 10},
    "select": {"method": "committee", "per_iteration": 12},
    "stop": {"max_iterations": 8, "converged_sigma": 0.05, "converged_iterations": 2},
    "validation": {"frames": 50, "temperature": 500.0, "steps_between": 20, "equilibration": 200},
    "model": {"name": "moment", "preset": "small", "cutoff": 5.0},
    "training": {"epochs": 100, "max_time": 0.35, "batch_size": 4, "lr": 3e-3},
}


def nve_check(atoms, calculator, output_dir, steps: int = 2000, seed: int = 0) -> tuple[dict, list[str]]:
    """``steps`` of NVE MD (0.5 fs, from 300 K) with the final committee: the figures for
    report.json (``nve_*``) and the report's section. The run stops where it blows up or stays
    out of the committee's domain (:class:`~ridgeline.simulate.md.DomainStop`'s default rule);
    then the figures cover the steps before it, and ``nve_status``, ``nve_stop_step`` and
    ``nve_stop_reason`` say where and why. The energy plot goes to ``nve_energy.png``."""
    nve = run_md(atoms, calculator, "nve", steps=steps, timestep=0.5, temperature=300.0, seed=seed,
                 domain_stop=DomainStop())
    plot_energy(nve, Path(output_dir) / "nve_energy.png")
    sigma = float(np.max(nve.max_forces_sigma)) if len(nve.max_forces_sigma) else None
    figures = {
        "nve_drift": nve.drift, "nve_fluctuation": nve.fluctuation, "nve_max_forces_sigma": sigma,
        "nve_out_of_domain_steps": nve.out_of_domain_steps, "nve_steps": nve.step, "nve_status": nve.status,
        "nve_stop_step": nve.step if nve.stopped else None, "nve_stop_reason": nve.reason or None,
    }
    sigma_text = f"{sigma:.3f} eV/Å" if sigma is not None else "not given"
    text = (f"{nve.step} steps of 0.5 fs from 300 K (a validation frame): energy drift {nve.drift:.3f} meV/atom/ps, "
            f"fluctuation {nve.fluctuation:.3f} meV/atom; largest force sigma along the run {sigma_text}; "
            f"steps where the Mahalanobis test (per atom, 99%) flagged an atom: "
            f"{nve.out_of_domain_steps} of the {len(nve.time_ps)} recorded. Plot: `nve_energy.png`.")
    if nve.stopped:
        text = f"**{nve_warning(figures, steps)}** The figures cover the steps before it. " + text
    return figures, ["## NVE MD with the final committee", "", text, ""]


def nve_warning(figures: dict, steps: int | None = None) -> str | None:
    """One line saying that the NVE check stopped, where and why (None when it completed)."""
    if figures.get("nve_status", "completed") == "completed":
        return None
    asked = f" ({steps} steps were asked for)" if steps is not None else ""
    return f"Warning: the NVE check stopped early ({figures['nve_status']}) at {figures['nve_stop_reason']}{asked}."


def run_demo(output_dir="demo_run", progress: bool = True, overrides=(), nve_steps: int = 2000) -> dict:
    """Run (or resume) the demo; returns the figures of its report. ``overrides``: ``key=value``
    for the embedded config (e.g. ``stop.max_iterations=3``)."""
    out = Path(output_dir)
    config = load_active_config(base={**DEMO_CONFIG, "output_dir": str(out / "active_learning")}, overrides=overrides)
    resume = (Path(config.output_dir) / AL_STATE_FILE).exists()
    model_path = ActiveLearning(config, progress=progress).run(resume=resume)
    state = json.loads((Path(config.output_dir) / AL_STATE_FILE).read_text())

    calc = Calculator(model_path)
    valid = read_frames(Path(config.output_dir) / AL_VALIDATION_FILE, KeyMap(), require=("energy", "forces"))
    p = predict(calc.model, valid)
    metrics = compute_metrics(p)
    parity_plot(p, out / "parity_validation.png", title=f"validation: {len(valid)} xTB MD frames at {config.validation.temperature:.0f} K")
    nve_figures, nve_section = nve_check(valid[0].to_atoms(), calc, out, steps=nve_steps, seed=config.seed)

    rows = state["iterations"]
    figures = {
        "oracle_calls": rows[-1]["oracle_calls_total"],
        "oracle_seconds": rows[-1]["oracle_seconds_total"],
        "iterations": len(rows) - 1,
        "stop_reason": state["stop_reason"],
        "valid_energy_mae": metrics["energy_mae"], "valid_forces_mae": metrics["forces_mae"],
        "valid_forces_rmse": metrics["forces_rmse"], **nve_figures,
        "model": str(model_path), "validation_frames": str(Path(config.output_dir) / AL_VALIDATION_FILE),
    }
    warning = nve_warning(figures, nve_steps)
    report = [
        "# ridgeline demo: active learning of ethanol against GFN2-xTB", "",
        *([f"**{warning}** See the NVE section.", ""] if warning else []),
        f"{figures['oracle_calls']} xTB calls for training ({figures['oracle_seconds']:.1f} s of xTB) in "
        f"{figures['iterations']} iterations; stopped: {figures['stop_reason']}.", "",
        summary_markdown(rows, state).split("\n", 2)[2],
        "## Final committee on the validation frames", "",
        f"energy MAE {metrics['energy_mae']:.2f} meV/atom, force MAE {metrics['forces_mae']:.4f} eV/Å, "
        f"force RMSE {metrics['forces_rmse']:.4f} eV/Å ({len(valid)} frames). Parity: `parity_validation.png`.", "",
        *nve_section,
        f"Learning curve (validation force RMSE against xTB calls): `active_learning/learning_curve.png`. "
        f"Model: `{model_path}`.", "",
    ]
    atomic_write_bytes(out / "report.md", "\n".join(report).encode())
    atomic_write_bytes(out / "report.json", (json.dumps(figures, indent=1) + "\n").encode())
    return figures


__all__ = ["DEMO_CONFIG", "nve_check", "nve_warning", "run_demo"]

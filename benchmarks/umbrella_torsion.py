"""The ethanol hydroxyl torsion (H-O-C-C) by umbrella sampling: the model against GFN2-xTB by the
same workflow, and against the model's own long unbiased MD.

The model is the main job's committee (``ridgeline demo``: active learning of ethanol against
GFN2-xTB through tblite; cached in cache/properties_xtb_ethanol, made there if missing). Both
calculators run ``properties.umbrella.umbrella_sampling`` with the same windows (24 over the whole
period, k = 0.5 eV/rad^2, 300 K, Langevin, 1 ps per window after 0.2 ps of equilibration), two
worker processes each; the profiles come from MBAR. The unbiased run (the committee's mean model,
20 ps at 300 K) gives F = -kT ln p(phi) from its histogram, its error from five blocks.

Figures: the profiles' RMS and largest difference over the bins (each set to zero at its mean over
the bins all three sampled), the trans-gauche barrier of each, the windows' largest force sigma and
domain flags, and the cost per step of each calculator. Writes results/umbrella_torsion.{json,md,png}.
``python benchmarks/umbrella_torsion.py`` (about 15 minutes on 2 idle cores with the demo cached).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import CACHE, RESULTS, machine, write_results  # noqa: E402

TEMPERATURE = 300.0
WINDOWS, K = 24, 0.5
RUN = dict(steps=2000, equilibration=400, timestep=0.5, interval=2, pull_steps=200, parameters={"friction": 0.01})
BINS = 36
UNBIASED_STEPS = 40000


def build_model(path: str):
    """The committee in a worker process, on one torch thread (two workers share two cores)."""
    import torch

    from ridgeline.simulate.calculator import Calculator

    torch.set_num_threads(1)
    return Calculator(path)


def build_xtb():
    from ridgeline.simulate.named import calculator

    return calculator("xtb")


def torsion_atoms(atoms) -> list[int]:
    """H-O-C-C of ethanol: the hydroxyl H, the O, the C bonded to it, the other C."""
    symbols = np.array(atoms.get_chemical_symbols())
    o = int(np.flatnonzero(symbols == "O")[0])
    d = atoms.get_all_distances()
    h = int(min(np.flatnonzero(symbols == "H"), key=lambda i: d[o, i]))
    carbons = np.flatnonzero(symbols == "C")
    c1 = int(min(carbons, key=lambda i: d[o, i]))
    c2 = int(next(c for c in carbons if c != c1))
    return [h, o, c1, c2]


def unbiased_profile(atoms, calculator, cv, edges, blocks: int = 5) -> dict:
    from ase import units

    from ridgeline.simulate.md import run_md

    values = []
    t0 = time.perf_counter()
    run = run_md(atoms, calculator, "langevin", steps=UNBIASED_STEPS, timestep=RUN["timestep"], temperature=TEMPERATURE,
                 seed=7, interval=RUN["interval"], friction=0.01, observers=[lambda step, a: values.append(cv.value(a))])
    seconds = time.perf_counter() - t0
    values = np.array(values)[len(values) // 20:]  # the first 5% as equilibration
    kt = units.kB * TEMPERATURE
    per_block = [np.histogram(b, edges)[0] for b in np.array_split(values, blocks)]
    counts = np.sum(per_block, axis=0)
    f = np.where(counts > 0, -kt * np.log(np.maximum(counts, 1) / counts.sum()), np.nan)
    block_f = np.array([np.where(c > 0, -kt * np.log(np.maximum(c, 1) / c.sum()), np.nan) for c in per_block])
    err = np.nanstd(block_f, axis=0, ddof=1) / np.sqrt(blocks)
    return {"free_energy": f, "error": err, "seconds_per_step": seconds / max(run.step, 1), "status": run.status,
            "samples": int(values.size)}


def aligned(f, mask):
    return f - np.mean(f[mask])


def main() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    from ase.build import molecule

    from ridgeline.active.demo import run_demo
    from ridgeline.properties.umbrella import umbrella_sampling, window_centers
    from ridgeline.simulate.calculator import Calculator
    from ridgeline.simulate.colvars import Dihedral
    from ridgeline.simulate.parallel import CalculatorFactory
    from ridgeline.simulate.relax import relax

    folder = CACHE / "umbrella_torsion"
    model_path = CACHE / "properties_xtb_ethanol" / "demo" / "active_learning" / "model.safetensors"
    if not model_path.exists():
        model_path = Path(run_demo(CACHE / "properties_xtb_ethanol" / "demo", progress=False)["model"])
    start = relax(molecule("CH3CH2OH"), build_xtb(), fmax=0.01).atoms
    start.calc = None
    indices = torsion_atoms(start)
    cv = Dihedral(*indices)
    centers = window_centers(-np.pi, np.pi, WINDOWS, cv.period)
    edges = np.linspace(-np.pi, np.pi, BINS + 1)
    profiles, seconds = {}, {}
    for name, factory in (("model", CalculatorFactory(build_model, str(model_path))), ("xtb", CalculatorFactory(build_xtb))):
        t0 = time.perf_counter()
        profiles[name] = umbrella_sampling(start, factory, cv, centers, K, TEMPERATURE, bins=edges, executor="process",
                                           workers=2, output_dir=folder / name, run_key={"calculator": name}, **RUN)
        seconds[name] = time.perf_counter() - t0
    import torch

    torch.set_num_threads(2)
    mean_model = Calculator(str(model_path)).without_uncertainty()
    unbiased = unbiased_profile(start, mean_model, cv, edges)

    model, xtb = profiles["model"].profile, profiles["xtb"].profile
    mids = model.bin_centers
    mask = np.isfinite(model.free_energy) & np.isfinite(xtb.free_energy) & np.isfinite(unbiased["free_energy"])
    f_model, f_xtb, f_md = (aligned(f, mask) for f in (model.free_energy, xtb.free_energy, unbiased["free_energy"]))
    diff = (f_model - f_xtb)[mask]
    diff_md = (f_model - f_md)[mask]
    trans = np.abs(mids) > 2.6  # H-O-C-C near 180 degrees
    gauche = (np.abs(mids) > 0.6) & (np.abs(mids) < 1.6)

    def barrier(f):
        """F at the eclipsed top between trans and gauche (max over 1.6-2.6 rad) less the trans minimum."""
        top = (np.abs(mids) >= 1.6) & (np.abs(mids) <= 2.6)
        return float(np.nanmax(f[top]) - np.nanmin(f[trans]))

    steps_per_profile = WINDOWS * (RUN["steps"] + RUN["equilibration"]) + WINDOWS * RUN["pull_steps"]
    windows = profiles["model"].windows
    out = {
        "machine": machine(), "temperature": TEMPERATURE, "windows": WINDOWS, "k": K, "run": RUN, "bins": BINS,
        "torsion_atoms": indices, "model": str(model_path),
        "bin_centers": mids, "model_profile": f_model, "model_error": model.error, "xtb_profile": f_xtb,
        "xtb_error": xtb.error, "unbiased_profile": f_md, "unbiased_error": unbiased["error"],
        "rms_model_vs_xtb": float(np.sqrt(np.mean(diff**2))), "max_model_vs_xtb": float(np.abs(diff).max()),
        "rms_umbrella_vs_unbiased": float(np.sqrt(np.mean(diff_md**2))),
        "max_umbrella_vs_unbiased": float(np.abs(diff_md).max()),
        "barrier_model": barrier(f_model), "barrier_xtb": barrier(f_xtb), "barrier_unbiased": barrier(f_md),
        "gauche_minus_trans_model": float(np.nanmin(f_model[gauche]) - np.nanmin(f_model[trans])),
        "gauche_minus_trans_xtb": float(np.nanmin(f_xtb[gauche]) - np.nanmin(f_xtb[trans])),
        "min_neighbour_overlap_model": float(model.neighbour_overlap.min()),
        "min_neighbour_overlap_xtb": float(xtb.neighbour_overlap.min()),
        "model_max_forces_sigma": float(max(w.max_forces_sigma or 0.0 for w in windows)),
        "model_flagged_windows": profiles["model"].flagged_windows,
        "seconds": seconds, "wall_seconds_per_step": {k: v / steps_per_profile * 2 for k, v in seconds.items()},
        "unbiased_seconds_per_step": unbiased["seconds_per_step"], "unbiased_samples": unbiased["samples"],
    }
    from ridgeline.analysis.results import jsonable

    out = jsonable(out)
    plot(out)
    rows = [
        ("trans -> gauche barrier (eV)", out["barrier_model"], out["barrier_xtb"], out["barrier_unbiased"]),
        ("F(gauche) - F(trans) (eV)", out["gauche_minus_trans_model"], out["gauche_minus_trans_xtb"], None),
        ("smallest neighbour overlap", out["min_neighbour_overlap_model"], out["min_neighbour_overlap_xtb"], None),
        ("time per window step, one worker (ms)", 1e3 * out["wall_seconds_per_step"]["model"],
         1e3 * out["wall_seconds_per_step"]["xtb"], 1e3 * out["unbiased_seconds_per_step"]),
    ]
    lines = ["# Ethanol H-O-C-C torsion by umbrella sampling", "",
             f"Made by `benchmarks/umbrella_torsion.py`: {WINDOWS} windows over the period, k = {K} eV/rad^2, "
             f"{TEMPERATURE:g} K, {RUN['steps'] * RUN['timestep'] / 1000:g} ps per window, MBAR; the model's unbiased "
             f"run {UNBIASED_STEPS * RUN['timestep'] / 1000:g} ps. Machine: {out['machine']}.", "",
             "| figure | model (umbrella) | GFN2-xTB (umbrella) | model (unbiased MD) |", "|---|---|---|---|"]
    for label, *values in rows:
        lines.append(f"| {label} | " + " | ".join("-" if v is None else f"{v:.4g}" for v in values) + " |")
    lines += ["", f"Profiles, each zero at its mean over the bins all three sampled: model - xTB RMS "
              f"{out['rms_model_vs_xtb'] * 1000:.1f} meV, largest {out['max_model_vs_xtb'] * 1000:.1f} meV; "
              f"umbrella - unbiased (model) RMS {out['rms_umbrella_vs_unbiased'] * 1000:.1f} meV, largest "
              f"{out['max_umbrella_vs_unbiased'] * 1000:.1f} meV.",
              f"The model's largest force sigma over the windows: {out['model_max_forces_sigma']:.3f} eV/Å; windows "
              f"with an atom out of its domain: {out['model_flagged_windows'] or 'none'}.", "",
              "![profiles](umbrella_torsion.png)", ""]
    write_results("umbrella_torsion", out, "\n".join(lines))


def plot(out: dict) -> None:
    from ridgeline.analysis.results import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    x = np.degrees(np.asarray(out["bin_centers"]))
    for key, err, label, color in (("model_profile", "model_error", "model (umbrella, MBAR)", "C0"),
                                   ("xtb_profile", "xtb_error", "GFN2-xTB (umbrella, MBAR)", "C3"),
                                   ("unbiased_profile", "unbiased_error", "model (unbiased MD)", "C2")):
        f, e = np.asarray(out[key], float), np.asarray(out[err], float)
        ax.plot(x, f, "-o", ms=3, color=color, label=label)
        ax.fill_between(x, f - 2 * e, f + 2 * e, color=color, alpha=0.2)
    ax.set_xlabel("H-O-C-C dihedral (degrees)")
    ax.set_ylabel("free energy (eV)")
    ax.set_title(f"ethanol hydroxyl torsion, {out['temperature']:g} K")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, RESULTS / "umbrella_torsion.png")


if __name__ == "__main__":
    main()

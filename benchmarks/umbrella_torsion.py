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
FRAME_EVERY = 10  # the model's windows keep every 10th sample's structure for its band of F(s)
DRAWS = 200


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
    from ridgeline.simulate.parallel import load_run, save_run

    path = CACHE / "umbrella_torsion" / "unbiased.npz"
    settings = {"steps": UNBIASED_STEPS, "timestep": RUN["timestep"], "interval": RUN["interval"], "seed": 7}
    saved = load_run(path, settings)
    if saved is None:
        values = []
        t0 = time.perf_counter()
        run = run_md(atoms, calculator, "langevin", steps=UNBIASED_STEPS, timestep=RUN["timestep"],
                     temperature=TEMPERATURE, seed=7, interval=RUN["interval"], friction=0.01,
                     observers=[lambda step, a: values.append(cv.value(a))])
        meta = {"seconds_per_step": (time.perf_counter() - t0) / max(run.step, 1), "status": run.status}
        save_run(path, {"values": np.array(values)}, meta, settings)
        saved = ({"values": np.array(values)}, meta)
    values = saved[0]["values"][len(saved[0]["values"]) // 20:]  # the first 5% as equilibration
    kt = units.kB * TEMPERATURE
    per_block = [np.histogram(b, edges)[0] for b in np.array_split(values, blocks)]
    counts = np.sum(per_block, axis=0)
    f = np.where(counts > 0, -kt * np.log(np.maximum(counts, 1) / counts.sum()), np.nan)
    block_f = np.array([np.where(c > 0, -kt * np.log(np.maximum(c, 1) / c.sum()), np.nan) for c in per_block])
    err = np.nanstd(block_f, axis=0, ddof=1) / np.sqrt(blocks)
    return {"free_energy": f, "error": err, "seconds_per_step": saved[1]["seconds_per_step"],
            "status": saved[1]["status"], "samples": int(values.size)}


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
                                           workers=2, output_dir=folder / name, run_key={"calculator": name},
                                           frame_every=FRAME_EVERY if name == "model" else 0, **RUN)
        seconds[name] = time.perf_counter() - t0
    import torch

    from ridgeline.properties.umbrella import profile_uncertainty

    torch.set_num_threads(2)
    committee = Calculator(str(model_path))
    t0 = time.perf_counter()
    band = profile_uncertainty(profiles["model"], committee.uq, draws=DRAWS, seed=0)
    band_seconds = time.perf_counter() - t0
    mean_model = committee.without_uncertainty()
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
        """F at the top between trans and gauche (max over 1.6-2.6 rad) less the trans minimum; None
        where the trans region was not sampled."""
        top = (np.abs(mids) >= 1.6) & (np.abs(mids) <= 2.6)
        if not np.isfinite(f[trans]).any() or not np.isfinite(f[top]).any():
            return None
        return float(np.nanmax(f[top]) - np.nanmin(f[trans]))

    # does xTB's profile fall inside the model's band, widened by the two profiles' sampling errors (2 sigma)?
    both = np.isfinite(model.free_energy) & np.isfinite(xtb.free_energy)
    shift = np.mean((f_model - model.free_energy)[both])  # the alignment applied to the model's profile
    half = 0.5 * (band.upper - band.lower)
    centre = 0.5 * (band.upper + band.lower) + shift
    allowed = np.sqrt(half**2 + (2 * model.error) ** 2 + (2 * xtb.error) ** 2)
    resolved = both & band.resolved
    inside = (np.abs(f_xtb - centre) <= allowed)[resolved]
    window_of_bin = np.array([int(np.argmin(np.abs(cv.difference(c, centers)))) for c in mids])
    flagged_bin = np.array([profiles["model"].windows[w].out_of_domain_fraction > 0.5 for w in window_of_bin])
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
        "model_band_lower": band.lower + shift, "model_band_upper": band.upper + shift, "model_band_sigma": band.sigma,
        "model_band_frames": band.frames, "model_band_effective_fraction": band.effective_fraction,
        "model_band_resolved": band.resolved, "model_band_seconds": band_seconds,
        "xtb_inside_model_band": float(inside.mean()), "resolved_bins": int(resolved.sum()), "bins_sampled": int(both.sum()),
        "unresolved_bins_degrees": np.degrees(mids[both & ~band.resolved]),
        "unresolved_bins_flagged": int((both & ~band.resolved & flagged_bin).sum()),
        "band_half_width_flagged_mev": float(1000 * np.mean(half[resolved & flagged_bin])) if (resolved & flagged_bin).any() else None,
        "band_half_width_in_domain_mev": float(1000 * np.mean(half[resolved & ~flagged_bin])),
        "abs_model_minus_xtb_flagged_mev": float(1000 * np.mean(np.abs(f_model - f_xtb)[both & flagged_bin])),
        "abs_model_minus_xtb_in_domain_mev": float(1000 * np.mean(np.abs(f_model - f_xtb)[both & ~flagged_bin])),
        "window_out_of_domain_fraction": [w.out_of_domain_fraction for w in windows],
        "window_max_forces_sigma": [w.max_forces_sigma for w in windows],
        "seconds": seconds,
        "seconds_per_window_step": {k: sum(w.seconds for w in p.windows) / (WINDOWS * (RUN["steps"] + RUN["equilibration"]))
                                    for k, p in profiles.items()},
        "unbiased_seconds_per_step": unbiased["seconds_per_step"], "unbiased_samples": unbiased["samples"],
    }
    from ridgeline.analysis.results import jsonable

    out = jsonable(out)
    plot(out)
    rows = [
        ("trans -> gauche barrier (eV)", out["barrier_model"], out["barrier_xtb"], out["barrier_unbiased"]),
        ("F(gauche) - F(trans) (eV)", out["gauche_minus_trans_model"], out["gauche_minus_trans_xtb"], None),
        ("smallest neighbour overlap", out["min_neighbour_overlap_model"], out["min_neighbour_overlap_xtb"], None),
        ("time per MD step, one worker (ms)", 1e3 * out["seconds_per_window_step"]["model"],
         1e3 * out["seconds_per_window_step"]["xtb"], 1e3 * out["unbiased_seconds_per_step"]),
    ]
    lines = ["# Ethanol H-O-C-C torsion by umbrella sampling", "",
             f"Made by `benchmarks/umbrella_torsion.py`: {WINDOWS} windows over the period, k = {K} eV/rad^2, "
             f"{TEMPERATURE:g} K, {RUN['steps'] * RUN['timestep'] / 1000:g} ps per window, MBAR; the model's unbiased "
             f"run {UNBIASED_STEPS * RUN['timestep'] / 1000:g} ps. Machine: {out['machine']}.", "",
             "| figure | model (umbrella) | GFN2-xTB (umbrella) | model (unbiased MD) |", "|---|---|---|---|"]
    for label, *values in rows:
        lines.append(f"| {label} | " + " | ".join("-" if v is None else f"{v:.4g}" for v in values) + " |")
    lines.append("")
    lines.append("The unbiased run's barrier is '-' where it never reached the trans region: in 20 ps at 300 K the "
                 "model's MD stays on the gauche side, which is what the windows are for.")
    lines += ["", f"Profiles, each zero at its mean over the bins all three sampled: model - xTB RMS "
              f"{out['rms_model_vs_xtb'] * 1000:.1f} meV, largest {out['max_model_vs_xtb'] * 1000:.1f} meV; "
              f"umbrella - unbiased (model) RMS {out['rms_umbrella_vs_unbiased'] * 1000:.1f} meV, largest "
              f"{out['max_umbrella_vs_unbiased'] * 1000:.1f} meV.",
              f"The model's own band of F(s) ({DRAWS} posterior energy surfaces reweighting {out['model_band_frames']} kept "
              f"frames): resolved in {out['resolved_bins']} of {out['bins_sampled']} bins; the others "
              f"({', '.join(f'{d:.0f}°' for d in out['unresolved_bins_degrees']) or 'none'}; "
              f"{out['unresolved_bins_flagged']} of them in windows out of the model's domain more than half the time) are "
              f"where the posterior's energies spread over many kT, so that reweighting cannot say how far F moves. "
              f"Where resolved, xTB's profile lies inside the band widened by both profiles' 2-sigma sampling errors in "
              f"{100 * out['xtb_inside_model_band']:.0f}% of the bins; the band's mean half-width is "
              f"{out['band_half_width_in_domain_mev']:.1f} meV in windows mostly inside the domain"
              + (f", {out['band_half_width_flagged_mev']:.1f} meV in those mostly outside" if out['band_half_width_flagged_mev'] is not None else "")
              + f". Mean |model - xTB|: {out['abs_model_minus_xtb_in_domain_mev']:.1f} meV in windows mostly inside the "
              f"domain, {out['abs_model_minus_xtb_flagged_mev']:.1f} meV in those mostly outside.",
              f"Windows' fraction of steps out of the model's domain: "
              f"{', '.join(f'{np.degrees(c):.0f}°: {f:.2f}' for c, f in zip(centers, out['window_out_of_domain_fraction']))}; "
              f"largest force sigma {out['model_max_forces_sigma']:.2f} eV/Å.", "",
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
    ax.fill_between(x, np.asarray(out["model_band_lower"], float), np.asarray(out["model_band_upper"], float),
                    facecolor="none", edgecolor="C0", hatch="///", lw=0, label="model's own 95% band")
    ax.set_xlabel("H-O-C-C dihedral (degrees)")
    ax.set_ylabel("free energy (eV)")
    ax.set_title(f"ethanol hydroxyl torsion, {out['temperature']:g} K")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, RESULTS / "umbrella_torsion.png")


if __name__ == "__main__":
    main()

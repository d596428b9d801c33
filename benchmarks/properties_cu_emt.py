"""Every property workflow on Cu, with a ridgeline model trained on EMT data and with EMT itself.

Two moment models are trained here on EMT-labelled Cu (``--minutes`` each) and calibrated
(last-layer Laplace posterior, Mahalanobis domain model, calibration on a held-out split; the
posterior's force variance ``directional``, the default, or ``linearised``, whose precision also
counts the training forces: a variant ``bulk:linearised`` names both):

- ``bulk``: ``reference.emt_dataset`` only (bulk MD at 300/800/1400 K, strained cells, a vacancy
  in MD): what a user who trained on bulk data has;
- ``extended``: the same plus volume-scaled cells over the equation of state's range, slabs of the
  three low-index facets in MD, and an octahedral interstitial in MD.

Then ``ridgeline.validate`` runs every crystal workflow (EOS, elastic constants, vacancy and
interstitial formation, surface energies, phonons, vacancy migration by NEB) with the model and
with EMT through the same code: a table of model against EMT with the model's 95% interval,
whether EMT's value falls inside it (the interval's coverage), and whether the model flagged the
structures as out of its domain. Writes results/properties_cu_emt.{json,md}.

``python benchmarks/properties_cu_emt.py [--minutes 6] [--variants bulk extended bulk:linearised ...] [--quick]``
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from ase.build import bulk, fcc100, fcc110, fcc111
from ase.io import write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, RESULTS, machine  # noqa: E402

from ridgeline.files import atomic_write_bytes  # noqa: E402
from ridgeline.reference.emt_dataset import _label, _md_snapshots, emt_dataset  # noqa: E402


def extended_frames(seed: int = 0) -> list:
    """Cells over the EOS range, slabs in MD, an octahedral interstitial in MD (EMT labels)."""
    rng = np.random.default_rng(seed)
    cell = bulk("Cu", "fcc", cubic=True).repeat(2)
    frames = []
    for s in np.linspace(0.94, 1.06, 9):  # linear scale: volumes from 0.83 to 1.19 of equilibrium
        scaled = cell.copy()
        scaled.set_cell(cell.cell.array * s, scale_atoms=True)
        scaled.rattle(0.03, seed=int(rng.integers(1 << 31)))
        frames.append(_label(scaled, "eos"))
    for build, name in ((fcc100, "100"), (fcc110, "110"), (fcc111, "111")):
        slab = build("Cu", size=(2, 2, 6), vacuum=6.0, periodic=True)
        frames += [_label(a, f"surface_{name}") for a in _md_snapshots(slab, 600.0, 8, 10, rng)]
    inter = cell.copy()
    a = cell.cell[0, 0] / 2
    inter.append("Cu")
    inter.positions[-1] = [a / 2, 0.0, 0.0]  # an octahedral hole: the middle of a cube edge of the conventional cell
    frames += [_label(x, "interstitial") for x in _md_snapshots(inter, 500.0, 10, 10, rng)]
    return frames


def train(variant: str, minutes: float, seed: int = 0) -> Path:
    """A calibrated moment model of ``variant`` ("data" or "data:posterior"; cached)."""
    from ridgeline.data import load_frames
    from ridgeline.models.io import load_model
    from ridgeline.training.config import load_config
    from ridgeline.training.trainer import Trainer
    from ridgeline.uncertainty import UncertaintyOptions, fit_uncertainty

    data, _, posterior = variant.partition(":")
    posterior = posterior or "directional"
    folder = CACHE / "properties_cu_emt" / data
    calibrated = folder / ("calibrated.safetensors" if posterior == "directional" else f"calibrated_{posterior}.safetensors")
    if calibrated.exists():
        return calibrated
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: folder / f"{name}.xyz" for name in ("valid", "train")}
    if not all(f.exists() for f in files.values()):
        frames = emt_dataset("Cu", n_md=40, seed=seed) + (extended_frames(seed) if data == "extended" else [])
        order = np.random.default_rng(seed).permutation(len(frames))
        n_valid = len(frames) // 8
        for name, idx in (("valid", order[:n_valid]), ("train", order[n_valid:])):
            text = io.StringIO()
            write(text, [frames[k] for k in idx], format="extxyz")
            atomic_write_bytes(files[name], text.getvalue().encode())
    config = load_config(base={"train_file": str(files["train"]), "valid_file": str(files["valid"]),
                               "output_dir": str(folder / "run"), "model": {"name": "moment", "preset": "small", "cutoff": 5.0},
                               "training": {"max_time": minutes, "seed": seed}})
    model_path = Trainer(config, progress=False).run(resume=(folder / "run" / "checkpoint.pt").exists())
    model, description = load_model(model_path, dtype="float64")
    uq = fit_uncertainty(model, load_frames(files["train"]), load_frames(files["valid"]),
                         UncertaintyOptions(domains=("mahalanobis",), force_variance=posterior), description)
    uq.save(calibrated)
    return calibrated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=6.0, help="training budget per model")
    parser.add_argument("--variants", nargs="+", default=["bulk", "extended", "bulk:linearised", "extended:linearised"])
    parser.add_argument("--quick", action="store_true", help="validate's --quick workflows and settings")
    args = parser.parse_args()

    from ridgeline.validate import validate
    from ridgeline.validate.workflows import CRYSTAL, WORKFLOWS

    workflows = None if args.quick else [n for n, w in WORKFLOWS.items() if w.kind == CRYSTAL]
    out = {"machine": machine(), "minutes": args.minutes, "quick": args.quick, "variants": {}}
    for variant in args.variants:
        t0 = time.perf_counter()
        model = train(variant, args.minutes)
        t1 = time.perf_counter()
        report = validate(model, structures=["Cu"], reference="emt", workflows=workflows, quick=args.quick,
                          output_dir=CACHE / "properties_cu_emt" / f"validation_{variant.replace(':', '_')}{'_quick' if args.quick else ''}")
        t2 = time.perf_counter()
        out["variants"][variant] = {"train_s": t1 - t0, "validate_s": t2 - t1, "summary": report.summary(),
                                    "properties": report.to_dict()["properties"], "checks": report.to_dict()["checks"]}
        print(report.markdown())
    stem = "properties_cu_emt" + ("_quick" if args.quick else "")
    atomic_write_bytes(RESULTS / f"{stem}.json", (json.dumps(out, indent=1) + "\n").encode())
    atomic_write_bytes(RESULTS / f"{stem}.md", markdown(out).encode())


def markdown(out: dict) -> str:
    lines = ["# Cu properties: a ridgeline model trained on EMT data against EMT, through the same workflows", "",
             f"Machine: {out['machine']}; {out['minutes']:g} min of training per model; moment network, small preset, "
             "5 Å cutoff; intervals: calibrated last-layer Laplace (force variance directional or linearised), 95%. "
             "Made by `benchmarks/properties_cu_emt.py`.", ""]
    for variant, res in out["variants"].items():
        s = res["summary"]
        data, _, posterior = variant.partition(":")
        lines += [f"## Model trained on `{data}` data, {posterior or 'directional'} posterior", "",
                  f"{s['passed']} of {s['compared']} within tolerance; EMT inside the model's 95% interval for "
                  f"{s['reference_in_ci']} of {s['with_ci']} (coverage {s['reference_in_ci'] / max(s['with_ci'], 1):.0%}); "
                  f"{s['out_of_domain']} properties flagged out of domain. Training {res['train_s'] / 60:.1f} min (0: cached), "
                  f"validation {res['validate_s'] / 60:.1f} min.", "",
                  "| workflow | property | unit | model | 95% interval | EMT | tolerance | pass | EMT in interval | domain |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["properties"]:
            ci = f"[{r['model_ci'][0]:.4g}, {r['model_ci'][1]:.4g}]" if r["model_ci"] else "-"
            ref = "-" if r["reference"] is None else f"{r['reference']:.4g}"
            lines.append(f"| {r['workflow']} | {r['name']} | {r['unit']} | {r['model']:.4g} | {ci} | {ref} | {r['tolerance']} | "
                         f"{'-' if r['passed'] is None else ('pass' if r['passed'] else 'FAIL')} | "
                         f"{'-' if r['reference_in_ci'] is None else ('yes' if r['reference_in_ci'] else 'no')} | "
                         f"{'-' if r['out_of_domain'] is None else ('OUT' if r['out_of_domain'] else 'in')} |")
        failed = [c for c in res["checks"] if c["passed"] is False]
        if failed:
            lines += ["", "Checks that did not pass:", ""] + [f"- {c['name']}: {c['detail']}" for c in failed]
        warned = [c for c in res["checks"] if c["passed"] is None]
        if warned:
            lines += ["", "Warnings of the workflows:", ""] + [f"- {c['name']}: {c['detail']}" for c in warned]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

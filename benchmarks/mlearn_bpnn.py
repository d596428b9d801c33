"""Behler-Parrinello baseline on the mlearn Si and Mo benchmark (Zuo et al., J. Phys. Chem. A 124,
731 (2020)): train on the training files only (validation split taken from them), evaluate on the
fixed test split, and time the ASE calculator on 64-, 512- and 4096-atom Si cells.

    python benchmarks/mlearn_bpnn.py [--minutes 12] [--parts train,throughput] [--elements Si Mo]

Finished training runs are cached in benchmarks/cache/ (an interrupted one resumes), so parts can
be run separately. Writes benchmarks/results/mlearn_bpnn.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import resource
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mlearn"
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = ROOT / "benchmarks" / "results"


def published_errors() -> dict:
    """GAP and MTP test MAEs from the dataset's README (the one source of those figures)."""
    rows = {}
    for line in (DATA / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*(\w+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|", line)
        if m:
            el, gap_e, mtp_e, gap_f, mtp_f = m.groups()
            rows[el] = {"GAP": {"energy_mae": float(gap_e), "forces_mae": float(gap_f)},
                        "MTP": {"energy_mae": float(mtp_e), "forces_mae": float(mtp_f)}}
    return rows


def train(element: str, minutes: float, preset: str, overrides: list[str]) -> dict:
    from ridgeline.training.checkpoint import load_checkpoint
    from ridgeline.training.config import load_config
    from ridgeline.training.trainer import Trainer

    out = CACHE / f"bpnn_{element}_{preset}"
    config = load_config(base={
        "train_file": str(DATA / f"{element}_train.xyz"),
        "test_file": str(DATA / f"{element}_test.xyz"),
        "output_dir": str(out),
        "model": {"name": "bpnn", "preset": preset},
        "training": {"max_time": minutes},
    }, overrides=overrides)
    checkpoint = out / "checkpoint.pt"
    trainer = Trainer(config, progress=True)
    if checkpoint.exists() and load_checkpoint(checkpoint)["stop_reason"] and (out / "report.json").exists():
        print(f"{element}: cached run in {out}")
    else:
        trainer.run(resume=checkpoint.exists())
    state = load_checkpoint(checkpoint)
    report = json.loads((out / "report.json").read_text())
    return {"model": str(out / "model.safetensors"), "train_wall_s": state["elapsed"], "epochs": state["epoch"],
            "stop_reason": state["stop_reason"], "test": report["test"], "valid": report["valid"]}


def throughput(model_path: str, sizes=(64, 512, 4096), min_seconds: float = 5.0) -> list[dict]:
    """Atom-steps per second of energy + forces + stress through the ASE calculator."""
    from ase.build import bulk

    from ridgeline import Calculator

    calc = Calculator(model_path)
    rows = []
    for n in sizes:
        reps = round((n / 8) ** (1 / 3))
        atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((reps,) * 3)
        atoms.rattle(0.02, seed=0)
        atoms.calc = calc
        rng = np.random.default_rng(0)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        atoms.get_stress()  # warm-up
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_seconds or calls < 3:
            atoms.positions += rng.normal(scale=1e-3, size=atoms.positions.shape)  # a new structure every call
            atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
            calls += 1
        seconds = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows.append({"n_atoms": len(atoms), "calls": calls, "seconds": seconds,
                     "atom_steps_per_s": len(atoms) * calls / seconds, "ms_per_call": 1000 * seconds / calls,
                     "peak_rss_mb": rss / 1024, "rss_growth_mb": (rss - rss0) / 1024})
        print(f"  {len(atoms):5d} atoms: {rows[-1]['atom_steps_per_s']:9.0f} atom-steps/s ({rows[-1]['ms_per_call']:.1f} ms/call)")
    return rows


def markdown(results: dict) -> str:
    pub = results["published"]
    lines = ["# mlearn benchmark: Behler-Parrinello baseline (ridgeline bpnn)", "",
             f"Machine: {results['machine']}. Training budget {results['minutes']} min per element, preset `{results['preset']}`, "
             f"overrides {results.get('overrides') or 'none'}; validation split from the training file only.", "",
             "## Test errors (MAE) next to the published GAP and MTP errors", "",
             "| element | ridgeline E (meV/atom) | GAP E | MTP E | ridgeline F (eV/Å) | GAP F | MTP F | train wall (s) | epochs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for el, r in results["elements"].items():
        t, p = r["test"], pub.get(el, {})
        lines.append(f"| {el} | {t['energy_mae']:.2f} | {p.get('GAP', {}).get('energy_mae', '–')} | {p.get('MTP', {}).get('energy_mae', '–')} | "
                     f"{t['forces_mae']:.3f} | {p.get('GAP', {}).get('forces_mae', '–')} | {p.get('MTP', {}).get('forces_mae', '–')} | "
                     f"{r['train_wall_s']:.0f} | {r['epochs']} |")
    lines += ["", "## Test errors per config_type", "",
              "| element | config_type | frames | E MAE (meV/atom) | F MAE (eV/Å) | F RMSE (eV/Å) |", "|---|---|---|---|---|---|"]
    for el, r in results["elements"].items():
        for ct, m in r["test"]["per_config_type"].items():
            lines.append(f"| {el} | {ct} | {m['n_frames']} | {m['energy_mae']:.2f} | {m['forces_mae']:.3f} | {m['forces_rmse']:.3f} |")
    if results.get("throughput"):
        lines += ["", f"## Inference throughput, energy + forces + stress through the ASE calculator ({results['throughput']['model']})", "",
                  "| atoms | atom-steps/s | ms/call | peak RSS (MB) |", "|---|---|---|---|"]
        for row in results["throughput"]["rows"]:
            lines.append(f"| {row['n_atoms']} | {row['atom_steps_per_s']:.0f} | {row['ms_per_call']:.1f} | {row['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", nargs="+", default=["Si", "Mo"])
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget per element")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--parts", default="train,throughput")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value (as for ridgeline train)")
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} not found: this benchmark needs ../shared/data/mlearn beside the repository")
    RESULTS.mkdir(parents=True, exist_ok=True)
    results_path = RESULTS / "mlearn_bpnn.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"elements": {}}
    results.update(published=published_errors(), minutes=args.minutes, preset=args.preset, overrides=args.overrides,
                   machine=f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}")
    parts = args.parts.split(",")
    for element in args.elements:
        if "train" in parts:
            print(f"== {element}: training ({args.minutes} min budget)")
            results["elements"][element] = train(element, args.minutes, args.preset, args.overrides)
            t = results["elements"][element]["test"]
            print(f"   test E MAE {t['energy_mae']:.2f} meV/atom, F MAE {t['forces_mae']:.3f} eV/Å")
    if "throughput" in parts:
        model = results["elements"].get("Si", {}).get("model")
        if model is None:
            raise SystemExit("throughput needs the Si model: run the train part for Si first")
        print("== throughput (Si)")
        results["throughput"] = {"model": Path(model).name, "rows": throughput(model)}
    results_path.write_text(json.dumps(results, indent=2))
    (RESULTS / "mlearn_bpnn.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()

"""How the default model's test errors fall with the number of training frames (mlearn Si, Mo).

    python benchmarks/mlearn_learning_curve.py --elements Si --threads 1 &   # one element per core
    python benchmarks/mlearn_learning_curve.py --elements Mo --threads 1
    python benchmarks/mlearn_learning_curve.py --parts report                # table of every cached run

The validation frames are the default run's (10% of the training file, seed 0); the fractions
are nested subsets of the rest, drawn within each config_type in proportion, so a smaller set is
always part of a larger one. Each fraction trains the default recipe (preset ``medium``, 200
epochs). A power law F = a N^-b fitted to the test force MAE, over all fractions and over the
last two (the curve flattens, so its end is the better guide), says how many frames of the same
kind the default model would need for issue 3's force targets; no error floor is assumed, so the
figures are lower bounds. Frames more than 0.5 eV/atom above the lowest training energy
per atom are "hot" (liquid-like AIMD, hot vacancy runs), the rest "cool" (docs/results_log.md).
Runs are cached in benchmarks/cache/. Writes results/mlearn_learning_curve.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from common import CACHE, RESULTS, machine, mlearn_file, require_data, run_cached

FRACTIONS = (0.25, 0.5, 1.0)
# issue 3's force targets (eV/Å)
TARGETS = {"Si": 0.048, "Mo": 0.072}
HOT = 0.5  # eV/atom above the lowest training energy per atom


def split_files(element: str, fractions) -> tuple[Path, dict]:
    """The validation file (the default run's split) and one nested training subset per fraction."""
    from ridgeline.data import KeyMap, read_frames, split_frames
    from ridgeline.data.writers import write_frames
    from ridgeline.training.config import TrainingConfig

    source = mlearn_file(element, "train")
    valid_path = CACHE / "data" / f"{element}_valid_seed0.xyz"
    paths = {f: CACHE / "data" / f"{element}_train_seed0_frac{f:g}.xyz" for f in fractions}
    if valid_path.exists() and all(p.exists() for p in paths.values()):
        return valid_path, paths
    frames = read_frames(source, KeyMap())
    default = TrainingConfig()  # the default run's split: its valid_fraction and seed
    train_idx, valid_idx = split_frames(len(frames), default.valid_fraction, seed=default.seed, mode=default.valid_split)
    rng = np.random.default_rng(0)
    by_type: dict[str, list[int]] = {}
    for k in train_idx:
        by_type.setdefault(frames[k].config_type, []).append(int(k))
    order = {ct: rng.permutation(ks).tolist() for ct, ks in sorted(by_type.items())}  # prefixes: nested subsets
    write_frames(valid_path, [frames[k] for k in valid_idx])
    for f, path in paths.items():
        chosen = sorted(k for ks in order.values() for k in ks[:max(1, round(f * len(ks)))])
        write_frames(path, [frames[k] for k in chosen])
    return valid_path, paths


def train(element: str, fraction: float, train_path: Path, valid_path: Path) -> Path:
    """One cached run of the default recipe on a subset; its output directory."""
    import torch

    from ridgeline.training.config import load_config

    out = CACHE / f"moment_{element}_medium_learning_curve_frac{fraction:g}"
    config = load_config(base={"train_file": str(train_path), "valid_file": str(valid_path),
                               "test_file": str(mlearn_file(element, "test")), "output_dir": str(out),
                               "model": {"name": "moment", "preset": "medium"}})
    print(f"== {element}, {fraction:g} of the training frames ({torch.get_num_threads()} torch threads)", flush=True)
    return run_cached(config, f"{element} {fraction:g}", progress=False)


def hot_cool(run: Path, element: str, train_frames) -> dict:
    """Test force MAE of the hot and the cool frames (threshold from the run's training frames)."""
    from ridgeline.data import KeyMap, read_frames
    from ridgeline.models.io import load_model
    from ridgeline.names import MODEL_FILE
    from ridgeline.training.metrics import predict

    lowest = min(f.energy / len(f) for f in train_frames)
    test = read_frames(mlearn_file(element, "test"), KeyMap())
    p = predict(load_model(run / MODEL_FILE)[0], test)
    err = np.abs(p.forces_pred - p.forces_ref)
    hot = [f.energy / len(f) - lowest > HOT for f in test]
    hot_atoms = np.concatenate([np.full(len(f), h) for f, h in zip(test, hot)])
    return {"hot": float(err[hot_atoms].mean()), "cool": float(err[~hot_atoms].mean()), "hot_frames": int(sum(hot))}


def power_law(n_frames, forces_mae) -> tuple[float, float]:
    """(a, b) of F = a N^-b, least squares in log-log."""
    slope, intercept = np.polyfit(np.log(n_frames), np.log(forces_mae), 1)
    return float(math.exp(intercept)), float(-slope)


def collect(element: str, fractions) -> dict | None:
    from ridgeline.data import KeyMap, read_frames
    from ridgeline.names import CHECKPOINT_FILE
    from ridgeline.training.checkpoint import load_checkpoint

    valid_path, paths = split_files(element, fractions)
    rows = []
    for f in fractions:
        run = CACHE / f"moment_{element}_medium_learning_curve_frac{f:g}"
        if not (run / "report.json").exists():
            continue
        report = json.loads((run / "report.json").read_text())
        state = load_checkpoint(run / CHECKPOINT_FILE)
        train_frames = read_frames(paths[f], KeyMap())
        rows.append({"fraction": f, "n_frames": len(train_frames), "epochs": state["epoch"], "train_wall_s": state["elapsed"],
                     "valid": {k: report["valid"][k] for k in ("energy_mae", "forces_mae")},
                     "test": {k: report["test"][k] for k in ("energy_mae", "forces_mae")},
                     "test_forces_mae_by_temperature": hot_cool(run, element, train_frames)})
    if not rows:
        return None
    out = {"rows": rows}
    if len(rows) >= 2:
        n, forces = [r["n_frames"] for r in rows], [r["test"]["forces_mae"] for r in rows]
        fits = {"all": power_law(n, forces), "last two": power_law(n[-2:], forces[-2:])}  # the curve's slope at its end
        target = TARGETS.get(element)
        out["power_law"] = {}
        for name, (a, b) in fits.items():
            fit = {"a": a, "b": b}
            if target and b > 0:  # frames of the same kind the fitted law needs to reach the target
                fit["frames_for_target"] = n[-1] * (forces[-1] / target) ** (1 / b)
            out["power_law"][name] = fit
        out["target"] = target
    return out


def markdown(results: dict) -> str:
    lines = ["# mlearn: test errors of the default model against the number of training frames", "",
             f"Machine: {results['machine']}. Preset `medium`, the default recipe (200 epochs); the same validation frames "
             "for every fraction (the default run's split); nested subsets of the other training frames, drawn per config_type. "
             f"Hot: test frames more than {HOT} eV/atom above the lowest training energy per atom.", "",
             "| element | fraction | training frames | epochs | train wall (s) | valid E / F | test E MAE (meV/atom) | test F MAE (eV/Å) "
             "| test F, hot / cool frames |", "|---|---|---|---|---|---|---|---|---|"]
    for element, r in results["elements"].items():
        for row in r["rows"]:
            t, v, hc = row["test"], row["valid"], row["test_forces_mae_by_temperature"]
            lines.append(f"| {element} | {row['fraction']:g} | {row['n_frames']} | {row['epochs']} | {row['train_wall_s']:.0f} | "
                         f"{v['energy_mae']:.2f} / {v['forces_mae']:.4f} | {t['energy_mae']:.2f} | {t['forces_mae']:.4f} | "
                         f"{hc['hot']:.4f} / {hc['cool']:.4f} |")
    lines += ["", "Power law F = a N^-b fitted to the test force MAE, over all fractions and over the last two (the slope at the "
              "curve's end); no floor is assumed, so the frames needed are a lower bound:", "",
              "| element | fit | b | force target (eV/Å) | frames of the same kind needed | training frames now |", "|---|---|---|---|---|---|"]
    for element, r in results["elements"].items():
        for name, fit in r.get("power_law", {}).items():
            need = fit.get("frames_for_target")
            lines.append(f"| {element} | {name} | {fit['b']:.3f} | {r.get('target') or '–'} | "
                         f"{'–' if need is None else f'{need:.0f}'} | {r['rows'][-1]['n_frames']} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", nargs="+", default=["Si", "Mo"])
    parser.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    parser.add_argument("--parts", default="train,report", help="train, report (the table of all cached runs)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1: run one element per core)")
    args = parser.parse_args()
    require_data()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    fractions = sorted(args.fractions)
    if "train" in args.parts:
        for element in args.elements:
            valid_path, paths = split_files(element, fractions)
            for f in fractions:
                train(element, f, paths[f], valid_path)
    if "report" in args.parts:
        elements = {el: r for el in ("Si", "Mo") if (r := collect(el, fractions))}
        results = {"machine": machine(), "fractions": fractions, "elements": elements}
        RESULTS.mkdir(parents=True, exist_ok=True)
        from ridgeline.files import atomic_write_bytes

        atomic_write_bytes(RESULTS / "mlearn_learning_curve.json", json.dumps(results, indent=2).encode())
        atomic_write_bytes(RESULTS / "mlearn_learning_curve.md", markdown(results).encode())
        print(markdown(results))


if __name__ == "__main__":
    main()

"""What the mlearn benchmarks share: paths, the published errors, cached ridgeline training runs
and throughput measured in fresh processes (so that peak memory belongs to one system size)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mlearn"
CACHE = ROOT / "benchmarks" / "cache"
RESULTS = ROOT / "benchmarks" / "results"
WORKER = ROOT / "benchmarks" / "throughput_worker.py"
RUN_INFO = "run_info.json"  # beside a cached training run: its torch threads (the wall time depends on them)


def machine() -> str:
    import platform

    import torch

    return f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def mlearn_arguments(parser, minutes: float, parts: str) -> None:
    """The options the mlearn training benchmarks share."""
    parser.add_argument("--elements", nargs="+", default=["Si", "Mo"])
    parser.add_argument("--minutes", type=float, default=minutes, help="training budget per element")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--parts", default=parts)
    parser.add_argument("overrides", nargs="*", help="ridgeline config overrides key=value (as for ridgeline train)")


def require_data() -> None:
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} not found: this benchmark needs ../shared/data/mlearn beside the repository")


# The shared mlearn files' shear stresses have yz and xz swapped against ASE's Voigt order in every
# config_type but Si's Elastic one, as `ridgeline eval MODEL FILE --check-stress` finds with the
# models trained without stress (results/mlearn_stress_labels.md, docs/moment_network.md, session
# 15). Fitting the swapped labels made the energies worse; ridgeline trains and tests on copies in
# the cache with the order corrected. Energies, forces and the normal stresses are untouched.
SHEAR_SWAPPED = {"Si": lambda config_type: config_type != "Elastic", "Mo": lambda config_type: True}


def mlearn_file(element: str, part: str) -> Path:
    """``{element}_{part}.xyz`` with its shear stress order corrected (written once, atomically)."""
    out = CACHE / "data" / f"{element}_{part}.xyz"
    if not out.exists():
        import io

        from ase.io import read, write

        from ridgeline.files import atomic_write_bytes

        frames = read(DATA / f"{element}_{part}.xyz", ":")
        for atoms in frames:
            if "REF_stress" in atoms.info and SHEAR_SWAPPED[element](atoms.info.get("config_type")):
                atoms.info["REF_stress"] = atoms.info["REF_stress"][[0, 1, 2, 4, 3, 5]]
        text = io.StringIO()
        write(text, frames, format="extxyz")
        atomic_write_bytes(out, text.getvalue().encode())
    return out


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


def ridgeline_config(element: str, architecture: str, preset: str, minutes: float, overrides: list[str], epochs: int | None = None,
                     suffix: str = ""):
    """The training config of a cached benchmark run: output in benchmarks/cache/, named by the
    element, preset, budget and overrides (+ ``suffix``)."""
    from ridgeline.training.config import load_config

    tag = "".join("_" + re.sub(r"[^\w.=-]", "", o).replace("training.", "").replace("=", "") for o in overrides)
    return load_config(base={
        "train_file": str(mlearn_file(element, "train")),
        "test_file": str(mlearn_file(element, "test")),
        "output_dir": str(CACHE / f"{architecture}_{element}_{preset}_{minutes:g}min{tag}{suffix}"),
        "model": {"name": architecture, "preset": preset},
        "training": {"max_time": minutes, **({} if epochs is None else {"epochs": epochs})},
    }, overrides=overrides)


def run_cached(config, label: str, progress: bool = True) -> Path:
    """Train ``config`` unless its output directory holds a finished run (an interrupted one
    resumes); records the torch threads beside it (``RUN_INFO``).
    Returns the output directory."""
    import torch

    from ridgeline.files import atomic_write_bytes
    from ridgeline.training.checkpoint import load_checkpoint
    from ridgeline.names import CHECKPOINT_FILE
    from ridgeline.training.trainer import Trainer

    out = Path(config.output_dir)
    checkpoint = out / CHECKPOINT_FILE
    if checkpoint.exists() and load_checkpoint(checkpoint)["stop_reason"] and (out / "report.json").exists():
        print(f"{label}: cached run in {out}")
        return out
    Trainer(config, progress=progress).run(resume=checkpoint.exists())
    atomic_write_bytes(out / RUN_INFO, json.dumps({"torch_threads": torch.get_num_threads(), "machine": machine()}).encode())
    return out


def train_ridgeline(element: str, architecture: str, preset: str, minutes: float, overrides: list[str], epochs: int | None = None) -> dict:
    """Train on {element}_train.xyz (validation split from it), test on {element}_test.xyz; cached.
    ``epochs``: None = the default number, within the time budget."""
    from ridgeline.names import CHECKPOINT_FILE, MODEL_FILE
    from ridgeline.training.checkpoint import load_checkpoint

    config = ridgeline_config(element, architecture, preset, minutes, overrides, epochs)
    out = run_cached(config, element)
    checkpoint, info = out / CHECKPOINT_FILE, out / RUN_INFO
    state = load_checkpoint(checkpoint)
    report = json.loads((out / "report.json").read_text())
    return {"model": str(out / MODEL_FILE), "train_wall_s": state["elapsed"], "epochs": state["epoch"],
            "train_threads": json.loads(info.read_text())["torch_threads"] if info.exists() else None,
            "stop_reason": state["stop_reason"], "test": report["test"], "valid": report.get("valid"),
            "history": json.loads(state["history"])}


def throughput(python: str, calculator: str, model: str, sizes=(512, 4096), seconds: float = 8.0) -> list[dict]:
    """Energy + forces + stress through an ASE calculator, each size in a fresh process."""
    rows = []
    for n in sizes:
        out = subprocess.run([python, str(WORKER), calculator, model, str(n), str(seconds)], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"throughput worker failed ({calculator}, {n} atoms):\n{out.stderr[-3000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"  {calculator:9s} {r['n_atoms']:5d} atoms: {r['atom_steps_per_s']:9.0f} atom-steps/s, {r['memory_per_atom_kb']:.1f} kB/atom")
    return rows


def write_results(stem: str, data: dict, markdown: str) -> None:
    """results/STEM.json and results/STEM.md, each written atomically; the markdown printed."""
    from ridgeline.files import atomic_write_bytes

    atomic_write_bytes(RESULTS / f"{stem}.json", (json.dumps(data, indent=1, default=str) + "\n").encode())
    atomic_write_bytes(RESULTS / f"{stem}.md", markdown.encode())
    print(markdown)


def ridgeline_python() -> str:
    return sys.executable

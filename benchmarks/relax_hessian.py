"""Relaxation with the exact Hessian against ASE's optimizers, and the Hessian's own cost.

1. The Hessian of a small moment model on rattled fcc Cu (32, 108, 256 atoms): the vectorised
   ``models.hessian`` (batched vector-Jacobian products in chunks) against one backward pass per
   row. At 256 atoms the row-by-row time is measured on the first ``--rows`` rows and scaled to 3N
   (every row costs the same backward pass).
2. Two small moment models trained here in about a minute each: on EMT Cu
   (``reference.emt_dataset``; relaxed: a 31-atom cell with a vacancy, the larger cells' cost
   being the Hessian's, part 1) and on EMT-labelled rattled C/H/O molecules
   (ethanol, malonaldehyde, a water trimer). EMT's molecules are not chemistry; what matters here
   is a smooth PES with minima, which the models learn.
3. Each structure relaxed from a rattled start with the model (float64) by newton, bfgs, lbfgs and
   fire to fmax = 0.01 eV/Å: steps, wall time, final energy.

``python benchmarks/relax_hessian.py`` writes results/relax_hessian.{json,md} (about 5 minutes on
2 idle cores; ``--quick``: relax_hessian_quick.{json,md}, one size and 6 s of training).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine  # noqa: E402

from ridgeline import keys  # noqa: E402
from ridgeline.data.graph import atoms_to_batch  # noqa: E402
from ridgeline.files import atomic_write_bytes  # noqa: E402
from ridgeline.models import build_model, hessian  # noqa: E402
from ridgeline.names import ENERGY_KEY, FORCES_KEY  # noqa: E402
from ridgeline.reference.emt_dataset import emt_dataset  # noqa: E402
from ridgeline.simulate.calculator import Calculator  # noqa: E402
from ridgeline.simulate.relax import relax  # noqa: E402

OPTIMIZERS = ("newton", "bfgs", "lbfgs", "fire")
FMAX = 0.01


# ------------------------------------------------------------------------------- 1. Hessian cost
def row_by_row(model, batch, rows: int | None = None) -> float:
    """Seconds for ``rows`` rows (all by default) of the Hessian, one backward pass per row."""
    batch = dict(batch)
    pos = batch[keys.POSITIONS].detach().requires_grad_(True)
    batch[keys.POSITIONS] = pos
    start = time.perf_counter()
    (grad,) = torch.autograd.grad(model(batch)[keys.ENERGY].sum(), pos, create_graph=True)
    grad = grad.reshape(-1)
    for g in grad[:rows]:
        torch.autograd.grad(g, pos, retain_graph=True)
    return time.perf_counter() - start


def hessian_timings(sizes, sample_rows: int) -> list[dict]:
    torch.manual_seed(0)
    model = build_model("moment", [29], preset="small", cutoff=4.5).double().eval()
    rows = []
    for repeat in sizes:
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(repeat)
        atoms.rattle(0.05, seed=1)
        batch = atoms_to_batch(atoms, model.cutoff, dtype=torch.float64)
        n3 = 3 * len(atoms)
        start = time.perf_counter()
        hessian(model, batch)
        vectorised = time.perf_counter() - start
        sampled = n3 > 500
        loop = row_by_row(model, batch, sample_rows if sampled else None) * (n3 / sample_rows if sampled else 1)
        rows.append({"n_atoms": len(atoms), "row_by_row_s": loop, "vectorised_s": vectorised,
                     "speedup": loop / vectorised, "row_by_row_estimated": sampled})
        print(f"hessian {len(atoms)} atoms: row by row {loop:.2f} s, vectorised {vectorised:.2f} s", flush=True)
    return rows


# --------------------------------------------------------------------------------- 2. models
def water_trimer() -> Atoms:
    trimer = Atoms()
    for k in range(3):
        water = molecule("H2O")
        angle = 2 * np.pi * k / 3
        water.rotate(np.degrees(angle), "z")
        water.translate([2.8 * np.cos(angle), 2.8 * np.sin(angle), 0.0])
        trimer += water
    return trimer


def malonaldehyde() -> Atoms:
    # planar enol form, from standard bond lengths (Å)
    return Atoms("C3O2H4", positions=[
        [0.000, 1.200, 0.0], [1.230, 0.540, 0.0], [-1.230, 0.540, 0.0], [1.300, -0.790, 0.0], [-1.220, -0.690, 0.0],
        [0.000, 2.280, 0.0], [2.150, 1.120, 0.0], [-2.180, 1.090, 0.0], [0.250, -1.200, 0.0]])


def molecules() -> dict:
    return {"ethanol": molecule("CH3CH2OH"), "malonaldehyde": malonaldehyde(), "water_trimer": water_trimer()}


def label(atoms) -> Atoms:
    atoms = atoms.copy()
    atoms.calc = EMT()
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = None
    atoms.info[ENERGY_KEY] = energy
    atoms.arrays[FORCES_KEY] = forces
    return atoms


def molecule_frames(seed: int = 0) -> list:
    """EMT-labelled rattled copies of the molecules, near and around their EMT minima."""
    rng = np.random.default_rng(seed)
    frames = []
    for atoms in molecules().values():
        relaxed = relax(atoms, EMT(), optimizer="bfgs", fmax=0.01, max_steps=500).atoms
        relaxed.calc = None
        for k in range(60):
            frame = relaxed.copy()
            frame.rattle(float(rng.choice([0.02, 0.05, 0.1])), seed=int(rng.integers(1 << 31)))
            frames.append(label(frame))
    return frames


def train(frames, folder: Path, cutoff: float, minutes: float) -> Path:
    from ase.io import write

    from ridgeline.training.config import load_config
    from ridgeline.training.trainer import Trainer

    data = folder / "train.xyz"
    write(data, frames, format="extxyz")
    config = load_config(base={
        "train_file": str(data), "output_dir": str(folder / "run"),
        "model": {"name": "moment", "preset": "small", "cutoff": cutoff},
        "training": {"epochs": 200, "batch_size": 8, "lr": 5e-3, "max_time": minutes}})
    start = time.perf_counter()
    path = Trainer(config, progress=False).run()
    print(f"trained {path} in {time.perf_counter() - start:.0f} s", flush=True)
    return path


# ------------------------------------------------------------------------------- 3. relaxation
def relax_all(structures: dict, model_path: Path, max_steps: dict) -> list[dict]:
    rows = []
    for name, atoms in structures.items():
        for optimizer in OPTIMIZERS:
            calc = Calculator(model_path, dtype="float64", uncertainty=False)
            result = relax(atoms, calc, optimizer=optimizer, fmax=FMAX, max_steps=max_steps.get(optimizer, 1000))
            rows.append({"structure": name, "n_atoms": len(atoms), "periodic": bool(atoms.pbc.any()), **{
                k: v for k, v in result.to_dict().items() if k in ("optimizer", "converged", "steps", "energy", "fmax",
                                                                   "wall_time", "hessian_calls")}})
            r = rows[-1]
            print(f"{name:14s} {optimizer:7s} converged={r['converged']} steps={r['steps']:4d} "
                  f"{r['wall_time']:7.2f} s E={r['energy']:.5f}", flush=True)
    return rows


def markdown(report: dict) -> str:
    lines = ["# Relaxation with the exact Hessian", "", f"Machine: {report['machine']}.", "",
             "## Hessian: vectorised against row by row (moment small, float64, rattled fcc Cu)", "",
             "| atoms | row by row (s) | vectorised (s) | speed-up |", "|---:|---:|---:|---:|"]
    for r in report["hessian"]:
        mark = " (est.)" if r["row_by_row_estimated"] else ""
        lines.append(f"| {r['n_atoms']} | {r['row_by_row_s']:.2f}{mark} | {r['vectorised_s']:.2f} | {r['speedup']:.1f} |")
    lines += ["", f"## Relaxation to fmax = {FMAX} eV/Å from a rattled start (model, float64)", "",
              "| structure | atoms | optimizer | converged | steps | Hessians | wall time (s) | energy (eV) |",
              "|---|---:|---|---|---:|---:|---:|---:|"]
    for r in report["relax"]:
        lines.append(f"| {r['structure']} | {r['n_atoms']} | {r['optimizer']} | {'yes' if r['converged'] else 'no'} | "
                     f"{r['steps']} | {r['hessian_calls']} | {r['wall_time']:.2f} | {r['energy']:.5f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[2, 3, 4], help="fcc cubic cell repeats (32, 108, 256 atoms)")
    parser.add_argument("--rows", type=int, default=96, help="rows timed row by row above 500 rows")
    parser.add_argument("--minutes", type=float, default=0.5, help="training minutes per model")
    parser.add_argument("--quick", action="store_true", help="fewer sizes and shorter training (a smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.minutes = [2], 0.1
    report = {"machine": machine(), "fmax": FMAX, "hessian": hessian_timings([(s, s, s) for s in args.sizes], args.rows)}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "mol").mkdir()
        (folder / "cu").mkdir()
        mol_model = train(molecule_frames(), folder / "mol", cutoff=4.0, minutes=args.minutes)
        cu_model = train(emt_dataset("Cu", n_md=8, seed=1), folder / "cu", cutoff=4.5, minutes=args.minutes)
        starts = {}
        for name, atoms in molecules().items():
            start = relax(atoms, EMT(), optimizer="bfgs", fmax=0.01, max_steps=500).atoms
            start.calc = None
            start.rattle(0.1, seed=int(rng.integers(1 << 31)))
            starts[name] = start
        rows = relax_all(starts, mol_model, {})
        crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
        del crystal[0]
        crystal.rattle(0.05, seed=int(rng.integers(1 << 31)))
        rows += relax_all({f"Cu vacancy {len(crystal)}": crystal}, cu_model, {"newton": 60})
    report["relax"] = rows
    name = "relax_hessian_quick" if args.quick else "relax_hessian"
    atomic_write_bytes(RESULTS / f"{name}.json", json.dumps(report, indent=2).encode())
    atomic_write_bytes(RESULTS / f"{name}.md", markdown(report).encode())
    print(markdown(report))


if __name__ == "__main__":
    main()

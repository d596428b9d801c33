"""MD throughput through ASE (NVT Langevin, ``simulate.md``) and its overhead over the bare
calculator call, from 512 to 32768 atoms.

For fcc Cu cells of N atoms and a moment network (small preset, 5 Å cutoff, float32 and float64;
the weights do not change the cost, so the model is untrained and the run cold, 10 K), the time of

- a bare force call: ``Calculator.calculate`` on a displaced structure (neighbour list, model,
  forces, stress), the floor any driver pays;
- an MD step: ``simulate.md.MD`` with ASE's Langevin integrator, the explosion check and the
  records (what ``ridgeline md`` runs);

throughput in atom-steps per second, and the overhead of the MD step over the bare call. Writes
results/md_throughput.{json,md}. ``python benchmarks/md_throughput.py [--sizes 512 4096 32768]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase.build import bulk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine  # noqa: E402

from ridgeline.files import atomic_write_bytes  # noqa: E402
from ridgeline.models import build_model  # noqa: E402
from ridgeline.simulate.calculator import Calculator  # noqa: E402
from ridgeline.simulate.md import MD  # noqa: E402


def cell_of(n: int):
    """A rattled fcc Cu cell of ``n`` atoms: the conventional cell repeated k1 x k2 x k3 times,
    the most nearly cubic factorisation of n / 4."""
    if n % 4:
        raise SystemExit(f"{n} atoms: fcc cells hold a multiple of 4")
    m = n // 4
    best = min(((a, b, m // (a * b)) for a in range(1, m + 1) if m % a == 0 for b in range(a, m + 1)
                if (m // a) % b == 0 and m // (a * b) >= b), key=lambda r: r[2] / r[0])
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(best)
    atoms.rattle(0.01, seed=0)
    return atoms


def measure(calc, n: int, steps: int) -> dict:
    atoms = cell_of(n)
    atoms.calc = calc
    atoms.get_forces()  # warm-up
    times = []
    for k in range(max(2, steps // 2)):
        atoms.positions[0, 0] += 1e-4 * (-1) ** k
        t0 = time.perf_counter()
        atoms.get_forces()
        atoms.get_stress()
        times.append(time.perf_counter() - t0)
    bare = float(np.median(times))
    md = MD(cell_of(n), calc, "langevin", timestep=1.0, temperature=10.0, friction=0.01, interval=1)
    md.run(1)  # warm-up
    t0 = time.perf_counter()
    run = md.run(steps)
    step = (time.perf_counter() - t0) / steps
    return {"atoms": n, "bare_call_s": bare, "md_step_s": step, "bare_atom_steps_per_s": n / bare,
            "md_atom_steps_per_s": n / step, "overhead": step / bare - 1, "md_status": run.status}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[512, 2048, 8192, 32768])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for dtype in args.dtypes:
        model = build_model("moment", [29], preset="small", cutoff=5.0).to(getattr(torch, dtype)).eval()
        from ridgeline.models.io import save_model

        path = RESULTS.parent / "cache" / f"md_throughput_{dtype}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(model, path)
        calc = Calculator(path)
        for n in args.sizes:
            steps = max(3, min(20, 40000 // n))
            row = {"dtype": dtype, **measure(calc, n, steps), "steps": steps}
            rows.append(row)
            print(json.dumps(row))
    out = {"machine": machine(), "rows": rows}
    atomic_write_bytes(RESULTS / "md_throughput.json", (json.dumps(out, indent=1) + "\n").encode())
    lines = ["# MD throughput through ASE (NVT Langevin) and its overhead over the bare calculator call", "",
             f"Machine: {out['machine']}. Moment network, small preset, 5 Å cutoff, fcc Cu. Bare call: energy, forces and "
             "stress of a displaced structure (neighbour list included); MD step: `simulate.md.MD` (ASE Langevin, explosion "
             "check, records). Made by `benchmarks/md_throughput.py`.", "",
             "| dtype | atoms | bare call (s) | MD step (s) | bare (atom-steps/s) | MD (atom-steps/s) | overhead |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dtype']} | {r['atoms']} | {r['bare_call_s']:.4f} | {r['md_step_s']:.4f} | "
                     f"{r['bare_atom_steps_per_s']:.0f} | {r['md_atom_steps_per_s']:.0f} | {100 * r['overhead']:+.1f}% |")
    atomic_write_bytes(RESULTS / "md_throughput.md", ("\n".join(lines) + "\n").encode())


if __name__ == "__main__":
    main()

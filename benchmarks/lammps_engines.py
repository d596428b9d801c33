"""Issue 28's second benchmark: the ways LAMMPS gets ridgeline's forces, beside each other in one run.

- **fix external** (``ridgeline lammps md --engine external``: no build, the ASE calculator called
  from LAMMPS through its Python module) against the bare calculator call and ridgeline's own ASE
  MD on the same model, cells and threads: seconds per MD step. The calculator is asked for
  energy, forces and stress in one call (LAMMPS wants the virial each step); the bare call is
  timed both with and without the stress.
- **Threads inside a rank**: the plugin (float32) with OMP_NUM_THREADS 1 and 2 on one rank against
  two ranks of one thread (torch's intra-op threads are OpenMP's).
- **The committee's cost**: an exported ensemble of three copies of the model (weights perturbed;
  a cost measurement, the spread means nothing) with the per-atom force sigma each step (``fix
  pair``), against the single model, in the plugin.

The model is lammps_md.py's (the mlearn Si moment model, preset medium, its cached run).
``python benchmarks/lammps_engines.py [--sizes 512 4096]`` writes results/lammps_engines.{json,md}.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, require_data, train_ridgeline, write_results  # noqa: E402
from lammps_md import OUT, cell, loop_time, potentials, throughput  # noqa: E402

TEMPERATURE = 600.0
DTYPE = "float32"


def bare_calls(model: Path, n_atoms: int, stress: bool, calls: int) -> float:
    """Seconds per calculator call (energy, forces and with ``stress`` the stress) on moved positions."""
    from ase.calculators.calculator import all_changes

    from ridgeline.simulate.calculator import Calculator

    atoms = cell("Si", "diamond", 5.469, n_atoms)
    calc = Calculator(model, dtype=DTYPE, uncertainty=False)
    properties = ["energy", "forces", "stress"] if stress else ["energy", "forces"]
    rng = np.random.default_rng(0)
    calc.calculate(atoms, properties, all_changes)
    start = time.perf_counter()
    for _ in range(calls):
        atoms.positions += rng.normal(0.0, 1e-3, atoms.positions.shape)
        calc.calculate(atoms, properties, all_changes)
    return (time.perf_counter() - start) / calls


def ase_md(model: Path, n_atoms: int, steps: int) -> float:
    """Seconds per step of ridgeline's ASE MD (Langevin)."""
    from ridgeline.simulate.calculator import Calculator
    from ridgeline.simulate.md import MD

    atoms = cell("Si", "diamond", 5.469, n_atoms)
    md = MD(atoms, Calculator(model, dtype=DTYPE, uncertainty=False), "langevin", timestep=1.0, temperature=TEMPERATURE,
            seed=0, interval=steps)
    md.run(2)
    start = time.perf_counter()
    md.run(steps)
    return (time.perf_counter() - start) / steps


def external_md(model: Path, n_atoms: int, steps: int) -> dict:
    """``ridgeline lammps md --engine external`` (Langevin): LAMMPS' loop time per step, and the
    calculator's own time per step inside the callback."""
    import shutil

    from ase.io import write

    from ridgeline.integrations.lammps.md import run_lammps_md
    from ridgeline.simulate.calculator import Calculator
    from ridgeline.simulate.md_config import MDConfig

    class Timed(Calculator):
        seconds, calls = 0.0, 0

        def calculate(self, *args, **kwargs):
            start = time.perf_counter()
            super().calculate(*args, **kwargs)
            Timed.seconds += time.perf_counter() - start
            Timed.calls += 1

    folder = OUT / "engines" / f"external_{n_atoms}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    write(folder / "start.extxyz", cell("Si", "diamond", 5.469, n_atoms))
    config = MDConfig(structure=str(folder / "start.extxyz"), model=str(model), dtype=DTYPE, ensemble="langevin",
                      steps=steps, interval=steps, temperature=TEMPERATURE, output_dir=str(folder / "run"))
    # the calculator without uncertainty, as on the other paths (the model file may be calibrated)
    run_lammps_md(config, engine="external", calculator=Timed(model, dtype=DTYPE, uncertainty=False))
    seconds, done = loop_time((folder / "run" / "log.lammps").read_text())
    return {"loop_s_per_step": seconds / done, "callback_s_per_step": Timed.seconds / Timed.calls}


def committee_program(model: Path) -> Path:
    """Three copies of the model with perturbed weights, as one ensemble file, exported (cached)."""
    import torch

    from ridgeline.integrations.lammps.export import export_model
    from ridgeline.models.ensemble import Ensemble
    from ridgeline.models.io import load_model, save_model

    target = OUT / f"committee3-{DTYPE}.pt2"
    if target.exists() and target.stat().st_mtime >= model.stat().st_mtime:
        return target
    members = []
    for seed in range(3):
        member, _ = load_model(model, dtype="float64")
        torch.manual_seed(seed)
        with torch.no_grad():
            for p in member.parameters():
                p.mul_(1.0 + 0.01 * torch.randn_like(p))
        members.append(member)
    path = save_model(Ensemble(members), OUT / "committee3.safetensors")
    return export_model(path, target, dtype=DTYPE)[0]


def markdown(out: dict) -> str:
    lines = ["# LAMMPS engines: fix external, threads inside a rank, the committee's cost", "",
             f"Machine: {out['machine']}. Model: the mlearn Si moment model (medium), {DTYPE}. Langevin at 600 K, 1 fs.", "",
             "## fix external (no build) against the bare calculator and ridgeline's ASE MD (ms per step, 2 torch threads)", "",
             "| atoms | bare call E+F | bare call E+F+stress | ridgeline ASE MD | LAMMPS fix external (loop) | its callback | "
             "external / bare E+F+stress |", "|---|---|---|---|---|---|---|"]
    for r in out["external"]:
        lines.append(f"| {r['atoms']} | {1e3 * r['bare_s']:.1f} | {1e3 * r['bare_stress_s']:.1f} | {1e3 * r['ase_md_s']:.1f} | "
                     f"{1e3 * r['loop_s_per_step']:.1f} | {1e3 * r['callback_s_per_step']:.1f} | "
                     f"{r['loop_s_per_step'] / r['bare_stress_s']:.2f}x |")
    lines += ["", "## Threads inside a rank (plugin, atom-steps/s)", "", "| atoms | 1 rank x 1 thread | 1 rank x 2 threads | "
              "2 ranks x 1 thread |", "|---|---|---|---|"]
    for n, rows in out["threads"].items():
        one = rows["1x1"]
        lines.append(f"| {n} | {one:.0f} | {rows['1x2']:.0f} ({rows['1x2'] / one:.2f}x) | {rows['2x1']:.0f} ({rows['2x1'] / one:.2f}x) |")
    lines += ["", "## The committee's cost (plugin, 1 rank, atom-steps/s)", "",
              "| atoms | single model | committee of 3 with per-atom sigma | ratio |", "|---|---|---|---|"]
    for r in out["committee"]:
        lines.append(f"| {r['atoms']} | {r['single']:.0f} | {r['committee']:.0f} | {r['committee'] / r['single']:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--minutes", type=float, default=30.0, help="the Si model's training budget (lammps_md.py's)")
    args = parser.parse_args()
    require_data()

    from ridgeline.integrations.lammps.build import build_plugin
    from ridgeline.integrations.lammps.export import export_model, output_path

    start = time.perf_counter()
    model = Path(train_ridgeline("Si", "moment", "medium", args.minutes, [])["model"])
    OUT.mkdir(parents=True, exist_ok=True)
    program = OUT / output_path(model, DTYPE).name
    if not program.exists() or program.stat().st_mtime < model.stat().st_mtime:
        export_model(model, program, dtype=DTYPE)
    programs = {"plugin": build_plugin(OUT / "plugin"), "models": {DTYPE: program}}
    spec = potentials(programs)[f"ridgeline {DTYPE}"]
    out = {"machine": machine(), "external": [], "threads": {}, "committee": []}
    for n in args.sizes:
        atoms = len(cell("Si", "diamond", 5.469, n))
        steps = max(5, int(20 * 512 / atoms))
        row = {"atoms": atoms, "steps": steps, "bare_s": bare_calls(model, n, False, steps),
               "bare_stress_s": bare_calls(model, n, True, steps), "ase_md_s": ase_md(model, n, steps),
               **external_md(model, n, steps)}
        out["external"].append(row)
        print(f"  {atoms} atoms: {row}", flush=True)
        out["threads"][atoms] = {f"{r}x{t}": throughput(f"ridgeline {DTYPE}", spec, n, r, t)["atom_steps_per_s"]
                                 for r, t in ((1, 1), (1, 2), (2, 1))}
        print(f"  threads: {out['threads'][atoms]}", flush=True)
    committee = committee_program(model)
    element, lattice, a, pair = spec
    committee_pair = re.sub(r"pair_coeff \* \* \S+", f"pair_coeff * * {committee}", pair) + \
        "fix committee all pair 1 ridgeline forces_sigma 0\ncompute smax all reduce max f_committee\n"
    for n in args.sizes:
        single = throughput(f"ridgeline {DTYPE}", spec, n, 1)["atom_steps_per_s"]
        three = throughput("committee3", (element, lattice, a, committee_pair), n, 1)["atom_steps_per_s"]
        out["committee"].append({"atoms": len(cell("Si", "diamond", 5.469, n)), "single": single, "committee": three})
    out["total_s"] = time.perf_counter() - start
    write_results("lammps_engines", out, markdown(out))


if __name__ == "__main__":
    main()

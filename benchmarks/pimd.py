"""Issue 31 item 3's benchmark: path-integral MD through i-PI with an ASE calculator as its socket
client (``ridgeline.integrations.ipi``).

- **Harmonic wells** (32 H atoms, each in its own 3-D well of hbar omega = 0.2 eV, 300 K, PILE-L):
  the centroid-virial quantum kinetic energy per degree of freedom for P = 1 ... 32 beads against
  the exact P-bead value and (hbar omega / 4) coth(hbar omega / 2kT); the plot
  results/pimd_convergence.png.
- **Isotope substitution H -> D** in the same wells at 16 beads: the free energy from i-PI's
  scaled-mass estimators (thermodynamic, ``tdfep``; scaled coordinates, ``scfep``) integrated over
  the mass, against the exact 16-bead and continuum values.
- **H in a water molecule** with GFN2-xTB (tblite, if installed), 16 beads: the kinetic energy of H
  and O against the harmonic normal-mode estimate (each mode's (hbar w / 4) coth(hbar w / 2kT)
  shared among the atoms by its mass-weighted eigenvector, the rigid motions classical).
- **Cost per step** against classical MD with the same calculator (``simulate.md.run_md``,
  Langevin): the bare calculator call, ridgeline's ASE MD, i-PI with 1 bead and with P beads; for
  the harmonic wells, xTB water and, if its cached training run exists, the mlearn Si moment model
  (64 atoms; lammps_md.py's model).

``python benchmarks/pimd.py [--parts convergence isotope water cost]`` writes results/pimd.{json,md}
and results/pimd_convergence.png (a subset of parts keeps the others from results/pimd.json); the
runs' folders go to benchmarks/cache/pimd.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, RESULTS, machine, write_results  # noqa: E402

from ridgeline.integrations.ipi import (HarmonicWell, IsotopeConfig, PIMDConfig, beads_convergence,  # noqa: E402
                                        harmonic_free_energy, harmonic_kinetic_energy, run_pimd, spring_constant)
from ridgeline.integrations.ipi.config import DEUTERIUM_MASS  # noqa: E402
from ridgeline.integrations.ipi.plots import plot_convergence  # noqa: E402

OUT = CACHE / "pimd"
TEMPERATURE = 300.0
HBAR_OMEGA = 0.2  # eV
BEADS = (1, 2, 4, 8, 16, 32)
SI_MODEL = CACHE / "moment_Si_medium_30min" / "model.safetensors"
PARTS = ("convergence", "isotope", "water", "cost")


def wells(n: int):
    grid = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    atoms = Atoms(f"H{n}", positions=3.0 * grid, cell=[15.0, 15.0, 15.0], pbc=False)
    return atoms, HarmonicWell(spring_constant(HBAR_OMEGA, atoms.get_masses()[0]), centers=atoms.positions)


def config(name: str, **keys) -> PIMDConfig:
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    return PIMDConfig(**{"temperature": TEMPERATURE, "timestep": 0.5, "tau": 20.0, "output_dir": str(folder), **keys})


def convergence(steps: int) -> dict:
    atoms, calculator = wells(32)
    exact = harmonic_kinetic_energy(HBAR_OMEGA, TEMPERATURE)
    result = beads_convergence(config("wells_beads", steps=steps, fixcom=False), BEADS, calculator, atoms,
                               reference=3 * exact, reference_label="exact (3 hbar w / 4) coth(hbar w / 2kT)")
    plot_convergence(result, RESULTS / "pimd_convergence.png", TEMPERATURE)
    rows = []
    for p, k, e, s in zip(result.nbeads, result.kinetic_energy, result.kinetic_energy_error, result.seconds_per_step):
        beads = harmonic_kinetic_energy(HBAR_OMEGA, TEMPERATURE, p)
        constant = e < 1e-9 * k  # one bead: the centroid virial is 3kT/2 by construction
        rows.append({"nbeads": p, "kinetic_dof": k / 3, "error_dof": e / 3, "exact_P": beads, "exact": exact,
                     "z_vs_exact_P": None if constant else (k / 3 - beads) / (e / 3),
                     "relative_to_exact": k / 3 / exact - 1, "seconds_per_step": s})
        print(f"  P={p:2d}: K/dof {1000 * k / 3:7.3f} ± {1000 * e / 3:.3f} meV, P-bead exact {1000 * beads:7.3f}, "
              f"continuum {1000 * exact:.3f}, {1000 * s:.1f} ms/step", flush=True)
    return {"hbar_omega": HBAR_OMEGA, "atoms": 32, "steps": steps, "rows": rows, "classical": units.kB * TEMPERATURE / 2}


def isotope(steps: int) -> list[dict]:
    rows = []
    for estimator, n, points, stride in (("tdfep", 32, 5, 2), ("scfep", 4, 3, 10)):
        atoms, calculator = wells(n)
        iso = IsotopeConfig(atom="H", mass=DEUTERIUM_MASS, points=points, estimator=estimator, stride=stride)
        start = time.perf_counter()
        r = run_pimd(config(f"wells_isotope_{estimator}", nbeads=16, steps=steps, fixcom=False, isotope=iso),
                     calculator, atoms)
        deuterium = HBAR_OMEGA * np.sqrt(atoms.get_masses()[0] / DEUTERIUM_MASS)
        exact16 = 3 * (harmonic_free_energy(deuterium, TEMPERATURE, 16) - harmonic_free_energy(HBAR_OMEGA, TEMPERATURE, 16))
        exact = 3 * (harmonic_free_energy(deuterium, TEMPERATURE) - harmonic_free_energy(HBAR_OMEGA, TEMPERATURE))
        f = r.isotope
        rows.append({"estimator": estimator, "atoms": n, "points": points, "stride": stride, "steps": steps,
                     "free_energy": f.free_energy, "error": f.free_energy_error, "exact_16": exact16, "exact": exact,
                     "kinetic_D": f.kinetic_energy[-1], "kinetic_D_error": f.kinetic_energy_error[-1],
                     "kinetic_D_exact_16": 3 * harmonic_kinetic_energy(deuterium, TEMPERATURE, 16),
                     "effective_samples_D": f.effective_samples[-1], "samples": f.samples,
                     "seconds_per_step": r.seconds_per_step, "wall_s": time.perf_counter() - start})
        print(f"  {estimator}: dF(H->D) {1000 * f.free_energy:.2f} ± {1000 * f.free_energy_error:.2f} meV/atom, "
              f"16-bead exact {1000 * exact16:.2f}, continuum {1000 * exact:.2f}; effective samples at D "
              f"{f.effective_samples[-1]:.0f} of {f.samples}", flush=True)
    return rows


def harmonic_water_kinetic(atoms, calculator, nbeads=None) -> dict:
    """Per-atom kinetic energy of a molecule in the harmonic approximation (module docstring)."""
    from ridgeline.properties.vibrations import harmonic_modes

    modes = harmonic_modes(atoms, calculator, method="finite_differences")
    root_mass = np.sqrt(atoms.get_masses())[None, :, None]
    vectors = modes.modes * root_mass
    vectors /= np.linalg.norm(vectors.reshape(len(vectors), -1), axis=1)[:, None, None]
    share = np.sum(vectors ** 2, axis=2)  # (modes, atoms): each mode's kinetic energy on each atom
    kt = units.kB * TEMPERATURE
    per_mode = np.array([harmonic_kinetic_energy(e / 1000, TEMPERATURE, nbeads) for e in modes.energies_meV])
    kinetic = share.T @ per_mode + 0.5 * kt * (3 - share.sum(axis=0))
    return {"kinetic": kinetic.tolist(), "energies_meV": modes.energies_meV.tolist()}


def xtb_calculator():
    """GFN2-xTB through tblite, or None where tblite is not installed."""
    from ridgeline.errors import ConfigError
    from ridgeline.simulate.named import calculator

    try:
        return calculator("xtb")
    except ConfigError as err:
        print(f"  skipped: {err}")
        return None


def water(steps: int) -> dict | None:
    xtb = xtb_calculator()
    if xtb is None:
        return None
    from ase.build import molecule
    from ase.optimize import BFGS

    atoms = molecule("H2O")
    atoms.calc = xtb
    BFGS(atoms, logfile=None).run(fmax=1e-4)
    harmonic = harmonic_water_kinetic(atoms, xtb, 16)
    harmonic_exact = harmonic_water_kinetic(atoms, xtb)
    atoms.calc = None
    r = run_pimd(config("water_xtb", nbeads=16, steps=steps), xtb, atoms)
    h, o = r.per_atom("kinetic_cv", "H"), r.per_atom("kinetic_cv", "O")
    out = {"steps": steps, "nbeads": 16, "H": h.to_dict(), "O": o.to_dict(), "harmonic_16": harmonic,
           "harmonic": harmonic_exact, "conserved_drift": r.conserved_drift, "seconds_per_step": r.seconds_per_step}
    print(f"  water (GFN2-xTB, 16 beads): K(H) {1000 * h.mean:.1f} ± {1000 * h.error:.1f} meV, harmonic 16 beads "
          f"{1000 * np.mean(harmonic['kinetic'][1:]):.1f}, converged {1000 * np.mean(harmonic_exact['kinetic'][1:]):.1f}; "
          f"K(O) {1000 * o.mean:.1f} ± {1000 * o.error:.1f} (harmonic {1000 * harmonic_exact['kinetic'][0]:.1f})", flush=True)
    return out


def bare_call(atoms, calculator, calls: int) -> float:
    from ase.calculators.calculator import all_changes

    atoms = atoms.copy()
    rng = np.random.default_rng(0)
    calculator.calculate(atoms, ["energy", "forces"], all_changes)
    start = time.perf_counter()
    for _ in range(calls):
        atoms.positions += rng.normal(0.0, 1e-3, atoms.positions.shape)
        calculator.calculate(atoms, ["energy", "forces"], all_changes)
    return (time.perf_counter() - start) / calls


def classical_md(atoms, calculator, steps: int) -> float:
    from ridgeline.simulate.md import MD

    md = MD(atoms, calculator, "langevin", timestep=0.5, temperature=TEMPERATURE, seed=0, interval=steps)
    md.run(2)
    start = time.perf_counter()
    md.run(steps)
    return (time.perf_counter() - start) / steps


def cost(name: str, atoms, calculator, steps: int, nbeads: int, fixcom: bool = True) -> dict:
    bare_call(atoms, calculator, 5)  # warm-up: the first calls of a model set up its threads and caches
    row = {"system": name, "atoms": len(atoms), "nbeads": nbeads, "bare_call_s": bare_call(atoms, calculator, 50),
           "ase_md_s": classical_md(atoms, calculator, steps)}
    one = run_pimd(config(f"cost_{name}_1", nbeads=1, steps=steps, fixcom=fixcom), calculator, atoms)
    many = run_pimd(config(f"cost_{name}_{nbeads}", nbeads=nbeads, steps=steps, fixcom=fixcom), calculator, atoms)
    row.update(ipi_1_s=one.seconds_per_step, ipi_P_s=many.seconds_per_step, conserved_drift_P=many.conserved_drift)
    row["overhead_per_call_s"] = row["ipi_P_s"] / nbeads - row["bare_call_s"]
    print(f"  cost {name}: bare {1000 * row['bare_call_s']:.2f} ms, ASE MD {1000 * row['ase_md_s']:.2f} ms/step, "
          f"i-PI 1 bead {1000 * row['ipi_1_s']:.2f}, {nbeads} beads {1000 * row['ipi_P_s']:.2f} ms/step", flush=True)
    return row


def costs(steps: int) -> list[dict]:
    atoms, calculator = wells(32)
    rows = [cost("harmonic wells", atoms, calculator, steps, 16, fixcom=False)]
    xtb = xtb_calculator()
    if xtb is not None:
        from ase.build import molecule

        rows.append(cost("water GFN2-xTB", molecule("H2O"), xtb, steps // 4, 16))
    if SI_MODEL.is_file():
        from ase.build import bulk

        from ridgeline.simulate.calculator import Calculator
        rows.append(cost("Si moment model", bulk("Si", cubic=True).repeat(2), Calculator(SI_MODEL, dtype="float32"),
                         steps // 4, 4))
    return rows


def markdown(data: dict) -> str:
    c = data["convergence"]
    lines = ["# PIMD through i-PI: quantum kinetic energy, bead convergence, isotope free energy, cost", "",
             f"Machine: {data['machine']}. i-PI {data['ipi']} server as a child process, ridgeline's client (ASE's "
             f"SocketClient) over a UNIX socket; PILE-L, tau 20 fs, 300 K, 0.5 fs; errors are standard errors from the "
             f"statistical inefficiency (pymbar). Total {data['total_s']:.0f} s "
             f"({', '.join(f'{k} {v:.0f} s' for k, v in data['seconds'].items())}); the machine's two cores "
             "were shared with other work, so the timings are indicative.", "",
             f"## Harmonic wells: kinetic energy per degree of freedom ({c['atoms']} H atoms, hbar w = {c['hbar_omega']} eV, "
             f"{c['steps']} steps)", "",
             f"Classical kT/2 = {1000 * c['classical']:.3f} meV; exact (hbar w/4) coth(hbar w/2kT) = "
             f"{1000 * c['rows'][0]['exact']:.3f} meV. Plot: pimd_convergence.png.", "",
             "| beads | K (meV) | exact P-bead (meV) | (K - exact P) / error | K / exact - 1 | ms/step |", "|---|---|---|---|---|---|"]
    for r in c["rows"]:
        z = "exact by construction" if r["z_vs_exact_P"] is None else f"{r['z_vs_exact_P']:+.1f}"
        lines.append(f"| {r['nbeads']} | {1000 * r['kinetic_dof']:.3f} ± {1000 * r['error_dof']:.3f} | "
                     f"{1000 * r['exact_P']:.3f} | {z} | {100 * r['relative_to_exact']:+.1f}% | {1000 * r['seconds_per_step']:.1f} |")
    lines += ["", "## Isotope substitution H -> D in the wells, 16 beads (free energy per substituted atom)", "",
              "| estimator | wells | mass nodes | stride | dF (meV) | exact 16 beads | exact | K(D) (meV) | exact K(D), 16 beads | "
              "effective samples at D | ms/step |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["isotope"]:
        lines.append(f"| {r['estimator']} | {r['atoms']} | {r['points']} | {r['stride']} | {1000 * r['free_energy']:.2f} ± "
                     f"{1000 * r['error']:.2f} | {1000 * r['exact_16']:.2f} | {1000 * r['exact']:.2f} | "
                     f"{1000 * r['kinetic_D']:.1f} ± {1000 * r['kinetic_D_error']:.1f} | {1000 * r['kinetic_D_exact_16']:.1f} | "
                     f"{r['effective_samples_D']:.0f} / {r['samples']} | {1000 * r['seconds_per_step']:.1f} |")
    w = data["water"]
    if w is not None:
        lines += ["", f"## H in a water molecule, GFN2-xTB, 16 beads, {w['steps']} steps", "",
                  "| atom | PIMD K (meV) | harmonic, 16 beads | harmonic, converged | classical 3kT/2 |", "|---|---|---|---|---|"]
        for element, k in (("H", 1), ("O", 0)):
            lines.append(f"| {element} | {1000 * w[element]['mean']:.1f} ± {1000 * w[element]['error']:.1f} | "
                         f"{1000 * w['harmonic_16']['kinetic'][k]:.1f} | {1000 * w['harmonic']['kinetic'][k]:.1f} | "
                         f"{1500 * units.kB * TEMPERATURE:.1f} |")
        lines.append(f"\nConserved-quantity drift {w['conserved_drift']:.3g} meV/atom/ps; harmonic frequencies (meV): "
                     f"{', '.join(f'{e:.0f}' for e in w['harmonic']['energies_meV'])}.")
    lines += ["", "## Cost per MD step against classical MD with the same calculator (ms)", "",
              "| system | atoms | bare call | ASE MD (Langevin) | i-PI, 1 bead | i-PI, P beads | P | i-PI per bead - bare call |",
              "|---|---|---|---|---|---|---|---|"]
    for r in data["cost"]:
        lines.append(f"| {r['system']} | {r['atoms']} | {1000 * r['bare_call_s']:.2f} | {1000 * r['ase_md_s']:.2f} | "
                     f"{1000 * r['ipi_1_s']:.2f} | {1000 * r['ipi_P_s']:.1f} | {r['nbeads']} | "
                     f"{1000 * r['overhead_per_call_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import argparse

    import ipi

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="steps of the harmonic runs")
    parser.add_argument("--water-steps", type=int, default=3000)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="the parts to run; the others are kept from results/pimd.json")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    previous = RESULTS / "pimd.json"
    data = json.loads(previous.read_text()) if set(args.parts) != set(PARTS) and previous.exists() else {}
    missing = [p for p in PARTS if p not in args.parts and p not in data]
    if missing:
        raise SystemExit(f"results/pimd.json has no {', '.join(missing)}: run those parts too")
    start = time.perf_counter()
    data.update({"machine": machine(), "ipi": ipi.__version__, "temperature": TEMPERATURE})
    runs = {"convergence": lambda: convergence(args.steps), "isotope": lambda: isotope(args.steps * 2 // 3),
            "water": lambda: water(args.water_steps), "cost": lambda: costs(400)}
    for part in args.parts:
        print(part, flush=True)
        data[part] = runs[part]()
        data.setdefault("seconds", {})[part] = time.perf_counter() - start
        start = time.perf_counter()
    data["total_s"] = sum(data["seconds"].values())
    write_results("pimd", data, markdown(data))


if __name__ == "__main__":
    main()

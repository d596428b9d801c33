"""The absolute free energy of fcc Cu (EMT) by the Einstein-crystal route, against the harmonic
free energy of the same cell: the anharmonic free energy, zero at low temperature.

``properties.thermodynamic_integration.solid_free_energy`` (springs from the crystal's own
fluctuations, Gauss-Legendre TI with the centre of mass held, the Frenkel-Ladd correction) on a
3x3x3 cubic cell (108 atoms) at the lattice constant EMT relaxes to, at 50-900 K. The reference is
the classical harmonic free energy of the same cell from its Hessian (finite differences):
F_h = E_0 + 3N kT ln Λ - kT ln(N^(3/2) V / N) - Σ_a (kT/2) ln(2π kT / λ_a) over the 3N - 3
non-zero eigenvalues λ_a (equal masses; the same conventions as the TI's, checked exactly on a
harmonic crystal in tests/properties/test_thermodynamic_integration.py). F - F_h is the anharmonic
free energy; at 50 K it should vanish within the TI's error.

Writes results/ti_solid_cu.{json,md}. ``python benchmarks/ti_solid_cu.py`` (about 10 minutes).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import machine, write_results  # noqa: E402

TEMPERATURES = [50.0, 300.0, 600.0, 900.0]
RUN = dict(points=8, steps=3000, equilibration=500, timestep=2.0, interval=5, parameters={"friction": 0.01})


def hessian_eigenvalues(atoms, calculator) -> tuple[float, np.ndarray]:
    """E_0 (eV) and the 3N - 3 non-zero eigenvalues of the cell's Hessian (eV/Å², finite differences)."""
    from ridgeline.properties.vibrations import hessian_of

    hessian, _ = hessian_of(atoms, calculator, method="finite_differences", delta=0.01)
    eig = np.linalg.eigvalsh(0.5 * (hessian + hessian.T))[3:]  # the three translations dropped
    probe = atoms.copy()
    probe.calc = calculator
    return float(probe.get_potential_energy()), eig


def harmonic_free_energy(atoms, e0: float, eig: np.ndarray, temperature: float) -> float:
    """Classical harmonic F of the cell (module docstring), equal masses."""
    from ase import units

    n, kt = len(atoms), units.kB * temperature
    mass = atoms.get_masses()[0] * units._amu
    wavelength = units._hplanck / np.sqrt(2 * np.pi * mass * units._k * temperature) * 1e10  # Å
    return float(e0 + 3 * n * kt * np.log(wavelength) - kt * np.log(n**1.5 * atoms.get_volume() / n)
                 - np.sum(0.5 * kt * np.log(2 * np.pi * kt / eig)))


def main() -> None:
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    from ridgeline.properties.thermodynamic_integration import solid_free_energy

    cell = bulk("Cu", "fcc", a=3.6, cubic=True)
    cell.calc = EMT()
    BFGS(FrechetCellFilter(cell), logfile=None).run(fmax=1e-5)
    a = float(cell.cell[0, 0])
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(3)
    e0, eig = hessian_eigenvalues(atoms, EMT())
    rows = []
    for t in TEMPERATURES:
        t0 = time.perf_counter()
        result = solid_free_energy(atoms, EMT(), t, spring_steps=1000, **RUN)
        seconds = time.perf_counter() - t0
        f_h = harmonic_free_energy(atoms, e0, eig, t)
        n = len(atoms)
        rows.append({"temperature": t, "free_energy_per_atom": result.per_atom, "error_per_atom": result.error / n,
                     "harmonic_per_atom": f_h / n, "anharmonic_mev_per_atom": 1000 * (result.free_energy - f_h) / n,
                     "anharmonic_error_mev": 1000 * result.error / n, "springs": result.springs["Cu"],
                     "ti_delta_f": result.integration.delta_f, "center_of_mass": result.center_of_mass,
                     "max_inefficiency": float(result.integration.inefficiency.max()), "seconds": seconds})
        print(rows[-1], flush=True)
    out = {"machine": machine(), "lattice_constant": a, "atoms": len(atoms), "run": RUN, "rows": rows,
           "softest_mode": float(eig.min()), "stiffest_mode": float(eig.max())}
    lines = ["# Cu (EMT): absolute free energy by thermodynamic integration against the harmonic cell", "",
             f"Made by `benchmarks/ti_solid_cu.py`. Machine: {out['machine']}. 3x3x3 cubic cell ({len(atoms)} atoms) at "
             f"a = {a:.4f} Å (EMT's), Einstein crystal -> EMT over {RUN['points']} Gauss-Legendre points, "
             f"{RUN['steps']} steps of {RUN['timestep']} fs each, centre of mass held.", "",
             "| T (K) | F (eV/atom) | harmonic F (eV/atom) | F - F_harmonic (meV/atom) | spring k (eV/Å²) | time (s) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['temperature']:.0f} | {r['free_energy_per_atom']:.5f} ± {r['error_per_atom']:.5f} | "
                     f"{r['harmonic_per_atom']:.5f} | {r['anharmonic_mev_per_atom']:+.3f} ± {r['anharmonic_error_mev']:.3f} | "
                     f"{r['springs']:.3f} | {r['seconds']:.0f} |")
    lines.append("")
    write_results("ti_solid_cu", out, "\n".join(lines))


if __name__ == "__main__":
    main()

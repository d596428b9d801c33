"""Energy conservation of a potential in microcanonical MD: the check users run first.

Velocity Verlet from Maxwell-Boltzmann velocities; the total energy is recorded every step and
its drift is the slope of a straight-line fit (meV/atom/ps), its noise the standard deviation of
the residuals. A calculator that gives ``forces_sigma`` / ``out_of_domain`` has them recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units
from ase.md.verlet import VelocityVerlet

from .velocities import thermalize


@dataclass
class NVERun:
    time_ps: np.ndarray  # (T,)
    total_energy: np.ndarray  # (T,) eV
    potential_energy: np.ndarray  # (T,) eV
    temperature: np.ndarray  # (T,) K
    max_forces_sigma: np.ndarray  # (T,) eV/Å (empty without uncertainty)
    out_of_domain_steps: int
    n_atoms: int

    @property
    def drift(self) -> float:
        """meV/atom/ps: slope of the total energy."""
        slope = np.polyfit(self.time_ps, self.total_energy, 1)[0]
        return float(1000 * slope / self.n_atoms)

    @property
    def fluctuation(self) -> float:
        """meV/atom: standard deviation of the total energy about its linear trend."""
        fit = np.polyval(np.polyfit(self.time_ps, self.total_energy, 1), self.time_ps)
        return float(1000 * np.std(self.total_energy - fit) / self.n_atoms)


def run_nve(atoms, calculator, steps: int = 2000, timestep: float = 0.5, temperature: float = 300.0, seed: int = 0) -> NVERun:
    """``steps`` of velocity Verlet (``timestep`` fs) from velocities at ``temperature`` K."""
    atoms = atoms.copy()
    atoms.calc = calculator
    thermalize(atoms, temperature, np.random.default_rng(seed))
    dyn = VelocityVerlet(atoms, timestep * units.fs)
    rows, sigma, flagged = [], [], [0]

    def record():
        epot = atoms.get_potential_energy()
        rows.append((dyn.nsteps * timestep / 1000.0, epot + atoms.get_kinetic_energy(), epot, atoms.get_temperature()))
        results = atoms.calc.results
        if "forces_sigma" in results:
            sigma.append(float(np.max(results["forces_sigma"])))
        flagged[0] += bool(np.any(results.get("out_of_domain", False)))

    dyn.attach(record, interval=1)
    dyn.run(steps)
    t, etot, epot, temp = map(np.array, zip(*rows))
    return NVERun(t, etot, epot, temp, np.array(sigma), flagged[0], len(atoms))


def plot_nve(run: NVERun, path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    n = run.n_atoms
    ax.plot(run.time_ps, 1000 * (run.total_energy - run.total_energy[0]) / n, label="total")
    ax.plot(run.time_ps, 1000 * (run.potential_energy - run.total_energy[0]) / n, alpha=0.5, label="potential")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("E - E_tot(0) (meV/atom)")
    ax.set_title(title or f"NVE: drift {run.drift:.3g} meV/atom/ps")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

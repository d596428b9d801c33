"""The harmonic oscillator, PIMD's exact check: a calculator that holds each atom in its own 3-D
harmonic well, and the oscillator's quantum kinetic and free energies, exact and for P beads.

Per degree of freedom of frequency omega at temperature T (beta = 1/kT):

- exact: <K> = (hbar omega / 4) coth(beta hbar omega / 2), F = kT ln[2 sinh(beta hbar omega / 2)];
- P beads (the ring polymer i-PI samples): its normal modes have frequencies
  Omega_k^2 = omega^2 + 4 omega_P^2 sin^2(pi k / P), omega_P = P kT / hbar, and
  Z_P = prod_k P kT / (hbar Omega_k) = 1 / (2 sinh[P asinh(beta hbar omega / 2P)]), so
  F_P = kT ln(2 sinh[P asinh(beta hbar omega / 2P)]) and, the virial theorem holding for every P,
  <K>_P = <V>_P = (kT/2) sum_k omega^2 / Omega_k^2 (the centroid-virial and the primitive estimators
  share this mean). P = 1 gives the classical kT/2; P -> infinity the exact values.
"""

from __future__ import annotations

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes

HBAR = units._hbar * units.J * units.s  # eV x ASE's time unit


def spring_constant(hbar_omega: float, mass: float) -> float:
    """k = m omega^2 (eV/Å^2) of a well of quantum hbar_omega (eV) for a mass in amu."""
    return float(mass * (hbar_omega / HBAR) ** 2)


def harmonic_kinetic_energy(hbar_omega: float, temperature: float, nbeads: int | None = None) -> float:
    """Mean kinetic energy per degree of freedom (eV): exact (``nbeads`` None) or of ``nbeads`` beads."""
    kt = units.kB * temperature
    if nbeads is None:
        return float(hbar_omega / 4.0 / np.tanh(hbar_omega / (2.0 * kt)))
    k = np.arange(nbeads)
    omega_p = nbeads * kt  # hbar omega_P, eV
    modes = hbar_omega ** 2 + 4.0 * omega_p ** 2 * np.sin(np.pi * k / nbeads) ** 2
    return float(0.5 * kt * np.sum(hbar_omega ** 2 / modes))


def harmonic_free_energy(hbar_omega: float, temperature: float, nbeads: int | None = None) -> float:
    """Free energy per degree of freedom (eV): exact (``nbeads`` None) or of ``nbeads`` beads."""
    kt = units.kB * temperature
    x = hbar_omega / kt
    half = x / 2.0 if nbeads is None else nbeads * np.arcsinh(x / (2.0 * nbeads))
    return float(kt * np.log(2.0 * np.sinh(half)))


class HarmonicWell(Calculator):
    """E = sum_i k_i |r_i - c_i|^2 / 2: every atom in its own isotropic well centred at ``centers``
    (Å, default the positions it is first given) with spring constants ``k`` (eV/Å^2, one or one
    per atom). Not periodic: the wells are fixed in space, so the total momentum is not conserved
    (run i-PI with ``fixcom`` False)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces"]

    def __init__(self, k, centers=None, **kwargs):
        super().__init__(**kwargs)
        self.k = np.asarray(k, dtype=float)
        self.centers = None if centers is None else np.asarray(centers, dtype=float)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        if self.centers is None:
            self.centers = self.atoms.positions.copy()
        d = self.atoms.positions - self.centers
        k = np.broadcast_to(self.k, (len(d),))
        energies = 0.5 * k * np.sum(d * d, axis=1)
        self.results.update(energy=float(energies.sum()), free_energy=float(energies.sum()), energies=energies,
                            forces=-k[:, None] * d)


__all__ = ["HBAR", "HarmonicWell", "harmonic_free_energy", "harmonic_kinetic_energy", "spring_constant"]

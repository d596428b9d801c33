"""Extra energy terms for MD: harmonic umbrellas on collective variables, added to any ASE
calculator by :class:`BiasedCalculator` (umbrella sampling, steered exploration).

A :class:`Bias` gives ``energy_and_forces(atoms, calc) -> (E_bias in eV, F_bias (N, 3) in eV/Å)``
with ``F_bias = -dE_bias/dr`` exactly (every bias here is conservative, so biased NVE conserves
the biased total energy). ``calc`` is the *base* calculator, already evaluated at ``atoms``.

Collective variables give ``value(atoms)`` (float) and ``gradient(atoms)`` (N, 3) = ds/dr.
Distances are minimum-image where the structure is periodic.

Stress (constant-pressure runs): a collective variable built from minimum-image pair vectors
d_p also gives ``strain_gradient(atoms)`` = ds/dε (3, 3) = sum_p (ds/dd_p) ⊗ d_p, the change of s
under a homogeneous strain of the positions and the cell; a bias gives ``stress(atoms, calc)``
(Voigt (6,), eV/Å^3, ASE's sign: (1/V) dE_bias/dε), or None where it has no stress. The stress of
:class:`BiasedCalculator` is the base's plus every bias's, and unavailable (with a message naming
the bias) when a bias gives None.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.geometry import find_mic
from ase.stress import full_3x3_to_voigt_6_stress


# ---------------------------------------------------------------------------- collective variables
class CollectiveVariable:
    """A scalar function of the positions: ``value(atoms)`` and ``gradient(atoms)`` (N, 3)."""

    def value(self, atoms) -> float:
        raise NotImplementedError

    def gradient(self, atoms) -> np.ndarray:
        raise NotImplementedError

    def strain_gradient(self, atoms) -> np.ndarray | None:
        """ds/dε (3, 3) under a homogeneous strain of positions and cell; None where not available."""
        return None


def _vectors(atoms, i: int, others: np.ndarray) -> np.ndarray:
    """r_j - r_i for each j in ``others`` (k, 3), minimum image along the periodic directions."""
    pos = atoms.get_positions()
    vec = pos[others] - pos[i]
    if atoms.pbc.any():
        vec, _ = find_mic(vec, atoms.cell, atoms.pbc)
    return vec


class Distance(CollectiveVariable):
    """|r_j - r_i| (Å), minimum image if periodic. The gradient at coinciding atoms is taken as 0."""

    def __init__(self, i: int, j: int):
        if i == j:
            raise ValueError("Distance needs two different atoms")
        self.i, self.j = int(i), int(j)

    def value(self, atoms) -> float:
        return float(np.linalg.norm(_vectors(atoms, self.i, np.array([self.j]))[0]))

    def gradient(self, atoms) -> np.ndarray:
        vec = _vectors(atoms, self.i, np.array([self.j]))[0]
        d = np.linalg.norm(vec)
        unit = vec / d if d > 0 else np.zeros(3)
        grad = np.zeros((len(atoms), 3))
        grad[self.j] += unit
        grad[self.i] -= unit
        return grad

    def strain_gradient(self, atoms) -> np.ndarray:
        vec = _vectors(atoms, self.i, np.array([self.j]))[0]
        d = np.linalg.norm(vec)
        return np.outer(vec, vec) / d if d > 0 else np.zeros((3, 3))


class CoordinationNumber(CollectiveVariable):
    """s = sum over j in ``group`` (j != i) of f(r_ij), with the rational switching function

        f(r) = (1 - (r/r0)^6) / (1 - (r/r0)^12) = 1 / (1 + (r/r0)^6)

    (the two forms are equal; the second has no removable singularity at r = r0). ``group``
    defaults to every other atom. Distances are minimum-image (one image per pair), so in a small
    periodic cell the slowly decaying tail of f beyond half the cell is not counted.
    """

    def __init__(self, i: int, group: Sequence[int] | None = None, r0: float = 3.0):
        if r0 <= 0:
            raise ValueError("r0 must be positive")
        self.i, self.r0 = int(i), float(r0)
        self.group = None if group is None else np.asarray(sorted(set(int(g) for g in group) - {self.i}), dtype=int)

    def _others(self, atoms) -> np.ndarray:
        if self.group is not None:
            return self.group
        return np.array([j for j in range(len(atoms)) if j != self.i], dtype=int)

    def _terms(self, atoms):
        others = self._others(atoms)
        vec = _vectors(atoms, self.i, others)
        r = np.linalg.norm(vec, axis=1)
        x6 = (r / self.r0) ** 6
        f = 1.0 / (1.0 + x6)
        # df/dr = -6 x^5 / (r0 (1 + x^6)^2) = -6 x^6 / (r (1 + x^6)^2); written with x^5 to be finite at r = 0
        dfdr = -6.0 * (r / self.r0) ** 5 / (self.r0 * (1.0 + x6) ** 2)
        return others, vec, r, f, dfdr

    def value(self, atoms) -> float:
        return float(self._terms(atoms)[3].sum())

    def gradient(self, atoms) -> np.ndarray:
        others, vec, r, _, dfdr = self._terms(atoms)
        unit = np.divide(vec, r[:, None], out=np.zeros_like(vec), where=r[:, None] > 0)
        contrib = dfdr[:, None] * unit  # d f(r_ij) / d r_j
        grad = np.zeros((len(atoms), 3))
        np.add.at(grad, others, contrib)
        grad[self.i] -= contrib.sum(0)
        return grad

    def strain_gradient(self, atoms) -> np.ndarray:
        _, vec, r, _, dfdr = self._terms(atoms)
        unit = np.divide(vec, r[:, None], out=np.zeros_like(vec), where=r[:, None] > 0)
        return np.einsum("p,pa,pb->ab", dfdr, unit, vec)


# ---------------------------------------------------------------------------------------- biases
class Bias:
    """An extra energy term: ``energy_and_forces(atoms, calc) -> (E_bias eV, F_bias (N, 3) eV/Å)``."""

    def energy_and_forces(self, atoms, calc=None) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def stress(self, atoms, calc=None) -> np.ndarray | None:
        """(1/V) dE_bias/dε, Voigt (6,) eV/Å^3; None where this bias has no stress."""
        return None


class HarmonicUmbrella(Bias):
    """E = 0.5 k (s - s0)^2 on a collective variable s (k in eV per CV unit squared);
    F = -k (s - s0) ds/dr."""

    def __init__(self, cv: CollectiveVariable, center: float, k: float):
        self.cv, self.center, self.k = cv, float(center), float(k)

    def energy_and_forces(self, atoms, calc=None) -> tuple[float, np.ndarray]:
        ds = self.cv.value(atoms) - self.center
        return 0.5 * self.k * ds * ds, -self.k * ds * self.cv.gradient(atoms)

    def stress(self, atoms, calc=None) -> np.ndarray | None:
        strain = self.cv.strain_gradient(atoms)
        if strain is None:
            return None
        ds = self.cv.value(atoms) - self.center
        return full_3x3_to_voigt_6_stress(self.k * ds * strain / atoms.get_volume())


# ---------------------------------------------------------------------------------- calculator
class BiasedCalculator(Calculator):
    """``BiasedCalculator(base, biases)``: energy and forces of ``base`` plus the sum of the biases.

    ``results`` keeps every other result of the base (``forces_sigma``, ``energy_sigma``,
    ``out_of_domain``, ... of a ridgeline calculator) and adds ``bias_energy`` (eV, the sum),
    ``bias_forces`` (N, 3), ``base_energy`` and ``base_forces``; ``free_energy`` gets the bias too.
    ``stress``, when asked for, is the base's plus each bias's (``bias_stress`` their sum); a bias
    without a stress makes it unavailable (``PropertyNotImplementedError`` naming the bias). The
    base's per-atom ``energies`` are dropped (the biases add none).
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, base, biases: Sequence[Bias] = (), **kwargs):
        super().__init__(**kwargs)
        self.base = base
        self.biases = list(biases)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        base_forces = np.array(self.base.get_property("forces", atoms), dtype=float)
        base_energy = float(self.base.get_property("energy", atoms))
        results = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.base.results.items()
                   if k not in ("stress", "energies", "energy", "free_energy", "forces")}
        e_bias, f_bias = 0.0, np.zeros((len(atoms), 3))
        for bias in self.biases:
            e, f = bias.energy_and_forces(atoms, self.base)
            e_bias += float(e)
            f_bias += np.asarray(f, dtype=float)
        free = self.base.results.get("free_energy", base_energy)
        results.update(energy=base_energy + e_bias, free_energy=float(free) + e_bias, forces=base_forces + f_bias,
                       bias_energy=e_bias, bias_forces=f_bias, base_energy=base_energy, base_forces=base_forces)
        if "stress" in properties:
            results.update(self._stress(atoms))
        self.results = results

    def _stress(self, atoms) -> dict:
        s_bias = np.zeros(6)
        for bias in self.biases:
            s = bias.stress(atoms, self.base)
            if s is None:
                raise PropertyNotImplementedError(
                    f"stress: the bias {type(bias).__name__} gives none, so a biased run with it cannot be at "
                    f"constant pressure (use a constant-volume ensemble)")
            s_bias += np.asarray(s, dtype=float).reshape(6)
        base_stress = np.array(self.base.get_property("stress", atoms), dtype=float)
        return {"stress": base_stress + s_bias, "bias_stress": s_bias, "base_stress": base_stress}


__all__ = ["CollectiveVariable", "Distance", "CoordinationNumber", "Bias", "HarmonicUmbrella", "BiasedCalculator"]

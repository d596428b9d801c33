"""Extra energy terms for exploration MD: umbrellas on collective variables and an adversarial
bias that climbs the model's uncertainty, added to any ASE calculator by :class:`BiasedCalculator`.

A :class:`Bias` gives ``energy_and_forces(atoms, calc) -> (E_bias in eV, F_bias (N, 3) in eV/Å)``
with ``F_bias = -dE_bias/dr`` exactly (every bias here is conservative, so biased NVE conserves
the biased total energy). ``calc`` is the *base* calculator, already evaluated at ``atoms``.

Collective variables give ``value(atoms)`` (float) and ``gradient(atoms)`` (N, 3) = ds/dr.
Distances are minimum-image where the structure is periodic.

Biases give no stress: :class:`BiasedCalculator` implements energy and forces only (NVT
exploration needs nothing else).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes
from ase.geometry import find_mic

from .. import keys
from ..data.graph import atoms_to_batch


# ---------------------------------------------------------------------------- collective variables
class CollectiveVariable:
    """A scalar function of the positions: ``value(atoms)`` and ``gradient(atoms)`` (N, 3)."""

    def value(self, atoms) -> float:
        raise NotImplementedError

    def gradient(self, atoms) -> np.ndarray:
        raise NotImplementedError


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


# ---------------------------------------------------------------------------------------- biases
class Bias:
    """An extra energy term: ``energy_and_forces(atoms, calc) -> (E_bias eV, F_bias (N, 3) eV/Å)``."""

    def energy_and_forces(self, atoms, calc=None) -> tuple[float, np.ndarray]:
        raise NotImplementedError


class HarmonicUmbrella(Bias):
    """E = 0.5 k (s - s0)^2 on a collective variable s (k in eV per CV unit squared);
    F = -k (s - s0) ds/dr."""

    def __init__(self, cv: CollectiveVariable, center: float, k: float):
        self.cv, self.center, self.k = cv, float(center), float(k)

    def energy_and_forces(self, atoms, calc=None) -> tuple[float, np.ndarray]:
        ds = self.cv.value(atoms) - self.center
        return 0.5 * self.k * ds * ds, -self.k * ds * self.cv.gradient(atoms)


class AdversarialBias(Bias):
    """Pushes MD towards configurations where the model is unsure (adversarial sampling,
    Schwalbe-Koda et al., Nat. Commun. 12, 5104 (2021); the bounded form of the uncertainty-driven
    dynamics of Kulichenko et al., Nat. Comput. Sci. 1, 230 (2021)).

    Exact form, with N atoms, ``k`` (1/eV) and ``max_energy`` E_max (eV)::

        v      = alpha_E * var(E)                 calibrated energy variance of the structure, eV^2
        E_bias = -E_max * tanh(k * v / (N * E_max))         (eV, in (-E_max, 0])
        F_bias = -dE_bias/dr = k * sech^2(k v / (N E_max)) / N * dv/dr

    For small spreads E_bias ~= -k v / N (the per-atom variance, scaled by k). The tanh bounds the
    energy the bias can supply by E_max, and the sech^2 factor switches its force off once the
    structure is far into the uncertain region, so biased MD cannot run away without limit.

    var(E) is ``uq.variances.energy_variance`` (the ``Variances`` protocol): for an ensemble file
    the variance of the members' energies (ddof 1, as ``UncertaintyModel.outputs``); for a single
    calibrated model the last-layer Laplace variance sum_Z s_Z^2 Phi_Z^T A_Z^-1 Phi_Z
    (``laplace.LastLayerLaplace.energy_variance``, differentiated through the hidden features).
    dv/dr by autograd with respect to the positions of a batch built by ``atoms_to_batch`` (the
    neighbour list is fixed within a call; the energy is smooth at the cutoff, so this is the
    exact gradient).
    alpha_E is the file's calibration scale (1 if uncalibrated).
    """

    def __init__(self, uq, k: float, max_energy: float = 1.0):
        if k < 0 or max_energy <= 0:
            raise ValueError("AdversarialBias needs k >= 0 and max_energy > 0")
        if not uq.variances.available:
            raise ValueError("AdversarialBias needs an ensemble or a calibrated (Laplace) model")
        self.uq, self.k, self.max_energy = uq, float(k), float(max_energy)

    def variance(self, batch: dict) -> torch.Tensor:
        """Calibrated energy variance of the (one-structure) batch as a differentiable scalar."""
        return self.uq.alpha["energy"] * self.uq.variances.energy_variance(batch)[0]

    def energy_and_forces(self, atoms, calc=None) -> tuple[float, np.ndarray]:
        batch = atoms_to_batch(atoms, self.uq.cutoff, dtype=self.uq.dtype, device=self.uq.device)
        pos = batch[keys.POSITIONS].detach().requires_grad_(True)
        batch[keys.POSITIONS] = pos
        n = len(atoms)
        var = self.variance(batch)
        energy = -self.max_energy * torch.tanh(self.k * var / (n * self.max_energy))
        (grad,) = torch.autograd.grad(energy, pos)
        return float(energy.detach()), -grad.detach().cpu().double().numpy()


# ---------------------------------------------------------------------------------- calculator
class BiasedCalculator(Calculator):
    """``BiasedCalculator(base, biases)``: energy and forces of ``base`` plus the sum of the biases.

    ``results`` keeps every other result of the base (``forces_sigma``, ``energy_sigma``,
    ``out_of_domain``, ... of a ridgeline calculator) and adds ``bias_energy`` (eV, the sum),
    ``bias_forces`` (N, 3), ``base_energy`` and ``base_forces``. The base's ``stress`` and
    per-atom ``energies`` are dropped (the biases add neither); ``free_energy`` gets the bias too.
    """

    implemented_properties = ["energy", "free_energy", "forces"]

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
        self.results = results


__all__ = ["CollectiveVariable", "Distance", "CoordinationNumber", "Bias", "HarmonicUmbrella", "AdversarialBias",
           "BiasedCalculator"]

"""Collective variables (CVs): scalar functions of the positions with exact gradients, for
umbrellas (:mod:`.biases`), umbrella sampling and free-energy profiles.

A CV gives ``value(atoms)`` (float) and ``gradient(atoms)`` (N, 3) = ds/dr; ``period`` is None, or
the period of a periodic CV (2π for a dihedral), and ``difference(a, b)`` is a - b, wrapped into
[-period/2, period/2) where periodic. Angles are in radians (PLUMED's convention, so that an
umbrella's k is in eV/rad^2). Every vector between two atoms is minimum-image where the structure is
periodic.

Stress (constant-pressure runs): a CV built from minimum-image pair vectors d_p also gives
``strain_gradient(atoms)`` = ds/dε (3, 3) = sum_p (ds/dd_p) ⊗ d_p, the change of s under a
homogeneous strain of the positions and the cell.

=======================  =====================================================  =======
CV                       value                                                  unit
=======================  =====================================================  =======
``Distance(i, j)``       |r_j - r_i|                                            Å
``Angle(i, j, k)``       the angle i-j-k at atom j, in [0, π]                   rad
``Dihedral(i, j, k, l)`` the torsion of the bonds i-j, j-k, k-l, in (-π, π]     rad
``CoordinationNumber``   sum_j 1 / (1 + (r_ij / r0)^6)                          --
=======================  =====================================================  =======
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase.geometry import find_mic

from ..errors import ConfigError


class CollectiveVariable:
    """A scalar function of the positions: ``value(atoms)`` and ``gradient(atoms)`` (N, 3)."""

    period: float | None = None
    unit: str = ""

    def value(self, atoms) -> float:
        raise NotImplementedError

    def gradient(self, atoms) -> np.ndarray:
        raise NotImplementedError

    def strain_gradient(self, atoms) -> np.ndarray | None:
        """ds/dε (3, 3) under a homogeneous strain of positions and cell; None where not available."""
        return None

    def difference(self, a, b):
        """a - b, wrapped into [-period/2, period/2) for a periodic CV (numbers or arrays)."""
        d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
        if self.period is not None:
            d = (d + 0.5 * self.period) % self.period - 0.5 * self.period
        return d if d.ndim else float(d)

    def check_atoms(self, n_atoms: int) -> None:
        """A clear error when an index of this CV is not an atom of a structure of ``n_atoms``."""
        bad = [i for i in getattr(self, "indices", ()) if not 0 <= i < n_atoms]
        if bad:
            raise ConfigError(f"{type(self).__name__}: atom indices {bad} are not in a structure of {n_atoms} atoms")


def _vectors(atoms, i: int, others: np.ndarray) -> np.ndarray:
    """r_j - r_i for each j in ``others`` (k, 3), minimum image along the periodic directions."""
    pos = atoms.get_positions()
    vec = pos[others] - pos[i]
    if atoms.pbc.any():
        vec, _ = find_mic(vec, atoms.cell, atoms.pbc)
    return vec


def _distinct(name: str, indices: Sequence[int]) -> tuple[int, ...]:
    indices = tuple(int(i) for i in indices)
    if len(set(indices)) < len(indices):
        raise ConfigError(f"{name} needs {len(indices)} different atoms, got {list(indices)}")
    return indices


class _BondVectorCV(CollectiveVariable):
    """A CV of the bond vectors d_p = r[b_p] - r[a_p] along a chain of atoms (``indices``):
    subclasses give ``_value_and_derivatives(d) -> (s, ds/dd (p, 3))``; gradient and strain follow."""

    indices: tuple[int, ...] = ()

    def _bonds(self, atoms) -> np.ndarray:
        pos_pairs = [(a, b) for a, b in zip(self.indices[:-1], self.indices[1:])]
        return np.stack([_vectors(atoms, a, np.array([b]))[0] for a, b in pos_pairs])

    def _value_and_derivatives(self, bonds: np.ndarray) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def value(self, atoms) -> float:
        return float(self._value_and_derivatives(self._bonds(atoms))[0])

    def gradient(self, atoms) -> np.ndarray:
        _, dsdd = self._value_and_derivatives(self._bonds(atoms))
        grad = np.zeros((len(atoms), 3))
        for p, (a, b) in enumerate(zip(self.indices[:-1], self.indices[1:])):
            grad[b] += dsdd[p]
            grad[a] -= dsdd[p]
        return grad

    def strain_gradient(self, atoms) -> np.ndarray:
        bonds = self._bonds(atoms)
        _, dsdd = self._value_and_derivatives(bonds)
        return np.einsum("pa,pb->ab", dsdd, bonds)


class Distance(_BondVectorCV):
    """|r_j - r_i| (Å), minimum image if periodic. The gradient at coinciding atoms is taken as 0."""

    unit = "Å"

    def __init__(self, i: int, j: int):
        self.indices = _distinct("Distance", (i, j))
        self.i, self.j = self.indices

    def _value_and_derivatives(self, bonds):
        d = float(np.linalg.norm(bonds[0]))
        return d, (bonds / d if d > 0 else np.zeros_like(bonds))


class Angle(_BondVectorCV):
    """The angle i-j-k at atom j (rad, in [0, π]), from atan2(|u x v|, u.v) with u = r_i - r_j,
    v = r_k - r_j. The gradient is taken as 0 where the three atoms are collinear (it is singular)."""

    unit = "rad"

    def __init__(self, i: int, j: int, k: int):
        self.indices = _distinct("Angle", (i, j, k))

    def _value_and_derivatives(self, bonds):
        u, v = -bonds[0], bonds[1]  # the chain's bonds are j - i and k - j
        nu, nv = np.linalg.norm(u), np.linalg.norm(v)
        theta = float(np.arctan2(np.linalg.norm(np.cross(u, v)), u @ v))
        sin = np.sin(theta)
        if nu == 0 or nv == 0 or sin < 1e-12:
            return theta, np.zeros((2, 3))
        cos = np.cos(theta)
        dtheta_du = -(v / (nu * nv) - cos * u / nu**2) / sin
        dtheta_dv = -(u / (nu * nv) - cos * v / nv**2) / sin
        return theta, np.stack([-dtheta_du, dtheta_dv])


class Dihedral(_BondVectorCV):
    """The torsion of i-j-k-l (rad, in (-π, π], period 2π): the angle between the planes (i, j, k)
    and (j, k, l), positive clockwise looking along j -> k (IUPAC), from
    atan2(|b2| b1.(b2 x b3), (b1 x b2).(b2 x b3)) with b1, b2, b3 the bonds i->j, j->k, k->l.
    Gradients: Blondel and Karplus, J. Comput. Chem. 17, 1132 (1996); taken as 0 where three
    consecutive atoms are collinear (the torsion is undefined there)."""

    period = 2.0 * np.pi
    unit = "rad"

    def __init__(self, i: int, j: int, k: int, l: int):
        self.indices = _distinct("Dihedral", (i, j, k, l))

    def _value_and_derivatives(self, bonds):
        b1, b2, b3 = bonds
        n1, n2 = np.cross(b1, b2), np.cross(b2, b3)
        nb2 = np.linalg.norm(b2)
        phi = float(np.arctan2(nb2 * (b1 @ n2), n1 @ n2))
        n1sq, n2sq = n1 @ n1, n2 @ n2
        if nb2 == 0 or n1sq < 1e-24 or n2sq < 1e-24:
            return phi, np.zeros((3, 3))
        dphi_dri = -nb2 / n1sq * n1
        dphi_drl = nb2 / n2sq * n2
        f1, f3 = (b1 @ b2) / nb2**2, (b3 @ b2) / nb2**2
        # dphi/dr_k = f1 dphi/dr_i - (1 + f3) dphi/dr_l, and dphi/db2 = dphi/dr_k + dphi/dr_l
        return phi, np.stack([-dphi_dri, f1 * dphi_dri - f3 * dphi_drl, dphi_drl])


class CoordinationNumber(CollectiveVariable):
    """s = sum over j in ``group`` (j != i) of f(r_ij), with the rational switching function

        f(r) = (1 - (r/r0)^6) / (1 - (r/r0)^12) = 1 / (1 + (r/r0)^6)

    (the two forms are equal; the second has no removable singularity at r = r0). ``group``
    defaults to every other atom. Distances are minimum-image (one image per pair), so in a small
    periodic cell the slowly decaying tail of f beyond half the cell is not counted.
    """

    def __init__(self, i: int, group: Sequence[int] | None = None, r0: float = 3.0):
        if r0 <= 0:
            raise ConfigError("CoordinationNumber: r0 must be positive")
        self.i, self.r0 = int(i), float(r0)
        self.group = None if group is None else np.asarray(sorted(set(int(g) for g in group) - {self.i}), dtype=int)
        self.indices = (self.i, *([] if self.group is None else self.group.tolist()))

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


# name -> (class, number of atom indices; None: one atom and an optional group)
COLLECTIVE_VARIABLES = {"distance": (Distance, 2), "angle": (Angle, 3), "dihedral": (Dihedral, 4),
                        "coordination": (CoordinationNumber, None)}


def make_cv(kind: str, atoms: Sequence[int], **options) -> CollectiveVariable:
    """A CV by name (a key of :data:`COLLECTIVE_VARIABLES`) on the atom indices ``atoms``
    (``coordination``: the central atom first, then its group, or the central atom alone)."""
    if kind not in COLLECTIVE_VARIABLES:
        raise ConfigError(f"unknown collective variable {kind!r}; valid: {sorted(COLLECTIVE_VARIABLES)}")
    cls, count = COLLECTIVE_VARIABLES[kind]
    atoms = [int(a) for a in atoms]
    if count is None:
        if not atoms:
            raise ConfigError("coordination needs its central atom")
        return cls(atoms[0], group=atoms[1:] or None, **options)
    if len(atoms) != count:
        raise ConfigError(f"{kind} needs {count} atom indices, got {atoms}")
    if options:
        raise ConfigError(f"{kind} takes no options, got {sorted(options)}")
    return cls(*atoms)


__all__ = ["CollectiveVariable", "Distance", "Angle", "Dihedral", "CoordinationNumber", "COLLECTIVE_VARIABLES",
           "make_cv"]

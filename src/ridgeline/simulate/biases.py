"""Extra energy terms for MD: harmonic umbrellas on collective variables, added to any ASE
calculator by :class:`BiasedCalculator` (umbrella sampling, steered exploration).

A :class:`Bias` gives ``energy_and_forces(atoms, calc) -> (E_bias in eV, F_bias (N, 3) in eV/Å)``
with ``F_bias = -dE_bias/dr`` exactly (every bias here is conservative, so biased NVE conserves
the biased total energy). ``calc`` is the *base* calculator, already evaluated at ``atoms``.

The collective variables are :mod:`.colvars`' (values, gradients and strain gradients; a periodic
CV's umbrella acts on the wrapped difference s - s0).

Stress (constant-pressure runs): a bias gives ``stress(atoms, calc)``
(Voigt (6,), eV/Å^3, ASE's sign: (1/V) dE_bias/dε), or None where it has no stress. The stress of
:class:`BiasedCalculator` is the base's plus every bias's, and unavailable (with a message naming
the bias) when a bias gives None.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from .colvars import Angle, CollectiveVariable, CoordinationNumber, Dihedral, Distance


# ---------------------------------------------------------------------------------------- biases
class Bias:
    """An extra energy term: ``energy_and_forces(atoms, calc) -> (E_bias eV, F_bias (N, 3) eV/Å)``."""

    def energy_and_forces(self, atoms, calc=None) -> tuple[float, np.ndarray]:
        raise NotImplementedError

    def stress(self, atoms, calc=None) -> np.ndarray | None:
        """(1/V) dE_bias/dε, Voigt (6,) eV/Å^3; None where this bias has no stress."""
        return None


class HarmonicUmbrella(Bias):
    """E = 0.5 k (s - s0)^2 on a collective variable s (k in eV per CV unit squared; s - s0 wrapped
    for a periodic CV); F = -k (s - s0) ds/dr."""

    def __init__(self, cv: CollectiveVariable, center: float, k: float):
        self.cv, self.center, self.k = cv, float(center), float(k)

    def energy_and_forces(self, atoms, calc=None) -> tuple[float, np.ndarray]:
        ds = self.cv.difference(self.cv.value(atoms), self.center)
        return 0.5 * self.k * ds * ds, -self.k * ds * self.cv.gradient(atoms)

    def stress(self, atoms, calc=None) -> np.ndarray | None:
        strain = self.cv.strain_gradient(atoms)
        if strain is None:
            return None
        ds = self.cv.difference(self.cv.value(atoms), self.center)
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


__all__ = ["CollectiveVariable", "Distance", "Angle", "Dihedral", "CoordinationNumber", "Bias", "HarmonicUmbrella", "BiasedCalculator"]

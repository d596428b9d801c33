"""An uncertainty-driven bias for exploration MD: :class:`AdversarialBias` climbs the model's
uncertainty. It is a :class:`~ridgeline.simulate.biases.Bias` like the umbrellas there, and is added
to any ASE calculator by :class:`~ridgeline.simulate.biases.BiasedCalculator`.
"""

from __future__ import annotations

import numpy as np
import torch
from ase.stress import full_3x3_to_voigt_6_stress

from ..data.graph import atoms_to_batch
from ..models.derivatives import strained
from ..simulate.biases import Bias


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
    exact gradient). Its stress, (1/V) dE_bias/deps (ASE's sign), is the same derivative by a
    homogeneous strain of positions and cell (``models.derivatives.strained``), so the bias runs at
    constant pressure too.
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

    def _energy(self, atoms, stress: bool):
        batch = atoms_to_batch(atoms, self.uq.cutoff, dtype=self.uq.dtype, device=self.uq.device)
        batch, inputs = strained(batch, forces=True, stress=stress)
        var = self.variance(batch)
        energy = -self.max_energy * torch.tanh(self.k * var / (len(atoms) * self.max_energy))
        return energy, torch.autograd.grad(energy, inputs)

    def energy_and_forces(self, atoms, calc=None) -> tuple[float, np.ndarray]:
        energy, (grad,) = self._energy(atoms, stress=False)
        return float(energy.detach()), -grad.detach().cpu().double().numpy()

    def stress(self, atoms, calc=None) -> np.ndarray | None:
        if not atoms.pbc.all():
            return None
        _, (_, grad) = self._energy(atoms, stress=True)
        return full_3x3_to_voigt_6_stress(grad[0].detach().cpu().double().numpy() / atoms.get_volume())


__all__ = ["AdversarialBias"]

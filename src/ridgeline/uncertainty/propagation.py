"""Uncertainty carried to derived observables (a barrier, a formation energy, a binding energy).

``observable`` is any function of the predicted energies of a list of structures, written with
ordinary arithmetic (it receives a torch tensor ``E`` of shape (S,), eV), e.g.
``lambda E: E[1] - E[0]`` for a barrier. Its variance is obtained by linearisation,
var(f) = g^T C g with g = df/dE at the prediction:

- ensemble: C is the members' covariance of the energies (calibrated by alpha);
- single model (last-layer Laplace): C = alpha J Sigma J^T with J = dE/dw for the last layer,
  so correlations between structures (the same environments in both) are kept: a barrier's
  uncertainty is smaller than that of either energy when the structures are alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm

from .. import keys
from ..data.frame import Frame
from ..data.graph import collate, frame_to_graph
from ..models.ensemble import Ensemble
from .model import UncertaintyModel


@dataclass
class Interval:
    value: float
    sigma: float
    confidence: float
    lower: float
    upper: float
    members: list | None = None  # the observable evaluated with each ensemble member

    def __str__(self) -> str:
        return f"{self.value:.6g} ± {self.upper - self.value:.3g} ({100 * self.confidence:g}% interval)"


def _batch(uq: UncertaintyModel, structures) -> dict:
    graphs = [frame_to_graph(Frame.from_atoms(a), uq.cutoff, k) for k, a in enumerate(structures)]
    return {k: v.to(uq.device) for k, v in collate(graphs, dtype=uq.dtype).items()}


def _gradient(observable, energies: torch.Tensor) -> tuple[float, np.ndarray]:
    with torch.enable_grad():
        e = energies.detach().double().clone().requires_grad_(True)
        value = observable(e)
        if not torch.is_tensor(value) or value.numel() != 1:
            raise ValueError("the observable must return one number computed from the energies it is given")
        (grad,) = torch.autograd.grad(value, e, allow_unused=True)
    grad = torch.zeros_like(e) if grad is None else grad
    return float(value), grad.numpy()


def confidence_interval(uq: UncertaintyModel, observable, structures, confidence: float = 0.95) -> Interval:
    """Value and confidence interval of ``observable(energies of structures)``."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    batch = _batch(uq, list(structures))
    species = uq.model.species(batch[keys.NUMBERS])
    z = float(norm.ppf(0.5 * (1 + confidence)))
    members = None
    with torch.no_grad():
        if isinstance(uq.model, Ensemble):
            energies = torch.stack([out[keys.ENERGY] for out in uq.model.member_outputs(batch)]).double()  # (M, S)
            value, g = _gradient(observable, energies.mean(0))
            dev = (energies - energies.mean(0)).numpy() @ g  # (M,)
            var = float(dev @ dev) / max(len(dev) - 1, 1)
            members = [float(observable(e)) for e in energies]
        else:
            if uq.laplace is None:
                raise ValueError("this model has no posterior: run `ridgeline uq calibrate` on it first")
            out = uq.model(batch, readout=True)
            value, g = _gradient(observable, out[keys.ENERGY])
            # df/dw_Z = sum_s g_s s_Z sum_{i in s, Z} phi_i ;  var = sum_Z (df/dw_Z)^T Sigma_Z (df/dw_Z)
            phi = uq.laplace.design(out[keys.READOUT_FEATURES]) * uq.model.scale_shift.scale.double()[species][:, None]
            weight = torch.as_tensor(g)[batch[keys.BATCH]][:, None] * phi
            var = 0.0
            for e in range(uq.laplace.n_elements):
                d = weight[species == e].sum(0)
                var += float(d @ uq.laplace.covariance[e] @ d)
    sigma = float(np.sqrt(uq.alpha["energy"] * var))
    return Interval(value, sigma, confidence, value - z * sigma, value + z * sigma, members)

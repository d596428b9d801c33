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
from scipy.stats import norm

from ..data.frame import Frame
from ..data.graph import collate, frame_to_graph
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


def confidence_interval(uq: UncertaintyModel, observable, structures, confidence: float = 0.95) -> Interval:
    """Value and confidence interval of ``observable(energies of structures)`` (a Gaussian
    interval of the calibrated sigma; ``Variances.propagate`` gives the variance)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    batch = _batch(uq, list(structures))
    z = float(norm.ppf(0.5 * (1 + confidence)))
    value, var, members = uq.variances.propagate(batch, observable)
    sigma = float(np.sqrt(uq.alpha["energy"] * var))
    return Interval(value, sigma, confidence, value - z * sigma, value + z * sigma, members)

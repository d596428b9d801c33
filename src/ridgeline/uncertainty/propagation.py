"""Uncertainty carried to derived observables (a barrier, a formation energy, a binding energy).

``observable`` is any function of the predicted energies of a list of structures, written with
ordinary arithmetic (it receives a torch tensor ``E`` of shape (S,), eV), e.g.
``lambda E: E[1] - E[0]`` for a barrier. Its variance is obtained by linearisation,
var(f) = g^T C g with g = df/dE at the prediction:

- ensemble: C is the members' covariance of the energies (calibrated by alpha);
- single model (last-layer Laplace): C = alpha J Sigma J^T with J = dE/dw for the last layer,
  so correlations between structures (the same environments in both) are kept: a barrier's
  uncertainty is smaller than that of either energy when the structures are alike.

``method="sampled"`` keeps what linearisation loses for an observable that is not linear in the
energies (a rate exp(-dE/kT), a ratio): energies drawn from N(E, alpha C) with the same
covariance C, the observable evaluated on each draw, the interval between the draws' quantiles
(so a positive observable keeps a positive interval) and sigma their standard deviation; the value
stays the observable of the predicted energies. ``samples`` draws from a seeded generator.
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
    method: str = "linearised"  # "linearised" | "sampled"

    def __str__(self) -> str:
        return f"{self.value:.6g} ± {self.upper - self.value:.3g} ({100 * self.confidence:g}% interval)"


def _batch(uq: UncertaintyModel, structures) -> dict:
    graphs = [frame_to_graph(Frame.from_atoms(a), uq.cutoff, k) for k, a in enumerate(structures)]
    return {k: v.to(uq.device) for k, v in collate(graphs, dtype=uq.dtype).items()}


METHODS = ("linearised", "sampled")


def confidence_interval(uq: UncertaintyModel, observable, structures, confidence: float = 0.95,
                        method: str = "linearised", samples: int = 4000, seed: int = 0) -> Interval:
    """Value and confidence interval of ``observable(energies of structures)``: linearised (a
    Gaussian interval of the calibrated sigma; ``Variances.propagate`` gives the variance) or
    sampled (module docstring)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    batch = _batch(uq, list(structures))
    if method == "sampled":
        return _sampled(uq, observable, batch, confidence, int(samples), seed)
    z = float(norm.ppf(0.5 * (1 + confidence)))
    value, var, members = uq.variances.propagate(batch, observable)
    sigma = float(np.sqrt(uq.alpha["energy"] * var))
    return Interval(value, sigma, confidence, value - z * sigma, value + z * sigma, members)


def energy_draws(uq: UncertaintyModel, structures, samples: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The predicted energies (S,) eV of ``structures`` and ``samples`` draws (samples, S) from
    N(E, alpha C), the calibrated covariance that ``confidence_interval`` uses: whole energy
    surfaces of the model's posterior, evaluated on these structures, for an observable that needs
    every structure at once (a free-energy profile reweighted by each draw)."""
    return _draws(uq, _batch(uq, list(structures)), samples, seed)


def _draws(uq: UncertaintyModel, batch: dict, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    energies, covariance = uq.variances.energy_covariance(batch)
    draws = np.random.default_rng(seed).multivariate_normal(energies, uq.alpha["energy"] * covariance, size=samples,
                                                            method="eigh")
    return energies, draws


def _sampled(uq: UncertaintyModel, observable, batch: dict, confidence: float, samples: int, seed: int) -> Interval:
    import torch

    if samples < 100:
        raise ValueError(f"samples must be at least 100, got {samples}")
    energies, draws = _draws(uq, batch, samples, seed)
    value = float(observable(torch.as_tensor(energies, dtype=torch.float64)))
    values = np.array([float(observable(torch.as_tensor(d, dtype=torch.float64))) for d in draws])
    lower, upper = np.quantile(values, [0.5 * (1 - confidence), 0.5 * (1 + confidence)])
    return Interval(value, float(np.std(values, ddof=1)), confidence, float(lower), float(upper), None, "sampled")

"""One protocol for the variances of a committee and of a single model's last-layer posterior.

:class:`Variances` is what ``UncertaintyModel``, ``confidence_interval``, the adversarial bias and
the selectors ask of an uncertainty method; ``committee.CommitteeVariances`` (an ensemble's
spread) and ``laplace.LaplaceVariances`` (a last-layer Laplace posterior bound to its model)
answer it. ``UncertaintyModel`` picks the one that serves a model, in one place.

Every variance here is uncalibrated: the calibration's alpha (``UncertaintyModel.alpha``) applies
on top. Units: energies eV, forces eV/Å, so energy variances are eV^2 and force variances
(eV/Å)^2.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np
import torch


class Variances(Protocol):
    """The variances of one uncertainty method, batch by batch (a batch: ``data.graph.collate``'s dict)."""

    method: str  # "ensemble" | "laplace": the name model files and reports give the method
    posterior: object | None  # what the model file keeps beyond the model (a LastLayerLaplace), None for a committee

    @property
    def readout_model(self) -> torch.nn.Module:
        """The model whose descriptors and readout features stand for this one (a committee's
        member 0, as ``Ensemble.forward(readout=True)`` gives them)."""

    @property
    def available(self) -> bool:
        """Whether variances can be given (a single model needs a fitted posterior)."""

    def fit(self, frames: Sequence, options, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Fit what the variances need from the training ``frames`` (a committee: nothing; a single
        model: its posterior) with ``options`` (``UncertaintyOptions``), in one readout pass that also
        gives the training atoms' descriptors (N, D) float64 and species (N,), returned for the
        domain models."""

    def outputs(self, batch: dict, stress: bool = False) -> dict:
        """Predictions and variances, detached: the means under ``keys.ENERGY`` (G,),
        ``keys.ATOMIC_ENERGIES`` (N,), ``keys.FORCES`` (N, 3) (and ``keys.STRESS`` (G, 3, 3) with
        ``stress``) and ``keys.DESCRIPTORS``; ``energy_var`` (G,) and ``energies_var`` (N,) in eV^2,
        ``forces_var`` (N,) in (eV/Å)^2 per Cartesian component (isotropic); where there are
        members, ``member_energy`` (M, G) eV and ``member_forces`` (M, N, 3) eV/Å."""

    def energy_variance(self, batch: dict) -> torch.Tensor:
        """Each structure's energy variance (G,) in eV^2, differentiable with respect to the
        batch's positions (for a bias that climbs it)."""

    def posterior_models(self, n: int, seed: int = 0) -> list[torch.nn.Module]:
        """Models drawn from the posterior, for observables that are not functions of energies
        (stress-strain slopes, force constants): a committee's members (``n`` is ignored), or
        ``n`` copies of a single model with its last layer drawn from the (uncalibrated) Laplace
        posterior. Their spread times sqrt(alpha) is the calibrated sigma either way."""

    def energy_covariance(self, batch: dict) -> tuple[np.ndarray, np.ndarray]:
        """The batch's predicted energies (S,) eV and their covariance (S, S) eV^2, with the
        correlations between structures (a committee's members; a single model's J Sigma J^T), for
        sampling an observable that is not linear in them."""

    def propagate(self, batch: dict, observable: Callable) -> tuple[float, float, list | None]:
        """``observable(E)`` of the batch's energies E (S,) at the prediction, its variance (in the
        observable's units squared) by linearisation, and its value with each member (None
        without members)."""


def observable_gradient(observable: Callable, energies: torch.Tensor) -> tuple[float, np.ndarray]:
    """``observable(energies)`` and its gradient by the energies (numpy, float64)."""
    with torch.enable_grad():
        e = energies.detach().double().clone().requires_grad_(True)
        value = observable(e)
        if not torch.is_tensor(value) or value.numel() != 1:
            raise ValueError("the observable must return one number computed from the energies it is given")
        (grad,) = torch.autograd.grad(value, e, allow_unused=True)
    grad = torch.zeros_like(e) if grad is None else grad
    return float(value), grad.numpy()


def training_descriptors(passes, each: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Descriptors (N, D) float64 and species (N,) of every atom of ``passes.readout_passes``'s
    batches, as numpy; ``each(hidden, species)`` is called on every batch on the way."""
    xs, ss = [], []
    for x, h, s in passes:
        if each is not None:
            each(h, s)
        xs.append(x.cpu().double().numpy())
        ss.append(s.cpu().numpy())
    return np.concatenate(xs), np.concatenate(ss)


__all__ = ["Variances", "observable_gradient", "training_descriptors"]

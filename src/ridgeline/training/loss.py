"""Force-matching loss: per-atom energy error, force vector error, optional stress error.
Labels a frame does not have are masked out, never treated as zero.

The force term is the squared error ("mse") or a Huber penalty ("huber", as MACE's huber loss):
the squared error below ``huber_delta`` and linear above it, scaled so that both agree on small
errors (2 * torch's huber_loss). A linear tail follows the mean absolute error that the
benchmarks report, and a few hot atoms with large force errors no longer dominate the fit."""

from __future__ import annotations

import torch

from .. import keys


FORCE_LOSSES = ("mse", "huber")
# which part of the stress error is fitted: all of it, or its deviatoric (traceless) part only,
# which an isotropic offset of the labels (a plane-wave code's Pulay stress) does not reach
STRESS_COMPONENTS = ("full", "deviatoric")
# training.stress_weight where the config leaves it unset and training frames carry a stress,
# (eV/Å^3)^-2: a 0.2 GPa stress error then weighs ~6% of a 0.05 eV/Å force error
DEFAULT_STRESS_WEIGHT = 100.0


def penalty(diff: torch.Tensor, kind: str = "mse", delta: float = 0.01) -> torch.Tensor:
    """Elementwise penalty of an error: diff^2, or 2 * Huber(diff, delta) (= diff^2 below delta,
    2 delta |diff| - delta^2 above)."""
    if kind == "mse":
        return diff.pow(2)
    if kind == "huber":
        return 2.0 * torch.nn.functional.huber_loss(diff, torch.zeros_like(diff), reduction="none", delta=delta)
    raise ValueError(f"force loss {kind!r}: expected one of {FORCE_LOSSES}")


def deviatoric(diff: torch.Tensor) -> torch.Tensor:
    """The traceless part of (..., 3, 3) stress tensors: diff - tr(diff)/3 I."""
    trace = diff.diagonal(dim1=-2, dim2=-1).sum(-1)
    return diff - (trace / 3.0)[..., None, None] * torch.eye(3, dtype=diff.dtype, device=diff.device)


def deviatoric_voigt(stress):
    """The traceless part of (F, 6) Voigt stresses (xx yy zz yz xz xy; numpy): the mean of the
    normal components taken off each of them."""
    out = stress.copy()
    out[:, :3] -= stress[:, :3].mean(1, keepdims=True)
    return out


def _masked_penalty_sum(diff: torch.Tensor, mask: torch.Tensor, kind: str = "mse", delta: float = 0.01) -> torch.Tensor:
    """Sum of the penalty over the labelled entries only (absent labels are never zeros)."""
    return penalty(diff[mask], kind, delta).sum()


class WeightedLoss:
    """w_E mean((dE/N)^2) + w_F mean(p(dF)) + w_S mean(dsigma^2) over the labelled entries, p the
    force penalty (``forces_loss``: "mse" = dF^2, or "huber" with ``huber_delta`` in eV/Å);
    ``stress_components``: "deviatoric" fits the traceless part of the stress error only.

    ``counts`` (from ``counts()``, summed over processes in a data-parallel run) replaces the local
    number of entries in each mean, so that the shares of a batch add up to the whole-batch loss.
    """

    def __init__(self, energy_weight=1.0, forces_weight=1.0, stress_weight=0.0, forces_loss="mse", huber_delta=0.01,
                 stress_components="full"):
        if forces_loss not in FORCE_LOSSES:
            raise ValueError(f"force loss {forces_loss!r}: expected one of {FORCE_LOSSES}")
        if stress_components not in STRESS_COMPONENTS:
            raise ValueError(f"stress components {stress_components!r}: expected one of {STRESS_COMPONENTS}")
        self.weights = {"energy": energy_weight, "forces": forces_weight, "stress": stress_weight}
        self.forces_loss, self.huber_delta, self.stress_components = forces_loss, huber_delta, stress_components

    @property
    def needs_stress(self) -> bool:
        return self.weights["stress"] > 0

    def _penalty_sums(self, pred: dict, batch: dict) -> dict:
        n = batch[keys.N_ATOMS].to(pred[keys.ENERGY].dtype)
        out = {
            "energy": _masked_penalty_sum((pred[keys.ENERGY] - batch[keys.ENERGY]) / n, batch[keys.HAS_ENERGY]),
            "forces": _masked_penalty_sum(pred[keys.FORCES] - batch[keys.FORCES], batch[keys.HAS_FORCES],
                                          self.forces_loss, self.huber_delta),
        }
        if self.needs_stress:
            diff = pred[keys.STRESS] - batch[keys.STRESS]
            out["stress"] = _masked_penalty_sum(deviatoric(diff) if self.stress_components == "deviatoric" else diff,
                                                batch[keys.HAS_STRESS])
        return out

    def counts(self, batch: dict | None) -> torch.Tensor:
        """Labelled entries of each term in ``batch`` (energy frames, force components, stress components)."""
        if batch is None:
            return torch.zeros(3, dtype=torch.float64)
        return torch.tensor([
            float(batch[keys.HAS_ENERGY].sum()),
            3.0 * float(batch[keys.HAS_FORCES].sum()),
            9.0 * float(batch[keys.HAS_STRESS].sum()) if self.needs_stress else 0.0,
        ], dtype=torch.float64)

    def __call__(self, pred: dict, batch: dict, counts: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        sums = self._penalty_sums(pred, batch)
        counts = self.counts(batch) if counts is None else counts
        terms = {k: sq / max(float(counts[i]), 1.0) for i, (k, sq) in enumerate(sums.items())}
        total = sum(self.weights[k] * v for k, v in terms.items())
        return total, {k: float(v.detach()) for k, v in terms.items()}

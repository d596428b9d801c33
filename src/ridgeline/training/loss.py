"""Force-matching loss: per-atom energy error, force vector error, optional stress error.
Labels a frame does not have are masked out, never treated as zero."""

from __future__ import annotations

import torch

from .. import keys


def _masked_sq_sum(diff: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of squares over the labelled entries only (absent labels are never zeros)."""
    return diff[mask].pow(2).sum()


class WeightedLoss:
    """w_E mean((dE/N)^2) + w_F mean(dF^2) + w_S mean(dsigma^2) over the labelled entries.

    ``counts`` (from ``counts()``, summed over processes in a data-parallel run) replaces the local
    number of entries in each mean, so that the shares of a batch add up to the whole-batch loss.
    """

    def __init__(self, energy_weight=1.0, forces_weight=1.0, stress_weight=0.0):
        self.weights = {"energy": energy_weight, "forces": forces_weight, "stress": stress_weight}

    @property
    def needs_stress(self) -> bool:
        return self.weights["stress"] > 0

    def _sq_sums(self, pred: dict, batch: dict) -> dict:
        n = batch[keys.N_ATOMS].to(pred[keys.ENERGY].dtype)
        out = {
            "energy": _masked_sq_sum((pred[keys.ENERGY] - batch[keys.ENERGY]) / n, batch[keys.HAS_ENERGY]),
            "forces": _masked_sq_sum(pred[keys.FORCES] - batch[keys.FORCES], batch[keys.HAS_FORCES]),
        }
        if self.needs_stress:
            out["stress"] = _masked_sq_sum(pred[keys.STRESS] - batch[keys.STRESS], batch[keys.HAS_STRESS])
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
        sums = self._sq_sums(pred, batch)
        counts = self.counts(batch) if counts is None else counts
        terms = {k: sq / max(float(counts[i]), 1.0) for i, (k, sq) in enumerate(sums.items())}
        total = sum(self.weights[k] * v for k, v in terms.items())
        return total, {k: float(v.detach()) for k, v in terms.items()}

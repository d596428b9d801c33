"""Force-matching loss: per-atom energy error, force vector error, optional stress error.
Labels a frame does not have are masked out, never treated as zero."""

from __future__ import annotations

import torch

from .. import keys


def _masked_mse(diff: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if not mask.any():
        return diff.new_zeros(())
    return diff[mask].pow(2).mean()


class WeightedLoss:
    def __init__(self, energy_weight=1.0, forces_weight=1.0, stress_weight=0.0):
        self.energy_weight = energy_weight
        self.forces_weight = forces_weight
        self.stress_weight = stress_weight

    @property
    def needs_stress(self) -> bool:
        return self.stress_weight > 0

    def terms(self, pred: dict, batch: dict) -> dict:
        n = batch[keys.N_ATOMS].to(pred[keys.ENERGY].dtype)
        out = {
            "energy": _masked_mse((pred[keys.ENERGY] - batch[keys.ENERGY]) / n, batch[keys.HAS_ENERGY]),
            "forces": _masked_mse(pred[keys.FORCES] - batch[keys.FORCES], batch[keys.HAS_FORCES]),
        }
        if self.needs_stress:
            out["stress"] = _masked_mse(pred[keys.STRESS] - batch[keys.STRESS], batch[keys.HAS_STRESS])
        return out

    def __call__(self, pred: dict, batch: dict) -> tuple[torch.Tensor, dict]:
        terms = self.terms(pred, batch)
        total = self.energy_weight * terms["energy"] + self.forces_weight * terms["forces"]
        if self.needs_stress:
            total = total + self.stress_weight * terms["stress"]
        return total, {k: float(v.detach()) for k, v in terms.items()}

"""Smooth cutoff functions f_c(r): 1 at r = 0, 0 with vanishing derivatives at r = r_c."""

from __future__ import annotations

import math

import torch


class CosineCutoff(torch.nn.Module):
    """Behler's cosine cutoff 0.5 (cos(pi r / r_c) + 1): value and first derivative vanish at r_c."""

    def __init__(self, cutoff: float):
        super().__init__()
        self.cutoff = float(cutoff)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        fc = 0.5 * (torch.cos(r * (math.pi / self.cutoff)) + 1.0)
        return torch.where(r < self.cutoff, fc, torch.zeros_like(r))


class PolynomialCutoff(torch.nn.Module):
    """Polynomial envelope of order p (Gasteiger et al., DimeNet, 2020): C^2 at r_c for p >= 2,
    so forces and their derivatives are continuous when an atom crosses the cutoff."""

    def __init__(self, cutoff: float, p: int = 6):
        super().__init__()
        self.cutoff = float(cutoff)
        self.p = int(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = r / self.cutoff
        fc = (
            1.0
            - 0.5 * (p + 1) * (p + 2) * x.pow(p)
            + p * (p + 2) * x.pow(p + 1)
            - 0.5 * p * (p + 1) * x.pow(p + 2)
        )
        return torch.where(x < 1.0, fc, torch.zeros_like(r))


CUTOFFS = {"cosine": CosineCutoff, "polynomial": PolynomialCutoff}


def build_cutoff(name: str, cutoff: float) -> torch.nn.Module:
    if name not in CUTOFFS:
        raise ValueError(f"unknown cutoff function {name!r}; choose one of {sorted(CUTOFFS)}")
    return CUTOFFS[name](cutoff)

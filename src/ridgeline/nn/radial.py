"""Radial bases on [0, r_c]: smooth, cut off, and combined with learnable weights by the models."""

from __future__ import annotations

import math

import torch

from .cutoff import PolynomialCutoff


class BesselBasis(torch.nn.Module):
    """sqrt(2/r_c) sin(n pi r / r_c) / r, n = 1..K (DimeNet, Gasteiger et al. 2020), times a smooth
    cutoff envelope, so every basis function and its derivative vanish at r_c."""

    def __init__(self, cutoff: float, n_basis: int = 8, envelope: torch.nn.Module | None = None):
        super().__init__()
        self.cutoff = float(cutoff)
        self.register_buffer("frequencies", math.pi / self.cutoff * torch.arange(1, n_basis + 1, dtype=torch.get_default_dtype()))
        self.envelope = envelope if envelope is not None else PolynomialCutoff(cutoff)
        self.n_basis = n_basis

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        r = r[:, None]
        return math.sqrt(2.0 / self.cutoff) * torch.sin(self.frequencies * r) / r * self.envelope(r)

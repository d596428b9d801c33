"""Ziegler-Biersack-Littmark (ZBL) universal screened nuclear repulsion, switched off smoothly
beyond the sum of covalent radii: atoms pushed together repel even where no data exist."""

from __future__ import annotations

import torch
from ase.data import covalent_radii

from .cutoff import PolynomialCutoff

# ZBL universal screening function (Ziegler, Biersack, Littmark 1985)
_ZBL_C = (0.18175, 0.50986, 0.28022, 0.02817)
_ZBL_D = (3.19980, 0.94229, 0.40290, 0.20162)
_COULOMB = 14.399645478425668  # e^2 / (4 pi eps0) in eV Å
_BOHR = 0.52917721067  # Å
_SCREENING = 0.8854 * _BOHR  # universal screening length a = 0.8854 a0 / (Z_i^0.23 + Z_j^0.23), Å


class ZBLRepulsion(torch.nn.Module):
    """Per-edge pair energy V_ZBL(r) f(r / r_sw), halved because every pair appears twice."""

    def __init__(self, elements: list[int]):
        super().__init__()
        self.register_buffer("z", torch.tensor(elements, dtype=torch.get_default_dtype()))
        self.register_buffer("radii", torch.tensor([covalent_radii[z] for z in elements], dtype=torch.get_default_dtype()))
        self.envelope = PolynomialCutoff(1.0, p=6)
        # the largest switch radius, Å: the core is exactly zero beyond it
        self.max_switch = 2.0 * max(covalent_radii[z] for z in elements)

    def forward(self, lengths: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        zi, zj = self.z[species_i], self.z[species_j]
        a = _SCREENING / (zi.pow(0.23) + zj.pow(0.23))
        x = lengths / a
        phi = sum(c * torch.exp(-d * x) for c, d in zip(_ZBL_C, _ZBL_D))
        r_switch = self.radii[species_i] + self.radii[species_j]
        return 0.5 * _COULOMB * zi * zj / lengths * phi * self.envelope(lengths / r_switch)

"""Ziegler-Biersack-Littmark (ZBL) universal screened nuclear repulsion, switched off smoothly at
a radius per element pair: atoms pushed together repel even where no data exist."""

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

# where the core is switched off: "covalent", at the sum of the pair's covalent radii (MACE's
# ZBLBasis); "data", just below the pair's shortest distance in the training set where that is shorter,
# so that the core stays below the data and the learned part alone fits them (the covalent
# switch reaches into Si's and Mo's shortest bonds, and into bcc Mo's whole first shell;
# docs/moment_network.md, session 18)
SWITCHES = ("covalent", "data")
DATA_MARGIN = 0.95  # "data": the switch at this fraction of the shortest training distance


class ZBLRepulsion(torch.nn.Module):
    """Per-edge pair energy V_ZBL(r) f(r / r_sw), halved because every pair appears twice.
    ``switch_radius`` (n_elements, n_elements), Å: the sums of covalent radii, or just below the
    shortest distances of the training data where those are shorter (``fit_switch``)."""

    def __init__(self, elements: list[int]):
        super().__init__()
        self.register_buffer("z", torch.tensor(elements, dtype=torch.get_default_dtype()))
        self.register_buffer("switch_radius", self._covalent_sums(torch.get_default_dtype(), None))
        self.envelope = PolynomialCutoff(1.0, p=6)
        self._update_max_switch()

    def _covalent_sums(self, dtype, device) -> torch.Tensor:
        """(n_elements, n_elements): the sums of the pairs' covalent radii, Å."""
        radii = torch.tensor([covalent_radii[int(z)] for z in self.z], dtype=torch.float64, device=device)
        return (radii[:, None] + radii[None, :]).to(dtype)

    def _update_max_switch(self) -> None:
        # the largest switch radius, Å: the core is exactly zero beyond it (a float: no sync per call)
        self.max_switch = float(self.switch_radius.max())

    def _load_from_state_dict(self, state, prefix, *args, **kwargs):
        # files from before the switch radius was a buffer kept the covalent radii: theirs was the covalent sum
        radii = state.pop(f"{prefix}radii", None)
        if radii is not None and f"{prefix}switch_radius" not in state:
            state[f"{prefix}switch_radius"] = radii[:, None] + radii[None, :]
        super()._load_from_state_dict(state, prefix, *args, **kwargs)
        self._update_max_switch()

    @torch.no_grad()
    def fit_switch(self, lengths: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> None:
        """Switch each pair off just below (``DATA_MARGIN``) its shortest distance among ``lengths``
        (edges of the training data) where that is below the sum of covalent radii, but not below
        half of it (a few overlapping atoms in the data do not switch the core off); pairs not
        seen keep the covalent one. The margin keeps the data's shortest pair off the switch,
        where the envelope's third derivative jumps."""
        switch = self._covalent_sums(self.switch_radius.dtype, self.switch_radius.device)
        K = len(switch)
        pair = species_i * K + species_j
        shortest = torch.full((K * K,), float("inf"), dtype=switch.dtype, device=switch.device)
        shortest = shortest.scatter_reduce(0, pair, lengths.to(switch.dtype), reduce="amin")
        shortest = shortest.view(K, K)
        shortest = torch.minimum(shortest, shortest.T)  # a pair is unordered
        self.switch_radius.copy_(torch.minimum(switch, torch.maximum(DATA_MARGIN * shortest, 0.5 * switch)))
        self._update_max_switch()

    def forward(self, lengths: torch.Tensor, species_i: torch.Tensor, species_j: torch.Tensor) -> torch.Tensor:
        zi, zj = self.z[species_i], self.z[species_j]
        a = _SCREENING / (zi.pow(0.23) + zj.pow(0.23))
        x = lengths / a
        phi = sum(c * torch.exp(-d * x) for c, d in zip(_ZBL_C, _ZBL_D))
        r_switch = self.switch_radius[species_i, species_j]
        return 0.5 * _COULOMB * zi * zj / lengths * phi * self.envelope(lengths / r_switch)

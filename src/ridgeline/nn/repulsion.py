"""Ziegler-Biersack-Littmark (ZBL) universal screened nuclear repulsion, switched off smoothly at
a radius per element pair: atoms pushed together repel even where no data exist."""

from __future__ import annotations

import torch
from ase.data import covalent_radii

from .. import keys
from .cutoff import PolynomialCutoff
from .scatter import scatter_sum
from .tracing import tracing

# ZBL universal screening function (Ziegler, Biersack, Littmark 1985)
_ZBL_C = (0.18175, 0.50986, 0.28022, 0.02817)
_ZBL_D = (3.19980, 0.94229, 0.40290, 0.20162)
_COULOMB = 14.399645478425668  # e^2 / (4 pi eps0) in eV Å
_BOHR = 0.52917721067  # Å
_SCREENING = 0.8854 * _BOHR  # universal screening length a = 0.8854 a0 / (Z_i^0.23 + Z_j^0.23), Å

# where the core is switched off: "covalent", at the sum of the pair's covalent radii (MACE's
# ZBLBasis); "data", just below the pair's shortest distance in the training set where that is
# shorter, so that the core stays below the data and the learned part alone fits them (the
# covalent switch reaches into Si's and Mo's shortest bonds, and into bcc Mo's whole first shell;
# docs/results_log.md)
SWITCHES = ("covalent", "data")
DATA_MARGIN = 0.95  # "data": the switch at this fraction of the shortest training distance


class ZBLRepulsion(torch.nn.Module):
    """Per-edge pair energy V_ZBL(r) f(r / r_sw), halved because every pair appears twice.
    ``switch_radius`` (n_elements, n_elements), Å: the sums of covalent radii, or with
    ``switch="data"`` just below the shortest distances of the training data where those are
    shorter (``fit_switch``, from ``fit_statistics``).

    An energy term of a model (``models.sum``): ``atomic_energies`` gives each atom's share."""

    def __init__(self, elements: list[int], switch: str = "data"):
        super().__init__()
        if switch not in SWITCHES:
            raise ValueError(f"zbl_switch must be one of {', '.join(SWITCHES)}, got {switch!r}")
        self.switch = switch
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

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._update_max_switch()

    def params(self) -> dict:
        """What rebuilds this term (saved in the model file's description)."""
        return {"switch": self.switch}

    @torch.no_grad()
    def fit_statistics(self, geometries) -> None:
        """``switch="data"``: the switch from the training edges; ``geometries``: (batch, species,
        edge lengths) of each training batch."""
        if self.switch != "data":
            return
        lengths, pi, pj = [], [], []
        for batch, species, edge_lengths in geometries:
            i, j = batch[keys.EDGE_INDEX]
            lengths.append(edge_lengths)
            pi.append(species[i])
            pj.append(species[j])
        self.fit_switch(torch.cat(lengths), torch.cat(pi), torch.cat(pj))

    def atomic_energies(self, batch: dict, species: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(N,) eV: each atom's half of its pairs' energies, summed over the edges inside the
        largest switch radius only (the core is exactly zero beyond it, and most edges are)."""
        i, j = batch[keys.EDGE_INDEX]
        if tracing():  # every edge: no shape may depend on the data
            return scatter_sum(self(lengths, species[i], species[j]), i, species.shape[0])
        short = torch.nonzero(lengths < self.max_switch).squeeze(1)
        return scatter_sum(self(lengths[short], species[i[short]], species[j[short]]), i[short], species.shape[0])

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

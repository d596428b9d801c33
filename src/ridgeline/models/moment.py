"""Moment tensor network: learnable radial functions, Cartesian moment tensors up to rank 3,
body-ordered invariant contractions (2- to 5-body), a per-element network readout, and a ZBL
core. One layer is local (MTP/ACE-like); each further layer lets the neighbours' invariant
features of the layer before weight the radial functions (scalar messages, as the node features
of MACE's interaction), which doubles the receptive field. Cost linear in atoms."""

from __future__ import annotations

import torch

from .. import keys
from ..nn.moments import CartesianMoments, MomentInvariants
from ..nn.radial import BesselBasis
from ..nn.readout import ElementMLPs, Standardize
from ..nn.repulsion import ZBLRepulsion
from ..nn.scatter import scatter_sum
from .base import EnergyModel

DEFAULT_INVARIANTS = ("0", "11", "22", "33", "121", "222", "123", "233", "1221", "2222", "1331")

PRESETS = {
    "small": dict(channels=8, n_basis=8, hidden=[32, 32]),
    "medium": dict(channels=16, n_basis=8, hidden=[64, 64]),
    "large": dict(channels=32, n_basis=10, hidden=[128, 128]),
}


class MomentLayer(torch.nn.Module):
    """Radial functions -> moments -> invariants -> per-element standardisation."""

    def __init__(self, n_elements: int, n_basis: int, channels: int, invariants: tuple[str, ...], n_messages: int = 0):
        super().__init__()
        self.invariants = MomentInvariants(channels, invariants)
        width = (self.invariants.max_rank + 1) * channels
        # radial weights per ordered element pair (centre, neighbour), per rank and channel
        self.radial_weights = torch.nn.Parameter(torch.randn(n_elements * n_elements, n_basis, width) / n_basis**0.5)
        self.message = torch.nn.Linear(n_messages, width, bias=True) if n_messages else None
        self.standardize = Standardize(n_elements, self.invariants.n_features)
        self.channels = channels

    def radial(self, basis, pair, neighbor_features=None) -> list[torch.Tensor]:
        if self.radial_weights.shape[0] == 1:
            r = basis @ self.radial_weights[0]
        else:
            r = torch.einsum("ek,ekc->ec", basis, self.radial_weights[pair])
        if self.message is not None:
            r = r * self.message(neighbor_features)
        C = self.channels
        return [r[:, nu * C:(nu + 1) * C] for nu in range(self.invariants.max_rank + 1)]


class MomentNetwork(EnergyModel):
    architecture = "moment"
    atom_block = 512  # atoms per block of the per-atom part (a speed setting, not a hyperparameter)

    def __init__(
        self,
        elements: list[int],
        cutoff: float = 5.0,
        channels: int = 16,
        n_basis: int = 8,
        hidden: list[int] = (64, 64),
        invariants: list[str] = DEFAULT_INVARIANTS,
        layers: int = 1,
        zbl: bool = True,
    ):
        super().__init__(elements, cutoff)
        self._hp = dict(cutoff=float(cutoff), channels=int(channels), n_basis=int(n_basis), hidden=[int(h) for h in hidden],
                        invariants=list(invariants), layers=int(layers), zbl=bool(zbl))
        K = self.n_elements
        self.basis = BesselBasis(cutoff, n_basis)
        n_inv = len(invariants) * channels
        self.layers = torch.nn.ModuleList(
            MomentLayer(K, n_basis, channels, tuple(invariants), n_messages=n_inv if k else 0) for k in range(int(layers))
        )
        self.moments = CartesianMoments(self.layers[0].invariants.max_rank)
        self.register_buffer("avg_num_neighbors", torch.tensor(1.0))
        self.networks = ElementMLPs(K, n_inv * len(self.layers), self._hp["hidden"])
        self.zbl = ZBLRepulsion(self.elements) if zbl else None

    def hyperparameters(self) -> dict:
        return dict(elements=self.elements, **self._hp)

    def _layer_moments(self, layer, basis, unit, i, j, species, previous=None) -> list[torch.Tensor]:
        """Moment tensors of one layer; ``previous``: the layer before's features (messages)."""
        pair = species[i] * self.n_elements + species[j]
        radial = layer.radial(basis, pair, None if previous is None else previous[j])
        return self.moments([r / self.avg_num_neighbors for r in radial], unit, i, len(species))

    def _layer_features(self, layer, basis, unit, i, j, species, previous=None) -> torch.Tensor:
        """Standardised invariants of one layer, (n_atoms, n_invariants * channels)."""
        moments = self._layer_moments(layer, basis, unit, i, j, species, previous)
        # the per-atom part runs in blocks of atoms: each block's tensors (and their gradients in
        # the backward pass) stay in cache, which keeps the cost per atom flat for large systems
        blocks = []
        for start in range(0, len(species), self.atom_block):
            part = slice(start, start + self.atom_block)
            blocks.append(layer.standardize(layer.invariants([m[part] for m in moments]), species[part]))
        return torch.cat(blocks) if len(blocks) != 1 else blocks[0]

    def _features(self, batch: dict, species: torch.Tensor, n_layers: int | None = None):
        vectors, lengths = self.edge_geometry(batch)
        i, j = batch[keys.EDGE_INDEX]
        basis, unit = self.basis(lengths), vectors / lengths[:, None]
        features = []
        for layer in self.layers[:n_layers]:
            features.append(self._layer_features(layer, basis, unit, i, j, species, features[-1] if features else None))
        return features, lengths, i, j

    def environment_moments(self, batch: dict, species: torch.Tensor | None = None) -> list[torch.Tensor]:
        """First-layer moment tensors M^nu, each (n_atoms, 3, ..., 3, channels) with nu Cartesian axes: equivariant."""
        species = self.species(batch[keys.NUMBERS]) if species is None else species
        vectors, lengths = self.edge_geometry(batch)
        i, j = batch[keys.EDGE_INDEX]
        return self._layer_moments(self.layers[0], self.basis(lengths), vectors / lengths[:, None], i, j, species)

    def atomic_features(self, batch: dict, species: torch.Tensor | None = None) -> torch.Tensor:
        """Rotation-invariant body-ordered features of all layers (n_atoms, layers * n_invariants * channels)."""
        species = self.species(batch[keys.NUMBERS]) if species is None else species
        return torch.cat(self._features(batch, species)[0], dim=1)

    def readout_inputs(self, batch: dict, species: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        features, lengths, i, j = self._features(batch, species)
        core = None if self.zbl is None else scatter_sum(self.zbl(lengths, species[i], species[j]), i, len(species))
        return torch.cat(features, dim=1), core

    @torch.no_grad()
    def fit_statistics(self, batches, atomic_energies, scale) -> None:
        """Element references and scales, the average number of neighbours, then each layer's
        feature statistics in turn (a layer's inputs depend on the statistics before it)."""
        super().fit_statistics(batches, atomic_energies, scale)
        batches = list(batches)
        n_edges = sum(b[keys.EDGE_INDEX].shape[1] for b in batches)
        n_atoms = sum(len(b[keys.NUMBERS]) for b in batches)
        self.avg_num_neighbors.fill_(max(n_edges / max(n_atoms, 1), 1.0))
        for k, layer in enumerate(self.layers):
            layer.standardize.mean.zero_()
            layer.standardize.std.fill_(1.0)
            raw, species = [], []
            for batch in batches:
                s = self.species(batch[keys.NUMBERS])
                raw.append(self._features(batch, s, n_layers=k + 1)[0][-1])
                species.append(s)
            layer.standardize.fit(torch.cat(raw), torch.cat(species))

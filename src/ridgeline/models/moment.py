"""Moment tensor network: learnable radial functions, Cartesian moment tensors up to rank 3,
body-ordered invariant contractions (2- to 5-body), a per-element network readout, and a ZBL
core. A single local layer (no message passing): cost linear in atoms with a small constant."""

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
        zbl: bool = True,
    ):
        super().__init__(elements, cutoff)
        self._hp = dict(cutoff=float(cutoff), channels=int(channels), n_basis=int(n_basis), hidden=[int(h) for h in hidden],
                        invariants=list(invariants), zbl=bool(zbl))
        self.basis = BesselBasis(cutoff, n_basis)
        self.invariants = MomentInvariants(channels, tuple(invariants))
        max_rank = self.invariants.max_rank
        # radial weights per ordered element pair (centre, neighbour), per rank and channel
        K = self.n_elements
        self.radial_weights = torch.nn.Parameter(torch.randn(K * K, n_basis, (max_rank + 1) * channels) / n_basis**0.5)
        self.moments = CartesianMoments(max_rank)
        self.register_buffer("avg_num_neighbors", torch.tensor(1.0))
        self.standardize = Standardize(K, self.invariants.n_features)
        self.networks = ElementMLPs(K, self.invariants.n_features, self._hp["hidden"])
        self.zbl = ZBLRepulsion(self.elements) if zbl else None

    def hyperparameters(self) -> dict:
        return dict(elements=self.elements, **self._hp)

    def _moments(self, vectors, lengths, i, j, species) -> list[torch.Tensor]:
        basis = self.basis(lengths)  # (E, n_basis)
        if self.n_elements == 1:
            radial = basis @ self.radial_weights[0]
        else:
            pair = species[i] * self.n_elements + species[j]
            radial = torch.einsum("ek,ekc->ec", basis, self.radial_weights[pair])
        radial = radial / self.avg_num_neighbors
        C = self._hp["channels"]
        per_rank = [radial[:, nu * C:(nu + 1) * C] for nu in range(self.moments.max_rank + 1)]
        return self.moments(per_rank, vectors / lengths[:, None], i, len(species))

    def environment_moments(self, batch: dict, species: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Moment tensors M^nu, each (n_atoms, channels, 3, ..., 3) with nu Cartesian axes: equivariant."""
        species = self.species(batch[keys.NUMBERS]) if species is None else species
        vectors, lengths = self.edge_geometry(batch)
        return self._moments(vectors, lengths, *batch[keys.EDGE_INDEX], species)

    def atomic_features(self, batch: dict, species: torch.Tensor | None = None) -> torch.Tensor:
        """Rotation-invariant body-ordered features (n_atoms, n_invariants * channels)."""
        return self.invariants(self.environment_moments(batch, species))

    def forward(self, batch: dict) -> dict:
        species = self.species(batch[keys.NUMBERS])
        vectors, lengths = self.edge_geometry(batch)
        i, j = batch[keys.EDGE_INDEX]
        moments = self._moments(vectors, lengths, i, j, species)
        # the per-atom part runs in blocks of atoms: each block's tensors (and their gradients in
        # the backward pass) stay in cache, which keeps the cost per atom flat for large systems
        blocks = []
        for start in range(0, len(species), self.atom_block):
            part = slice(start, start + self.atom_block)
            s = species[part]
            features = self.invariants([m[part] for m in moments])
            blocks.append(self.networks(self.standardize(features, s), s))
        atomic = self.scale_shift(torch.cat(blocks) if len(blocks) != 1 else blocks[0], species)
        if self.zbl is not None:
            atomic = atomic + scatter_sum(self.zbl(lengths, species[i], species[j]), i, len(species))
        energy = scatter_sum(atomic, batch[keys.BATCH], len(batch[keys.N_ATOMS]))
        return {keys.ATOMIC_ENERGIES: atomic, keys.ENERGY: energy}

    @torch.no_grad()
    def fit_statistics(self, batches, atomic_energies, scale) -> None:
        super().fit_statistics(batches, atomic_energies, scale)
        batches = list(batches)
        n_edges = sum(b[keys.EDGE_INDEX].shape[1] for b in batches)
        n_atoms = sum(len(b[keys.NUMBERS]) for b in batches)
        self.avg_num_neighbors.fill_(max(n_edges / max(n_atoms, 1), 1.0))
        feats, species = [], []
        for batch in batches:
            s = self.species(batch[keys.NUMBERS])
            feats.append(self.atomic_features(batch, s))
            species.append(s)
        self.standardize.fit(torch.cat(feats), torch.cat(species))

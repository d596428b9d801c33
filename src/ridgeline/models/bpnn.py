"""High-dimensional neural network potential of Behler-Parrinello type: symmetry functions
(G2, G5), standardised per element, fed to one network per element."""

from __future__ import annotations

import torch

from .. import keys
from ..nn.readout import ElementMLPs, Standardize
from ..nn.symmetry_functions import SymmetryFunctions
from .base import EnergyModel, shared_value

# size presets: chosen by name in the training config (model.preset)
PRESETS = {
    "small": dict(n_radial=8, n_angular_shells=3, zetas=[1, 2, 4], hidden=[32, 32]),
    "medium": dict(n_radial=12, n_angular_shells=4, zetas=[1, 2, 4], hidden=[64, 64]),
    "large": dict(n_radial=16, n_angular_shells=6, zetas=[1, 2, 4, 8], hidden=[128, 128]),
}


class BehlerParrinello(EnergyModel):
    architecture = "bpnn"

    def __init__(
        self,
        elements: list[int],
        cutoff: float = 5.0,
        n_radial: int = 12,
        n_angular_shells: int = 4,
        zetas: list[int] = (1, 2, 4),
        hidden: list[int] = (64, 64),
        cutoff_function: str = "polynomial",
        r_min: float = 0.5,
    ):
        super().__init__(elements, cutoff)
        self._hp = dict(
            cutoff=float(cutoff), n_radial=int(n_radial), n_angular_shells=int(n_angular_shells),
            zetas=[int(z) for z in zetas], hidden=[int(h) for h in hidden],
            cutoff_function=cutoff_function, r_min=float(r_min),
        )
        self.descriptor = SymmetryFunctions(
            self.n_elements, cutoff, n_radial, n_angular_shells, tuple(self._hp["zetas"]), cutoff_function, r_min
        )
        # the symmetry functions' name in a committee's ``shared``: everything they depend on
        self._descriptor_key = ("symmetry functions", repr(self.elements), repr({k: v for k, v in self._hp.items() if k != "hidden"}))
        self.standardize = Standardize(self.n_elements, self.descriptor.n_features)
        self.networks = ElementMLPs(self.n_elements, self.descriptor.n_features, self._hp["hidden"])

    def hyperparameters(self) -> dict:
        return dict(elements=self.elements, **self._hp)

    def atomic_features(self, batch: dict, species: torch.Tensor | None = None, shared: dict | None = None) -> torch.Tensor:
        """Raw symmetry functions (N, n_features): no weights, so a committee's members with the
        same descriptor settings compute them once (``shared``)."""
        species = self.species(batch[keys.NUMBERS]) if species is None else species

        def compute():
            vectors, lengths = self.geometry(batch, shared)
            i, j = batch[keys.EDGE_INDEX]
            return self.descriptor(vectors, lengths, i, species[j], len(species))

        return shared_value(shared, self._descriptor_key, compute)

    def readout_inputs(self, batch: dict, species: torch.Tensor, shared: dict | None = None) -> torch.Tensor:
        return self.standardize(self.atomic_features(batch, species, shared), species)

    @torch.no_grad()
    def fit_feature_statistics(self, batches: list[dict]) -> None:
        feats, species = [], []
        for batch in batches:
            s = self.species(batch[keys.NUMBERS])
            feats.append(self.atomic_features(batch, s))
            species.append(s)
        self.standardize.fit(torch.cat(feats), torch.cat(species))

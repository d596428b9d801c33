"""What every energy model shares: element bookkeeping, edge geometry, scale/shift readout, and
the sum of the learned network's energies and the physical terms (``models.sum``)."""

from __future__ import annotations

import torch
from ase.data import chemical_symbols

from .. import keys
from ..errors import UnknownElementError
from ..nn.readout import PerElementScaleShift
from ..nn.scatter import scatter_sum
from .sum import EnergyTerms


class EnergyModel(torch.nn.Module):
    """Maps a batch to per-atom and per-structure energies. Forces and stress come from
    :class:`~ridgeline.models.derivatives.ForceStressOutput`, never from the model itself.

    The contract every architecture (and ``Ensemble``) meets:

    - ``elements``, ``cutoff`` (Å), ``architecture``, ``hyperparameters()`` (what rebuilds it);
    - ``networks``: the per-element readout (``nn.readout.ElementMLPs``), ``scale_shift``;
    - ``atomic_features(batch, species=None, shared=None) -> (N, F)``: the descriptor of each
      atom's environment;
    - ``forward(batch, readout=False, shared=None)`` -> ``keys.ATOMIC_ENERGIES``, ``keys.ENERGY``,
      and with ``readout`` ``keys.DESCRIPTORS`` (the readout inputs) and
      ``keys.READOUT_FEATURES`` (the last hidden layer), which uncertainty and
      domain-of-applicability tools use.

    Subclasses implement ``readout_inputs`` (what the networks read) and
    ``fit_feature_statistics``. The per-atom energy is the network's plus the physical terms'
    (``terms``, ``models.sum``): a model is a sum of terms.

    ``shared``: a dict that the members of a committee (``Ensemble``) pass through one forward
    pass on one batch, so that what does not depend on their weights (edge geometry, fixed radial
    bases and their moments, symmetry functions) is computed once (``shared_value``).
    """

    architecture: str = ""
    default_terms: dict = {}  # the physical terms a model of this architecture gets unless the config says otherwise

    def __init__(self, elements: list[int], cutoff: float):
        super().__init__()
        self.elements = [int(z) for z in elements]
        self.cutoff = float(cutoff)
        species_of_z = torch.full((119,), -1, dtype=torch.long)
        species_of_z[self.elements] = torch.arange(len(self.elements))
        self.register_buffer("species_of_z", species_of_z, persistent=False)
        self.scale_shift = PerElementScaleShift(len(self.elements))
        self.terms = EnergyTerms()

    @property
    def n_elements(self) -> int:
        return len(self.elements)

    def hyperparameters(self) -> dict:
        """Keyword arguments that rebuild this model (saved in the model file)."""
        raise NotImplementedError

    def species(self, numbers: torch.Tensor) -> torch.Tensor:
        s = self.species_of_z[numbers]
        if (s < 0).any():
            unknown = sorted({chemical_symbols[int(z)] for z in numbers[s < 0].unique()})
            known = [chemical_symbols[z] for z in self.elements]
            raise UnknownElementError(f"element(s) {', '.join(unknown)} not known to this model (trained on {', '.join(known)})")
        return s

    @staticmethod
    def edge_geometry(batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """r_ij = r_j - r_i + S_ij @ cell, computed here so gradients reach positions and cell."""
        pos, (i, j), cell = batch[keys.POSITIONS], batch[keys.EDGE_INDEX], batch[keys.CELL]
        if cell.shape[0] == 1:  # one structure (the calculator): one small matrix product, no per-edge cells
            shift = batch[keys.EDGE_SHIFTS] @ cell[0]
        else:
            shift = torch.einsum("ek,ekl->el", batch[keys.EDGE_SHIFTS], cell[batch[keys.BATCH][i]])
        vectors = pos[j] - pos[i] + shift
        return vectors, torch.linalg.norm(vectors, dim=-1)

    def geometry(self, batch: dict, shared: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``edge_geometry``, computed once per batch where ``shared`` is given."""
        return shared_value(shared, ("edge geometry",), lambda: self.edge_geometry(batch))

    def atomic_features(self, batch: dict, species: torch.Tensor | None = None, shared: dict | None = None) -> torch.Tensor:
        raise NotImplementedError

    def member_outputs(self, batch: dict, readout: bool = False, shared: dict | None = None) -> list[dict]:
        """The outputs of each member: a single model is a committee of one (``Ensemble``'s protocol)."""
        return [self(batch, readout=readout, shared=shared)]

    def forward(self, batch: dict, readout: bool = False, shared: dict | None = None) -> dict:
        # the network and the terms read one edge geometry (and whatever else the pass shares)
        shared = {} if shared is None else shared
        species = batch[keys.SPECIES] if keys.SPECIES in batch else self.species(batch[keys.NUMBERS])
        x = self.readout_inputs(batch, species, shared)
        hidden = self.networks.hidden(x, species)
        atomic = self.scale_shift(self.networks.last(hidden, species), species)
        if len(self.terms):
            atomic = atomic + self.terms.atomic_energies(batch, species, self.geometry(batch, shared)[1])
        energy = scatter_sum(atomic, batch[keys.BATCH], batch[keys.N_ATOMS].shape[0])
        out = {keys.ATOMIC_ENERGIES: atomic, keys.ENERGY: energy}
        if readout:
            out[keys.DESCRIPTORS], out[keys.READOUT_FEATURES] = x, hidden
        return out

    def readout_inputs(self, batch: dict, species: torch.Tensor, shared: dict | None = None) -> torch.Tensor:
        """The per-element networks' inputs (N, F); ``shared``: as in ``forward``."""
        raise NotImplementedError

    @torch.no_grad()
    def fit_statistics(self, batches, atomic_energies, scale) -> None:
        """Set element references and scales (from the dataset), the terms' data-dependent
        settings and the descriptor statistics, from training ``batches``."""
        batches = list(batches)
        self.scale_shift.atomic_energies.copy_(torch.as_tensor(atomic_energies))
        self.scale_shift.scale.copy_(torch.as_tensor(scale))
        if len(self.terms):
            self.terms.fit_statistics([(b, self.species(b[keys.NUMBERS]), self.edge_geometry(b)[1]) for b in batches])
        self.fit_feature_statistics(batches)

    def fit_feature_statistics(self, batches: list[dict]) -> None:
        """Statistics of the descriptors (standardisation, neighbour averages) from ``batches``."""
        raise NotImplementedError


def shared_value(shared: dict | None, key: tuple, compute):
    """``compute()``, or the value that an earlier model of the same forward pass computed under
    ``key`` (which must name everything the value depends on besides the batch); no sharing where
    ``shared`` is None."""
    if shared is None:
        return compute()
    if key not in shared:
        shared[key] = compute()
    return shared[key]

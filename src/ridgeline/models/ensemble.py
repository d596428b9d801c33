"""A committee of models of one architecture (deep ensemble): members differ in seed and data
order. It meets the contract of ``EnergyModel`` (the first member's readout and features stand
for the committee's where one is needed), and ``forward`` gives the members' mean, so an ensemble
is used wherever a model is (forces and stress of the mean by the same derivative wrapper);
``members`` gives each one for spreads. The members share one computation of what holds no
weights (``EnergyModel.forward``'s ``shared``): for moment networks of one cutoff and basis, the
geometry and the basis functions' moments, about half the cost of a force call, so the mean of a
committee of two costs 1.3-1.8 single models through the calculator (three runs on a shared
host), not 2 (docs/results_log.md)."""

from __future__ import annotations

import torch

from .. import keys
from .base import EnergyModel


class Ensemble(torch.nn.Module):
    def __init__(self, members: list[EnergyModel]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0]
        for m in members[1:]:
            if m.architecture != first.architecture or m.elements != first.elements or m.cutoff != first.cutoff:
                raise ValueError("ensemble members must share architecture, elements and cutoff")
        self.members = torch.nn.ModuleList(members)
        self.architecture = first.architecture
        self.elements, self.cutoff = first.elements, first.cutoff

    def __len__(self) -> int:
        return len(self.members)

    @property
    def scale_shift(self):
        return self.members[0].scale_shift

    @property
    def networks(self):
        return self.members[0].networks

    def atomic_features(self, batch: dict, species: torch.Tensor | None = None, shared: dict | None = None) -> torch.Tensor:
        return self.members[0].atomic_features(batch, species, shared)

    def species(self, numbers: torch.Tensor) -> torch.Tensor:
        return self.members[0].species(numbers)

    def hyperparameters(self) -> dict:
        return self.members[0].hyperparameters()

    def member_outputs(self, batch: dict, readout: bool = False, shared: dict | None = None) -> list[dict]:
        """Each member's outputs (member 0's with ``readout``), in one pass that computes what
        does not depend on the weights (geometry, fixed bases and their moments) once."""
        shared = {} if shared is None else shared
        return [m(batch, readout=readout and k == 0, shared=shared) for k, m in enumerate(self.members)]

    def forward(self, batch: dict, readout: bool = False, shared: dict | None = None) -> dict:
        """Mean energies of the members; with ``readout``, member 0's readout features."""
        outs = self.member_outputs(batch, readout, shared)
        mean = {key: torch.stack([o[key] for o in outs]).mean(0) for key in (keys.ENERGY, keys.ATOMIC_ENERGIES)}
        if readout:
            mean[keys.DESCRIPTORS], mean[keys.READOUT_FEATURES] = outs[0][keys.DESCRIPTORS], outs[0][keys.READOUT_FEATURES]
        return mean

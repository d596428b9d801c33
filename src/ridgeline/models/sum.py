"""A model is a sum of per-atom energy terms: the learned network's, plus physical terms (a ZBL
core today; dispersion, electrostatics or a baseline are terms of the same kind)

    E_i = E_i^network + sum_t E_i^t,        E = sum_i E_i,

all from the same batch, so ``ForceStressOutput`` differentiates the total once and forces and
stress of every term come out exact and together.

A term is an ``nn.Module`` with

- ``atomic_energies(batch, species, edge_lengths) -> (N,)`` eV,
- ``params() -> dict``: what rebuilds it besides the elements (saved in the model file's
  description under ``terms``, by name),
- ``fit_statistics(geometries)``: anything it sets from the training data (``geometries``: one
  (batch, species, edge lengths) per training batch); a no-op where nothing is.

``TERMS`` names each kind; ``build_terms`` makes them from the description's ``terms`` entry.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from ..nn.repulsion import SWITCHES, ZBLRepulsion

TERMS = {"zbl": ZBLRepulsion}

# the config's shortcuts for the terms (``model.zbl``, ``model.zbl_switch``): keys of a model
# section beside the architecture's own hyperparameters
TERM_OPTIONS = ("zbl", "zbl_switch")


class EnergyTerms(torch.nn.ModuleDict):
    """A model's physical terms, by name, in the order they are added."""

    def atomic_energies(self, batch: dict, species: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(N,) eV: the terms' per-atom energies summed."""
        total = None
        for term in self.values():
            energy = term.atomic_energies(batch, species, lengths)
            total = energy if total is None else total + energy
        return total

    def params(self) -> dict:
        return {name: term.params() for name, term in self.items()}

    def fit_statistics(self, geometries) -> None:
        for term in self.values():
            term.fit_statistics(geometries)


def build_terms(elements: list[int], specs: dict | None) -> EnergyTerms:
    """The terms described by ``specs`` ({name: params}), for a model of ``elements``."""
    terms = EnergyTerms()
    for name, params in (specs or {}).items():
        if name not in TERMS:
            raise ConfigError(f"unknown energy term {name!r}; available: {', '.join(TERMS)}")
        try:
            terms[name] = TERMS[name](elements, **(params or {}))
        except TypeError as err:
            raise ConfigError(f"bad parameters for energy term {name!r}: {err}") from None
    return terms


def term_specs(defaults: dict, zbl: bool | None = None, zbl_switch: str | None = None) -> dict:
    """The terms of a model from its architecture's ``defaults`` and the config's shortcuts:
    ``zbl`` adds (True) or removes (False) the core, ``zbl_switch`` sets where it is switched off."""
    specs = {name: dict(params) for name, params in defaults.items()}
    if zbl is False:
        specs.pop("zbl", None)
    elif zbl:
        specs.setdefault("zbl", {})
    if zbl_switch is not None:
        if zbl_switch not in SWITCHES:
            raise ConfigError(f"zbl_switch must be one of {', '.join(SWITCHES)}, got {zbl_switch!r}")
        if "zbl" in specs:
            specs["zbl"]["switch"] = zbl_switch
    return specs

"""The ASE calculator: a trained ridgeline model as energy, forces and stress for ASE."""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator as ASECalculator
from ase.calculators.calculator import PropertyNotImplementedError, all_changes
from ase.data import chemical_symbols

from .. import keys
from ..data.graph import atoms_to_batch
from ..data.frame import matrix_to_voigt
from ..errors import ConfigError, UnknownElementError
from ..models import ForceStressOutput
from ..models.io import load_model, read_description
from ..uncertainty.model import DEFAULT_DOMAINS, UncertaintyModel


class Calculator(ASECalculator):
    """``Calculator(model_path, device="cpu", dtype=None, uncertainty=None, domain=("mahalanobis",))``.

    ``dtype`` defaults to the precision the model was trained in. Stress is given for structures
    periodic in all three directions. Units are ASE's (eV, Å) and are not converted anywhere else.

    An ensemble file, or a model file calibrated by ``ridgeline uq calibrate``, also puts into
    ``results`` (unless ``uncertainty=False``): ``energy_sigma`` (eV), ``energies_sigma`` (eV per
    atom), ``forces_sigma`` (eV/Å per atom and component), calibrated; and for each fitted domain
    model named in ``domain`` (``mahalanobis``, ``nearest``, ``hull``) ``domain_<name>`` (per-atom
    score) and ``out_of_domain_<name>`` (per-atom flag), plus ``out_of_domain`` (any flag). An
    ensemble's energy and forces are the members' mean.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model_path, device: str = "cpu", dtype: str | torch.dtype | None = None,
                 uncertainty: bool | None = None, domain=DEFAULT_DOMAINS, **kwargs):
        super().__init__(**kwargs)
        description = read_description(model_path)
        if uncertainty is None:
            uncertainty = "uncertainty" in description or "ensemble_size" in description
        self.uq = UncertaintyModel.load(model_path, device=device, dtype=dtype) if uncertainty else None
        if self.uq is not None:
            self.model, self.description = self.uq.model, self.uq.description
            unknown = [d for d in domain if d not in self.uq.domains]
            if unknown and self.uq.domains:
                raise ConfigError(f"{model_path}: no domain model {', '.join(unknown)} (fitted: {', '.join(self.uq.domains)})")
            self.domain = tuple(d for d in domain if d in self.uq.domains)
        else:
            self.model, self.description = load_model(model_path, device=device, dtype=dtype)
        self.device = torch.device(device)
        self.dtype = next(self.model.parameters()).dtype
        self.wrapper = ForceStressOutput(self.model)
        self.model_path = str(model_path)

    def _check_elements(self, atoms) -> None:
        unknown = sorted(set(atoms.numbers.tolist()) - set(self.model.elements))
        if unknown:
            raise UnknownElementError(
                f"{self.model_path}: the structure has element(s) "
                f"{', '.join(chemical_symbols[z] for z in unknown)} that the model was not trained on "
                f"(it knows {', '.join(chemical_symbols[z] for z in self.model.elements)})"
            )

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        self._check_elements(atoms)
        periodic = bool(atoms.pbc.all())
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a structure periodic in all three directions")
        batch = atoms_to_batch(atoms, self.model.cutoff, dtype=self.dtype, device=self.device)
        if self.uq is not None:
            return self._calculate_with_uncertainty(batch, periodic)
        # stress costs one more derivative in the same backward pass: give it whenever defined,
        # so an MD step that asks for forces then stress runs the model once
        out = self.wrapper(batch, forces=True, stress=periodic)
        energy = float(out[keys.ENERGY].detach().sum())
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["energies"] = out[keys.ATOMIC_ENERGIES].detach().cpu().double().numpy()
        self.results["forces"] = out[keys.FORCES].detach().cpu().double().numpy()
        if keys.STRESS in out:
            self.results["stress"] = matrix_to_voigt(out[keys.STRESS][0].detach().cpu().double().numpy())

    def _calculate_with_uncertainty(self, batch: dict, periodic: bool) -> None:
        out = self.uq.predict_batch(batch, stress=periodic, domain=self.domain)
        energy = float(out["energy"].sum())
        self.results.update(energy=energy, free_energy=energy, energies=out["energies"], forces=out["forces"],
                            energy_sigma=float(out["energy_sigma"].sum()), energies_sigma=out["energies_sigma"],
                            forces_sigma=out["forces_sigma"])
        if periodic:
            self.results["stress"] = matrix_to_voigt(out["stress"][0])
        flags = np.zeros(len(out["forces"]), dtype=bool)
        for name in self.domain:
            self.results[f"domain_{name}"] = out[f"domain_{name}"]
            self.results[f"out_of_domain_{name}"] = out[f"out_of_domain_{name}"]
            flags |= out[f"out_of_domain_{name}"]
        if self.domain:
            self.results["out_of_domain"] = flags

"""The ASE calculator: a trained ridgeline model as energy, forces and stress for ASE."""

from __future__ import annotations

import torch
from ase.calculators.calculator import Calculator as ASECalculator
from ase.calculators.calculator import PropertyNotImplementedError, all_changes
from ase.data import chemical_symbols

from .. import keys
from ..data.graph import atoms_to_batch
from ..data.frame import matrix_to_voigt
from ..errors import UnknownElementError
from ..models import ForceStressOutput
from ..models.io import load_model


class Calculator(ASECalculator):
    """``Calculator(model_path, device="cpu", dtype=None)``.

    ``dtype`` defaults to the precision the model was trained in. Stress is given for structures
    periodic in all three directions. Units are ASE's (eV, Å) and are not converted anywhere else.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model_path, device: str = "cpu", dtype: str | torch.dtype | None = None, **kwargs):
        super().__init__(**kwargs)
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

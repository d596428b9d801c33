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
from ..models import ForceStressOutput, hessian
from ..models.io import load_model, read_description
from ..names import DEFAULT_DOMAINS
from ..uncertainty.calibration import interval_half_width
from ..uncertainty.model import UncertaintyModel


class Calculator(ASECalculator):
    """``Calculator(model_path, device="cpu", dtype=None, uncertainty=None, domain=("mahalanobis",),
    interval_level=None)``.

    ``dtype`` defaults to the precision the model was trained in. Stress is given for structures
    periodic in all three directions. Units are ASE's (eV, Å) and are not converted anywhere else.

    An ensemble file, or a model file calibrated by ``ridgeline uq calibrate``, also puts into
    ``results`` (unless ``uncertainty=False``): ``energy_sigma`` (eV), ``energies_sigma`` (eV per
    atom), ``forces_sigma`` (eV/Å per atom, for each Cartesian component), calibrated standard
    deviations; ``forces_nu``, the degrees of freedom of the force errors' predictive distribution,
    a Student t of standard deviation ``forces_sigma`` (``inf``: the Gaussian; a file calibrated
    with ``--tails`` may hold a finite one, and its intervals are wider than ``1.96 sigma`` at 95%);
    and for each fitted domain model named in ``domain`` (``mahalanobis``, ``nearest``, ``hull``)
    ``domain_<name>`` (per-atom score) and ``out_of_domain_<name>`` (per-atom flag), plus
    ``out_of_domain`` (any flag). An ensemble's energy and forces are the members' mean.

    ``interval_level`` (e.g. 0.95) adds the half-widths of central intervals at that level:
    ``forces_interval`` (eV/Å per atom, for each component: the force component lies within
    ``forces ± forces_interval`` with probability ``interval_level`` under the calibrated Student
    t or Gaussian) and ``energy_interval`` (eV, Gaussian), by ``calibration.interval_half_width``.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, model_path, device: str = "cpu", dtype: str | torch.dtype | None = None,
                 uncertainty: bool | None = None, domain=DEFAULT_DOMAINS, interval_level: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if interval_level is not None and not 0 < interval_level < 1:
            raise ConfigError(f"interval_level must be in (0, 1), got {interval_level}")
        description = read_description(model_path)
        if uncertainty is None:
            uncertainty = "uncertainty" in description or "ensemble_size" in description
        if interval_level is not None and not uncertainty:
            raise ConfigError(f"{model_path}: interval_level needs uncertainties: an ensemble file or a file calibrated by "
                              "`ridgeline uq calibrate` (and uncertainty not False)")
        self.interval_level = interval_level
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

    @classmethod
    def from_model(cls, model, description: dict | None = None, name: str = "<in memory>") -> "Calculator":
        """A calculator (without uncertainties) for a model held in memory, e.g. one of
        :meth:`posterior_calculators`'s draws; ``name`` stands for the file in messages."""
        calc = cls.__new__(cls)
        ASECalculator.__init__(calc)
        calc.interval_level, calc.uq, calc.domain = None, None, ()
        calc.model, calc.description = model, dict(description or {})
        parameter = next(model.parameters())
        calc.device, calc.dtype = parameter.device, parameter.dtype
        calc.wrapper = ForceStressOutput(model)
        calc.model_path = name
        return calc

    def without_uncertainty(self) -> "Calculator":
        """A calculator of the same model (an ensemble's mean) that computes energy, forces and
        stress only: the fast one for the long loops of a workflow (relaxations, bands,
        displacements), whose intervals come from this one (``properties.estimates``)."""
        if self.uq is None:
            return self
        return Calculator.from_model(self.model, self.description, self.model_path)

    def posterior_calculators(self, n: int = 8, seed: int = 0) -> list["Calculator"]:
        """Calculators of models drawn from the model's posterior (``Variances.posterior_models``:
        a committee's members, or ``n`` last-layer Laplace draws), for a property's spread; their
        spread times sqrt(``uq.alpha["energy"]``) is the calibrated sigma."""
        if self.uq is None or not self.uq.variances.available:
            raise ConfigError(f"{self.model_path}: posterior draws need uncertainties: an ensemble file or a file "
                              "calibrated by `ridgeline uq calibrate`")
        return [Calculator.from_model(m, self.description, f"{self.model_path} (posterior draw {k})")
                for k, m in enumerate(self.uq.variances.posterior_models(n, seed))]

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

    def get_hessian(self, atoms=None) -> np.ndarray:
        """d^2E/dr dr of ``atoms`` (default: the calculator's own), (3N, 3N) eV/Å^2, row and
        column ``3 i + k`` = atom i, axis k; an ensemble's is that of its mean energy. The
        signature and the fallback to the attached structure are MACE's ``get_hessian``; the
        array is the (3N, 3N) matrix that MACE gives as (3N, N, 3). Not cached in ``results``
        (ASE's property cache has no Hessian), so every call computes it."""
        atoms = self.atoms if atoms is None else atoms
        if atoms is None:
            raise ConfigError("get_hessian: no structure: pass atoms, or compute something on the attached one first")
        self._check_elements(atoms)
        batch = atoms_to_batch(atoms, self.model.cutoff, dtype=self.dtype, device=self.device)
        return hessian(self.model, batch).detach().cpu().double().numpy()

    def _calculate_with_uncertainty(self, batch: dict, periodic: bool) -> None:
        out = self.uq.predict_batch(batch, stress=periodic, domain=self.domain)
        energy = float(out["energy"].sum())
        nu = self.uq.alpha.get("forces_nu")
        self.results.update(energy=energy, free_energy=energy, energies=out["energies"], forces=out["forces"],
                            energy_sigma=float(out["energy_sigma"].sum()), energies_sigma=out["energies_sigma"],
                            forces_sigma=out["forces_sigma"], forces_nu=float("inf") if nu is None else float(nu))
        if self.interval_level is not None:
            self.results["forces_interval"] = interval_half_width(out["forces_sigma"], self.interval_level, nu)
            self.results["energy_interval"] = float(interval_half_width(self.results["energy_sigma"], self.interval_level))
        if periodic:
            self.results["stress"] = matrix_to_voigt(out["stress"][0])
        flags = np.zeros(len(out["forces"]), dtype=bool)
        for name in self.domain:
            self.results[f"domain_{name}"] = out[f"domain_{name}"]
            self.results[f"out_of_domain_{name}"] = out[f"out_of_domain_{name}"]
            flags |= out[f"out_of_domain_{name}"]
        if self.domain:
            self.results["out_of_domain"] = flags

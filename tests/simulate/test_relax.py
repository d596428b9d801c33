"""Relaxation: ASE's optimizers and the Newton trust-region step reach the same minimum, the cell
relaxes under FrechetCellFilter, and broken structures stop with an error naming the step."""

import json

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import Calculator as ASECalculator
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

from ridgeline.errors import ConfigError
from ridgeline.models import build_model
from ridgeline.models.io import save_model
from ridgeline.simulate.calculator import Calculator
from ridgeline.simulate.relax import (RelaxationError, choose_optimizer, relax, rigid_modes,
                                      trust_region_step)
from ridgeline.testing.model_tests import batch_of


class EMTWithHessian(EMT):
    """EMT with a central-difference Hessian: enough for the Newton optimizer's tests."""

    def get_hessian(self, atoms=None):
        atoms = (self.atoms if atoms is None else atoms).copy()
        atoms.calc = EMT()
        n, step, start = 3 * len(atoms), 1e-4, atoms.positions.copy()
        h = np.zeros((n, n))
        for k in range(n):
            for sign in (1, -1):
                moved = start.copy()
                moved.flat[k] += sign * step
                atoms.positions = moved
                h[k] -= sign * atoms.get_forces().ravel() / (2 * step)
        return 0.5 * (h + h.T)


class NaNForces(ASECalculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.full((len(self.atoms), 3), np.nan)}


def test_trust_region_step_newton_inside_and_shifted_on_the_boundary():
    h = np.diag([1.0, 4.0])
    f = np.array([0.1, 0.2])
    dx, predicted = trust_region_step(h, f, radius=1.0)
    np.testing.assert_allclose(dx, [0.1, 0.05])  # the Newton step H^-1 F
    assert predicted == pytest.approx(-0.5 * f @ np.linalg.solve(h, f))
    dx, predicted = trust_region_step(h, 10 * f, radius=0.3)
    assert np.linalg.norm(dx) == pytest.approx(0.3, rel=1e-6) and predicted < 0
    # negative curvature: a level-shifted step on the boundary that lowers the model energy
    dx, predicted = trust_region_step(np.diag([-2.0, 1.0]), np.array([0.01, 0.1]), radius=0.2)
    assert np.linalg.norm(dx) == pytest.approx(0.2, rel=1e-6) and predicted < 0 and abs(dx[0]) > 0.05


def test_rigid_modes():
    assert rigid_modes(molecule("H2O")).shape == (9, 6)
    assert rigid_modes(molecule("CO2")).shape == (9, 5)  # linear: two rotations
    assert rigid_modes(bulk("Cu", cubic=True)).shape == (12, 3)


def test_optimizers_reach_the_same_minimum():
    atoms = molecule("H2O")
    atoms.rattle(0.1, seed=0)
    start = atoms.positions.copy()
    results = {name: relax(atoms, EMTWithHessian(), optimizer=name, fmax=0.005, max_steps=300)
               for name in ("bfgs", "lbfgs", "fire", "newton")}
    for name, result in results.items():
        assert result.converged and result.fmax < 0.005, name
        assert result.energy == pytest.approx(results["bfgs"].energy, abs=1e-4), name
    assert results["newton"].hessian_calls >= 1
    np.testing.assert_array_equal(atoms.positions, start)  # the input is not touched
    assert atoms.calc is None


def test_newton_relaxes_ethanol_from_far():
    atoms = molecule("CH3CH2OH")
    atoms.rattle(0.15, seed=3)
    result = relax(atoms, EMTWithHessian(), optimizer="newton", fmax=0.01, max_steps=200)
    assert result.converged and result.energy < EMT().get_potential_energy(atoms)


def test_cell_relaxation_finds_the_lattice_constant():
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True)
    atoms.rattle(0.02, seed=1)
    result = relax(atoms, EMT(), optimizer="bfgs", cell=True, fmax=1e-3, max_steps=300)
    assert result.converged
    a = result.atoms.cell.lengths()[0]
    assert a == pytest.approx(3.59, abs=0.01)  # EMT Cu
    compressed = relax(atoms, EMT(), optimizer="fire", cell=True, fmax=1e-3, max_steps=1000, pressure=10.0)
    assert compressed.converged and compressed.atoms.get_volume() < result.atoms.get_volume()


def test_bad_requests_are_config_errors():
    atoms = molecule("H2O")
    with pytest.raises(ConfigError, match="newton optimizer relaxes positions at a fixed cell"):
        relax(bulk("Cu", cubic=True), EMTWithHessian(), optimizer="newton", cell=True)
    with pytest.raises(ConfigError, match="periodic"):
        relax(atoms, EMT(), cell=True)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        relax(atoms, EMT(), optimizer="sd")
    with pytest.raises(ConfigError, match="get_hessian"):
        relax(atoms, EMT(), optimizer="newton")


def test_collisions_and_nonfinite_forces_stop_with_the_step():
    pair = Atoms("Cu2", positions=[[0, 0, 0], [0.3, 0, 0]])
    with pytest.raises(RelaxationError, match="step 0: atoms closer than 0.5"):
        relax(pair, EMT(), optimizer="bfgs")
    with pytest.raises(RelaxationError, match="step 0: non-finite forces"):
        relax(molecule("H2O"), NaNForces(), optimizer="fire")


def test_auto_rule_and_json(tmp_path):
    for atoms in (molecule("H2O"), bulk("Cu", cubic=True)):
        assert choose_optimizer(atoms, EMTWithHessian(), cell=False) == "lbfgs"  # the benchmark's winner
    result = relax(molecule("H2O"), EMTWithHessian(), fmax=0.05, trajectory=tmp_path / "t.traj")
    data = json.loads(result.to_json())
    assert data["optimizer"] == "lbfgs" and data["converged"] and len(data["positions"]) == 3
    assert (tmp_path / "t.traj").exists()
    newton = json.loads(relax(molecule("H2O"), EMTWithHessian(), optimizer="newton", fmax=0.05).to_json())
    assert newton["optimizer"] == "newton" and newton["hessian_calls"] >= 1


def test_newton_with_a_ridgeline_model(tmp_path):
    """The calculator's exact Hessian drives the Newton step of a model's own minimum."""
    torch.manual_seed(0)
    model = build_model("moment", [1, 8], preset="small", cutoff=4.0).double()
    water = molecule("H2O")
    model.fit_statistics([batch_of([water])], np.array([-13.6, -432.0]), np.array([1.0, 1.0]))
    path = save_model(model.eval(), tmp_path / "m.safetensors")
    start = water.copy()
    start.rattle(0.02, seed=2)
    result = relax(start, Calculator(path, dtype="float64"), optimizer="newton", fmax=1e-3, max_steps=100)
    assert result.hessian_calls >= 1 and result.steps >= 1
    assert result.energy <= Calculator(path, dtype="float64").get_potential_energy(start) + 1e-9

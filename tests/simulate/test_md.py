"""Molecular dynamics with a trained model: NVE conserves energy; the calculator refuses what it can't do."""

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.md.verlet import VelocityVerlet

from ridgeline import Calculator
from ridgeline.errors import UnknownElementError
from ridgeline.simulate.velocities import thermalize


def test_nve_conserves_energy(trained_model):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=0)
    atoms.calc = Calculator(trained_model, dtype="float64")
    thermalize(atoms, 600.0, np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    total = []
    dyn.attach(lambda: total.append(atoms.get_total_energy()), interval=1)
    dyn.run(300)
    total = np.array(total) / len(atoms)
    kinetic_temperature = atoms.get_kinetic_energy() / (1.5 * units.kB * len(atoms))
    assert 100 < kinetic_temperature < 1500  # the atoms really moved
    # total energy stays within 0.1 meV/atom over 300 fs (potential energy swings are ~30 meV/atom)
    assert np.abs(total - total[0]).max() < 1e-4
    slope = np.polyfit(np.arange(len(total)), total, 1)[0]
    assert abs(slope) * 1000 < 1e-5  # drift per 1000 steps below 0.01 meV/atom


def test_calculator_refuses_unknown_elements(trained_model):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.numbers[0] = 79
    atoms.calc = Calculator(trained_model)
    with pytest.raises(UnknownElementError, match="Au.*not trained on.*Cu"):
        atoms.get_potential_energy()


def test_molecule_has_no_stress(trained_model):
    from ase import Atoms
    from ase.calculators.calculator import PropertyNotImplementedError

    atoms = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]])
    atoms.calc = Calculator(trained_model)
    assert np.isfinite(atoms.get_potential_energy()) and atoms.get_forces().shape == (3, 3)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()

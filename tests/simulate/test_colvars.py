"""Angles and dihedrals against ASE's geometry and finite differences; periodic wrapping of the
umbrella; the CV registry's errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from ridgeline.errors import ConfigError
from ridgeline.simulate.biases import HarmonicUmbrella
from ridgeline.simulate.colvars import Angle, Dihedral, Distance, make_cv
from conftest import cu_cell, fd_gradient, fd_stress_of


def butane(seed=0):
    atoms = molecule("trans-butane")
    atoms.rattle(0.05, seed=seed)
    return atoms


def test_angle_matches_ase_and_finite_differences():
    atoms = butane()
    cv = Angle(0, 1, 2)
    assert cv.value(atoms) == pytest.approx(np.radians(atoms.get_angle(0, 1, 2)), abs=1e-10)
    np.testing.assert_allclose(cv.gradient(atoms), fd_gradient(cv.value, atoms, h=1e-6), atol=1e-7)
    assert np.abs(cv.gradient(atoms).sum(0)).max() < 1e-12  # translation invariance


@pytest.mark.parametrize("seed", range(4))
def test_dihedral_matches_ase_sign_and_finite_differences(seed):
    atoms = butane(seed)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0, 0.3, atoms.positions.shape)  # torsions of either sign
    cv = Dihedral(0, 1, 2, 3)
    ase_value = np.radians(atoms.get_dihedral(0, 1, 2, 3))  # ASE: [0, 2π), same orientation
    assert cv.difference(cv.value(atoms), ase_value) == pytest.approx(0.0, abs=1e-10)
    assert -np.pi < cv.value(atoms) <= np.pi
    np.testing.assert_allclose(cv.gradient(atoms), fd_gradient(cv.value, atoms, h=1e-6), atol=1e-6)
    grad = cv.gradient(atoms)
    assert np.abs(grad.sum(0)).max() < 1e-12
    # rotations leave it unchanged: the torque sum r x grad vanishes
    assert np.abs(np.cross(atoms.positions, grad).sum(0)).max() < 1e-10


def test_angle_and_dihedral_strain_gradient_in_a_periodic_cell():
    atoms = cu_cell(repeat=(1, 1, 1), seed=3, rattle=0.1)
    for cv in (Angle(0, 1, 2), Dihedral(0, 1, 2, 3), Distance(1, 3)):
        np.testing.assert_allclose(cv.gradient(atoms), fd_gradient(cv.value, atoms, h=1e-6), atol=1e-6)
        fd = fd_stress_of(cv.value, atoms) * atoms.get_volume()  # (1/V) ds/dε, Voigt
        strain = cv.strain_gradient(atoms)
        voigt = np.array([strain[0, 0], strain[1, 1], strain[2, 2], strain[1, 2], strain[0, 2], strain[0, 1]])
        np.testing.assert_allclose(voigt, fd, atol=1e-5)


def test_umbrella_on_a_dihedral_wraps_across_pi():
    # a torsion of 179° in an umbrella centred on -179° is 2° away, not 358°
    atoms = Atoms("H4", positions=[[1, 0, 0], [0, 0, 0], [0, 0, 1.5], [-1, 0.0, 1.5]])
    cv = Dihedral(0, 1, 2, 3)
    phi = cv.value(atoms)
    assert abs(phi) == pytest.approx(np.pi, abs=1e-9)
    atoms.positions[3] = [-1, np.tan(np.radians(1.0)), 1.5]
    phi = cv.value(atoms)
    umbrella = HarmonicUmbrella(cv, center=-phi, k=2.0)
    energy, forces = umbrella.energy_and_forces(atoms)
    assert energy == pytest.approx(0.5 * 2.0 * (2 * np.pi - 2 * abs(phi)) ** 2, rel=1e-9)
    assert energy < 0.01
    np.testing.assert_allclose(forces, -fd_gradient(lambda a: umbrella.energy_and_forces(a)[0], atoms, h=1e-6),
                               atol=1e-7)


def test_make_cv_and_its_errors():
    assert isinstance(make_cv("dihedral", [0, 1, 2, 3]), Dihedral)
    assert make_cv("coordination", [0, 1, 2], r0=2.5).group.tolist() == [1, 2]
    with pytest.raises(ConfigError, match="unknown collective variable 'torsion'.*dihedral"):
        make_cv("torsion", [0, 1, 2, 3])
    with pytest.raises(ConfigError, match="angle needs 3 atom indices"):
        make_cv("angle", [0, 1])
    with pytest.raises(ConfigError, match="different atoms"):
        make_cv("dihedral", [0, 1, 1, 3])
    with pytest.raises(ConfigError, match=r"atom indices \[7\] are not in a structure of 4 atoms"):
        Dihedral(0, 1, 2, 7).check_atoms(4)

"""Collective variables and umbrellas against finite differences, and the biased calculator on
EMT and on an uncertainty model (Cu)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT

from ridgeline.simulate.biases import BiasedCalculator, CoordinationNumber, Distance, HarmonicUmbrella
from ridgeline.simulate.calculator import Calculator
from conftest import cu_cell, fd_gradient, fd_stress_of

def cu_cluster(seed=0):
    rng = np.random.default_rng(seed)
    pos = np.array([[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0], [0, 0, 2.5], [2.5, 2.5, 0], [1.25, 1.25, 2.0]], float)
    return Atoms("Cu6", positions=pos + rng.normal(0, 0.05, pos.shape))


# ------------------------------------------------------------------------- collective variables
def test_distance_value_and_gradient_minimum_image():
    atoms = cu_cell(repeat=(2, 1, 1), seed=1)
    # atoms 0 and 4 are one cubic cell apart along x: the minimum image is not the naive vector
    cv = Distance(0, 5)
    naive = np.linalg.norm(atoms.positions[5] - atoms.positions[0])
    assert cv.value(atoms) == pytest.approx(atoms.get_distance(0, 5, mic=True), abs=1e-12)
    assert cv.value(atoms) <= naive + 1e-12
    np.testing.assert_allclose(cv.gradient(atoms), fd_gradient(cv.value, atoms), atol=1e-8)
    grad = cv.gradient(atoms)
    assert np.linalg.norm(grad[5]) == pytest.approx(1.0) and np.abs(grad.sum(0)).max() < 1e-12
    cluster = cu_cluster()
    np.testing.assert_allclose(Distance(1, 3).gradient(cluster), fd_gradient(Distance(1, 3).value, cluster), atol=1e-8)


@pytest.mark.parametrize("periodic", [True, False])
def test_coordination_number_value_and_gradient(periodic):
    atoms = cu_cell(repeat=(1, 1, 1), seed=2) if periodic else cu_cluster(seed=2)
    cv = CoordinationNumber(0, group=range(1, len(atoms)), r0=2.7)
    others = range(1, len(atoms))
    r = np.array([atoms.get_distance(0, j, mic=periodic) for j in others])
    expected = np.sum((1 - (r / 2.7) ** 6) / (1 - (r / 2.7) ** 12))
    assert cv.value(atoms) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(cv.gradient(atoms), fd_gradient(cv.value, atoms), atol=1e-8)
    # a group not containing i, and the default group (every other atom)
    assert CoordinationNumber(0, r0=2.7).value(atoms) == pytest.approx(expected, rel=1e-12)
    sub = CoordinationNumber(2, group=[0, 1, 2], r0=2.7)
    np.testing.assert_allclose(sub.gradient(atoms), fd_gradient(sub.value, atoms), atol=1e-8)


def test_harmonic_umbrella_energy_and_forces():
    atoms = cu_cluster(seed=3)
    for cv, center in [(Distance(0, 4), 3.0), (CoordinationNumber(5, r0=2.6), 2.0)]:
        bias = HarmonicUmbrella(cv, center, k=7.0)
        energy, forces = bias.energy_and_forces(atoms)
        assert energy == pytest.approx(0.5 * 7.0 * (cv.value(atoms) - center) ** 2)
        np.testing.assert_allclose(forces, -fd_gradient(lambda a: bias.energy_and_forces(a)[0], atoms), atol=1e-7)


# ------------------------------------------------------------------------------------- calculator
def test_biased_calculator_adds_bias_to_emt():
    atoms = cu_cluster(seed=4)
    biases = [HarmonicUmbrella(Distance(0, 1), 2.2, k=5.0), HarmonicUmbrella(CoordinationNumber(5, r0=2.6), 3.0, k=2.0)]
    atoms.calc = BiasedCalculator(EMT(), biases)
    forces, energy = atoms.get_forces(), atoms.get_potential_energy()
    ref = atoms.copy()
    ref.calc = EMT()
    parts = [b.energy_and_forces(atoms) for b in biases]
    e_bias, f_bias = sum(p[0] for p in parts), sum(p[1] for p in parts)
    assert e_bias > 0.01 and np.abs(f_bias).max() > 0.01  # the biases do something here
    np.testing.assert_allclose(forces, ref.get_forces() + f_bias, atol=1e-12)
    assert energy == pytest.approx(ref.get_potential_energy() + e_bias, abs=1e-12)
    assert atoms.calc.results["bias_energy"] == pytest.approx(e_bias, abs=1e-12)
    # total forces are minus the gradient of the total energy
    np.testing.assert_allclose(forces, -fd_gradient(lambda a: BiasedCalculator(EMT(), biases).get_potential_energy(a), atoms),
                               atol=1e-5)


def test_biased_calculator_keeps_uncertainty_results(ensemble_file):
    atoms = cu_cell(repeat=(1, 1, 1))
    base = Calculator(ensemble_file)
    atoms.calc = BiasedCalculator(base, [HarmonicUmbrella(Distance(0, 1), 2.0, k=1.0)])
    atoms.get_forces()
    res = atoms.calc.results
    assert res["forces_sigma"].shape == (len(atoms),) and res["energy_sigma"] > 0
    assert res["energy"] == pytest.approx(res["base_energy"] + res["bias_energy"])


# ------------------------------------------------------------------------------------- stress
def fd_stress(calculator_factory, atoms, h=1e-6):
    """(1/V) dE/dε of a fresh calculator's energy by central differences (``conftest.fd_stress_of``)."""

    def energy(strained):
        strained.calc = calculator_factory()
        return strained.get_potential_energy()

    return fd_stress_of(energy, atoms, h)


def test_biased_stress_matches_finite_differences_of_the_biased_energy():
    atoms = cu_cell(seed=6, rattle=0.1)
    biases = [HarmonicUmbrella(Distance(0, 9), 3.0, k=4.0), HarmonicUmbrella(CoordinationNumber(3, r0=2.6), 9.0, k=0.5)]
    atoms.calc = BiasedCalculator(EMT(), biases)
    stress = atoms.get_stress()
    res = atoms.calc.results
    assert np.abs(res["bias_stress"]).max() > 1e-3  # the biases change the stress here
    np.testing.assert_allclose(res["base_stress"], EMT().get_stress(atoms), atol=1e-12)
    np.testing.assert_allclose(stress, fd_stress(lambda: BiasedCalculator(EMT(), biases), atoms), atol=2e-6)
    for bias in biases:  # each bias alone against its own finite differences
        alone = fd_stress(lambda: BiasedCalculator(EMT(), [bias]), atoms) - fd_stress(EMT, atoms)
        np.testing.assert_allclose(bias.stress(atoms), alone, atol=2e-6)


def test_bias_without_stress_makes_stress_unavailable():
    from ase.calculators.calculator import PropertyNotImplementedError

    from ridgeline.simulate.biases import Bias

    class Wall(Bias):
        def energy_and_forces(self, atoms, calc=None):
            return 0.0, np.zeros((len(atoms), 3))

    atoms = cu_cell()
    atoms.calc = BiasedCalculator(EMT(), [Wall()])
    assert atoms.get_forces().shape == (len(atoms), 3)
    with pytest.raises(PropertyNotImplementedError, match="bias Wall gives none.*constant pressure"):
        atoms.get_stress()


def test_umbrella_runs_at_constant_pressure():
    from ridgeline.simulate.md import MD

    start = cu_cell(rattle=0.0, a=3.61 * 1.02)
    md = MD(start, BiasedCalculator(EMT(), [HarmonicUmbrella(Distance(0, 1), 2.8, k=2.0)]), "npt_mtk", timestep=2.0,
            temperature=100.0, tau_p=200.0, seed=0)
    run = md.run(100)
    assert run.status == "completed" and md.atoms.get_volume() < start.get_volume()

"""Vacancy migration: EMT Cu's nearest-neighbour hop (a symmetric profile, a barrier in the known
range), the hop's geometry, and the barrier's interval with a calibrated model."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from ridgeline.errors import ConfigError, DataError
from ridgeline.properties.migration import vacancy_hop, vacancy_migration


def test_emt_copper_vacancy_hop():
    result = vacancy_migration(bulk("Cu"), EMT(), supercell=3, images=5)
    e = result.energies
    assert result.converged and len(e) == 7 and len(result.images[0]) == 26
    assert np.allclose(e, e[::-1], atol=3e-3)  # the hop's two states are alike: a symmetric profile
    barrier = result.estimates()["vacancy_migration_barrier"]
    assert list(result.estimates()) == ["vacancy_migration_barrier"]
    assert barrier.unit == "eV" and 0.5 < barrier.value < 0.8  # EMT Cu: about 0.7 eV
    assert barrier.value == pytest.approx(result.barrier_backward.value, abs=3e-3)
    assert result.climbing_image == 3 and result.max_forces[3] < result.fmax
    assert result.hop_distance == pytest.approx(np.linalg.norm(bulk("Cu").cell[0]), abs=1e-9)  # a / sqrt(2)
    assert result.to_dict()["supercell"] == [3, 3, 3]


def test_hop_moves_the_nearest_neighbour_onto_the_vacancy():
    crystal = bulk("Cu", cubic=True)
    initial, final, j, distance = vacancy_hop(crystal, (2, 2, 2))
    assert len(initial) == len(final) == 31
    moved = np.flatnonzero(np.linalg.norm(final.positions - initial.positions, axis=1) > 1e-9)
    assert moved.tolist() == [j]
    cell = crystal.repeat((2, 2, 2))
    fractional = np.linalg.solve(cell.cell.T, final.positions[j] - cell.positions[0])
    assert np.allclose(fractional, np.round(fractional), atol=1e-9)  # on site 0, up to a lattice vector
    assert distance == pytest.approx(crystal.cell[0, 0] / np.sqrt(2))


def test_bad_crystals():
    with pytest.raises(DataError, match="one element"):
        vacancy_hop(bulk("NaCl", "rocksalt", a=5.6), 2)
    molecule = bulk("Cu")
    molecule.pbc = False
    with pytest.raises(DataError, match="periodic in all three"):
        vacancy_hop(molecule, 2)
    with pytest.raises(ConfigError, match="supercell"):
        vacancy_hop(bulk("Cu"), (2, 2))


def test_interval_of_the_barrier_with_a_calibrated_model(calibrated_model):
    from ridgeline.simulate.calculator import Calculator

    calc = Calculator(calibrated_model, dtype="float64")
    result = vacancy_migration(bulk("Cu"), calc, supercell=2, images=3, fmax=0.1, steps=100)
    barrier = result.estimates()["vacancy_migration_barrier"]
    sigmas = result.energy_sigmas
    assert sigmas is not None and np.all(np.isfinite(sigmas)) and np.all(sigmas > 0)
    assert barrier.sigma is not None and np.isfinite(barrier.sigma) and barrier.sigma > 0
    assert barrier.lower < barrier.value < barrier.upper and barrier.method == "linearised"
    # the endpoints' errors are correlated: the difference is sharper than the two sigmas added
    assert barrier.sigma < sigmas[0] + sigmas[result.highest_image]
    assert isinstance(barrier.out_of_domain, bool)
    assert all(isinstance(flag, bool) for flag in result.image_out_of_domain)

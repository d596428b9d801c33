"""Radial distribution functions: lattice shells and coordination numbers, the ideal gas, partial
sums, non-periodic clusters, and the pair counts against ASE's neighbour list."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import neighbor_list
from scipy.spatial.distance import pdist

from ridgeline.analysis import rdf
from ridgeline.errors import DataError

A = 3.6


def test_fcc_shells_and_coordination_numbers():
    crystal = bulk("Cu", "fcc", a=A, cubic=True) * (4, 4, 4)
    result = rdf([crystal], r_max=5.0, n_bins=500)
    peaks = result.peaks("Cu-Cu")
    shells = A * np.array([1 / np.sqrt(2), 1.0, np.sqrt(1.5)])
    assert len(peaks) == 3
    np.testing.assert_allclose(peaks, shells, atol=0.01)  # bin width 0.01 Å
    cumulative = [result.coordination_number("Cu", "Cu", r) for r in (0.5 * (shells[:-1] + shells[1:])).tolist() + [4.8]]
    assert np.diff([0.0] + cumulative).tolist() == [12.0, 6.0, 24.0]
    shell = result.first_shell("Cu", "Cu")
    assert shell["r_peak"] == pytest.approx(shells[0], abs=0.01) and shell["n"] == 12.0
    assert result.periodic and result.volume == pytest.approx(crystal.get_volume())


def test_ideal_gas_tends_to_one():
    rng = np.random.default_rng(0)
    box, n = 20.0, 2000
    frames = [Atoms("Ar" * n, positions=rng.uniform(0, box, (n, 3)), cell=[box] * 3, pbc=True) for _ in range(4)]
    result = rdf(frames, r_max=6.0, n_bins=30)
    far = result.r > 1.5
    # N_a N_b / V normalisation: an ideal gas gives (N - 1) / N; the Poisson noise per bin is < 1 %
    np.testing.assert_allclose(result.g["Ar-Ar"][far], (n - 1) / n, atol=0.03)
    assert abs(result.g["Ar-Ar"][far].mean() - (n - 1) / n) < 0.005
    density = n / box ** 3
    assert result.coordination_number("Ar", "Ar", 5.0) == pytest.approx((n - 1) / box ** 3 * 4 / 3 * np.pi * 125, rel=0.02)
    assert density > 0


def test_partials_sum_to_the_total_and_are_symmetric():
    rng = np.random.default_rng(1)
    n = 600
    symbols = ["Na"] * 180 + ["Cl"] * 420
    atoms = Atoms(symbols, positions=rng.uniform(0, 15.0, (n, 3)), cell=[15.0] * 3, pbc=True)
    result = rdf([atoms, atoms.copy()], r_max=5.0, n_bins=50)
    x = result.concentrations
    assert x == pytest.approx({"Na": 0.3, "Cl": 0.7})
    weighted = sum(x[a] * x[b] * result.g[f"{a}-{b}"] for a in x for b in x)
    np.testing.assert_allclose(weighted, result.g["total"], rtol=1e-12)
    np.testing.assert_allclose(result.g["Na-Cl"], result.g["Cl-Na"], rtol=1e-12)
    # every Na-Cl pair is a Cl-Na pair: N_Na n_NaCl = N_Cl n_ClNa
    np.testing.assert_allclose(180 * result.coordination["Na-Cl"], 420 * result.coordination["Cl-Na"], rtol=1e-12)


def test_rocksalt_partials():
    crystal = bulk("NaCl", "rocksalt", a=5.6, cubic=True) * (3, 3, 3)
    result = rdf([crystal], r_max=4.5, n_bins=450)
    assert result.first_shell("Na", "Cl")["r_peak"] == pytest.approx(2.8, abs=0.01)
    assert result.coordination_number("Na", "Cl", 3.0) == 6.0
    assert result.coordination_number("Na", "Na", 3.0) == 0.0
    assert result.coordination_number("Na", "Na", 4.2) == 12.0


def test_counts_match_ase_neighbor_list_in_a_small_triclinic_cell():
    # r_max larger than the cell: vesin must count several images, as ASE does
    rng = np.random.default_rng(2)
    cell = np.array([[4.0, 0.0, 0.0], [1.0, 4.5, 0.0], [0.5, 0.7, 5.0]])
    atoms = Atoms("Cu6", cell=cell, pbc=True, scaled_positions=rng.uniform(size=(6, 3)))
    result = rdf([atoms], r_max=7.0, n_bins=70)
    d = neighbor_list("d", atoms, 7.0)
    expected = np.histogram(d, bins=result.edges)[0]
    np.testing.assert_allclose(result.coordination["total"] * len(atoms), np.cumsum(expected))


def test_non_periodic_cluster():
    rng = np.random.default_rng(3)
    cluster = Atoms("C40", positions=rng.uniform(0, 8.0, (40, 3)))
    result = rdf([cluster], r_max=6.0, n_bins=60)
    expected = np.histogram(pdist(cluster.positions), bins=result.edges)[0] * 2
    np.testing.assert_allclose(result.coordination["total"] * 40, np.cumsum(expected))
    from scipy.spatial import ConvexHull

    assert not result.periodic
    assert result.volume == pytest.approx(ConvexHull(cluster.positions).volume)
    given = rdf([cluster], r_max=6.0, n_bins=60, volume=2 * result.volume)
    np.testing.assert_allclose(given.g["C-C"], 2 * result.g["C-C"])


def test_bad_input_is_a_data_error():
    with pytest.raises(DataError, match="frame 1 has 3 atoms"):
        rdf([Atoms("Cu2", positions=[[0, 0, 0], [1, 0, 0]]), Atoms("Cu3", positions=np.eye(3))])
    with pytest.raises(DataError, match="no volume"):
        rdf([Atoms("Cu2", positions=[[0, 0, 0], [1, 0, 0]])])


def test_to_json_round_trip():
    import json

    result = rdf([bulk("Cu", "fcc", a=A, cubic=True) * 2], r_max=4.0, n_bins=40)
    data = json.loads(result.to_json())
    assert data["elements"] == ["Cu"] and len(data["g"]["Cu-Cu"]) == 40
    assert data == result.to_dict()


def test_agrees_with_ase_get_rdf():
    from ase.geometry.rdf import get_rdf

    rng = np.random.default_rng(5)
    crystal = bulk("NaCl", "rocksalt", a=5.6, cubic=True) * (3, 3, 3)
    crystal.positions += rng.normal(scale=0.1, size=crystal.positions.shape)
    result = rdf([crystal], r_max=6.0, n_bins=60)
    np.testing.assert_allclose(result.g["total"], get_rdf(crystal, 6.0, 60)[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(result.g["Na-Cl"], get_rdf(crystal, 6.0, 60, elements=["Na", "Cl"])[0], rtol=1e-10, atol=1e-12)

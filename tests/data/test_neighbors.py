import numpy as np
import pytest
from ase.build import bulk, fcc111, molecule

from ridgeline.data import neighbor_list


def pair_set(positions, cell, pbc, cutoff, backend):
    i, j, s = neighbor_list(positions, cell, pbc, cutoff, backend=backend)
    assert len(i) == len(j) == len(s)
    # sorted by centre then neighbour, as documented
    assert np.all(np.diff(i) >= 0)
    assert np.all((np.diff(i) > 0) | (np.diff(j) >= 0))
    vec = positions[j] - positions[i] + s @ cell
    d = np.linalg.norm(vec, axis=1)
    assert np.all(d < cutoff)
    assert not np.any((i == j) & ~s.any(axis=1)), "self pair with zero shift"
    return {(int(a), int(b), *map(int, c)) for a, b, c in zip(i, j, s)}, d


def triclinic():
    rng = np.random.default_rng(1)
    a = bulk("Cu", "fcc", a=3.6).repeat((2, 2, 2))  # fcc primitive cell: triclinic lattice vectors
    a.set_cell(a.cell.array + rng.normal(0, 0.1, (3, 3)), scale_atoms=True)
    a.positions += rng.normal(0, 0.1, a.positions.shape)
    return a.positions, a.cell.array, a.pbc, 5.0


def tiny_cell():
    cell = np.array([[2.1, 0, 0], [0.4, 2.3, 0], [0.2, 0.3, 2.5]])
    pos = np.array([[0.1, 0.2, 0.3], [1.0, 1.1, 1.4]])
    return pos, cell, np.array([True, True, True]), 6.0  # cutoff > cell size: many images


def molecule_case():
    m = molecule("CH3CH2OH")
    return m.positions, np.zeros((3, 3)), np.array([False] * 3), 3.0


def slab():
    s = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
    s.positions += np.random.default_rng(2).normal(0, 0.05, s.positions.shape)
    return s.positions, s.cell.array, np.array([True, True, False]), 4.5


@pytest.mark.parametrize("make", [triclinic, tiny_cell, molecule_case, slab])
def test_vesin_matches_ase(make):
    pos, cell, pbc, cutoff = make()
    pv, dv = pair_set(pos, cell, pbc, cutoff, "vesin")
    pa, da = pair_set(pos, cell, pbc, cutoff, "ase")
    assert len(pv) > 0
    assert pv == pa
    np.testing.assert_allclose(np.sort(dv), np.sort(da), atol=1e-12)
    # full list: every (i, j, S) has its reverse (j, i, -S)
    assert pv == {(j, i, -a, -b, -c) for i, j, a, b, c in pv}


def test_tiny_cell_has_self_images():
    pos, cell, pbc, cutoff = tiny_cell()
    pv, _ = pair_set(pos, cell, pbc, cutoff, "vesin")
    assert any(i == j for i, j, *_ in pv)
    assert max(max(abs(a), abs(b), abs(c)) for _, _, a, b, c in pv) >= 2


def test_slab_has_no_shift_along_vacuum():
    pos, cell, pbc, cutoff = slab()
    pv, _ = pair_set(pos, cell, pbc, cutoff, "vesin")
    assert all(c == 0 for *_, c in pv)
    assert any(a != 0 or b != 0 for _, _, a, b, _ in pv)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown neighbour-list backend"):
        neighbor_list(np.zeros((1, 3)), np.eye(3), [True] * 3, 1.0, backend="nope")

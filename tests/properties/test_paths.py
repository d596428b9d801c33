"""Nudged elastic band: a symmetric hop gives a symmetric profile with a converged climbing
image; tangents, maxima and the smoothness warnings on hand-made profiles; endpoints that differ."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, fcc100
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms

from ridgeline.errors import ConfigError, DataError
from ridgeline.properties.paths import improved_tangents, local_maxima, neb, path_warnings, plot_path


def adatom_hop():
    """A Cu adatom in a hollow of Cu(100) and the same adatom in the neighbouring hollow."""
    slab = fcc100("Cu", size=(2, 2, 2), vacuum=5.0)
    add_adsorbate(slab, "Cu", 1.7, "hollow")
    slab.set_constraint(FixAtoms(mask=[atom.tag == 2 for atom in slab]))  # the bottom layer
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / 2
    return slab, final


@pytest.fixture(scope="module")
def hop():
    return neb(*adatom_hop(), EMT(), images=3, fmax=0.05)


def test_symmetric_hop_gives_a_symmetric_profile_and_a_saddle(hop):
    e = hop.energies
    assert hop.converged and hop.optimizer_converged and hop.endpoints_converged == [True, True]
    assert np.allclose(e, e[::-1], atol=3e-3)  # E(k) = E(n - k)
    assert hop.barrier_forward.value == pytest.approx(hop.barrier_backward.value, abs=3e-3)
    assert abs(hop.reaction_energy.value) < 3e-3
    assert 0.2 < hop.barrier_forward.value < 0.8
    assert hop.climbing_image == hop.highest_image == 2 and hop.n_maxima == 1
    assert hop.perpendicular_forces[hop.climbing_image] < hop.fmax
    assert hop.max_forces[hop.climbing_image] < hop.fmax  # the whole force: a saddle point
    assert np.all(hop.perpendicular_forces[1:-1] < hop.fmax)
    assert hop.warnings == [] and hop.energy_sigmas is None and hop.image_out_of_domain is None
    assert hop.barrier_forward.sigma is None and hop.barrier_forward.out_of_domain is None


def test_band_energies_are_the_calculators(hop):
    for image, energy in zip(hop.images, hop.energies):
        probe = image.copy()
        probe.calc = EMT()
        assert probe.get_potential_energy() == pytest.approx(energy, abs=1e-9)
    coordinate = np.concatenate([[0], np.cumsum([np.linalg.norm(b.positions - a.positions)
                                                 for a, b in zip(hop.images[:-1], hop.images[1:])])])
    assert np.allclose(hop.reaction_coordinate, coordinate)


def test_json_and_plot(hop, tmp_path):
    data = json.loads(hop.to_json())
    assert data["barrier_forward"]["unit"] == "eV" and len(data["energies"]) == 5
    assert len(data["positions"]) == 5 and data["symbols"][-1] == "Cu"
    plot_path(hop, tmp_path / "path.png")
    assert (tmp_path / "path.png").read_bytes()[:4] == b"\x89PNG"


def test_improved_tangent_follows_the_uphill_neighbour():
    steps = np.array([[[1.0, 0, 0]], [[0, 2.0, 0]]])  # image 0 -> 1 along x, 1 -> 2 along y
    t = improved_tangents(steps, np.array([0.0, 1.0, 2.0]))
    assert np.allclose(t[1], [[0, 1, 0]])  # rising: the forward step
    t = improved_tangents(steps, np.array([2.0, 1.0, 0.0]))
    assert np.allclose(t[1], [[1, 0, 0]])  # falling: the backward step
    t = improved_tangents(steps, np.array([0.0, 1.0, 0.5]))  # a maximum: weighted by the energy changes
    expected = np.array([[0.5, 2.0, 0]]) / np.linalg.norm([0.5, 2.0])
    assert np.allclose(t[1], expected)
    assert np.allclose(t[0], [[1, 0, 0]]) and np.allclose(t[2], [[0, 1, 0]])


def test_two_maxima_and_a_kink_are_warned():
    two = np.array([0.0, 0.5, 0.2, 0.5, 0.0])
    assert local_maxima(two) == [1, 3]
    second = two[:-2] - 2 * two[1:-1] + two[2:]
    text = " ".join(path_warnings(two, second, 2, 0.5))
    assert "2 energy maxima" in text and "intermediate" in text
    sharp = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    text = " ".join(path_warnings(sharp, sharp[:-2] - 2 * sharp[1:-1] + sharp[2:], 1, 1.0))
    assert "bends sharply at image 2" in text
    smooth = 0.5 * (1 - np.cos(np.linspace(0, 2 * np.pi, 9)))
    assert path_warnings(smooth, smooth[:-2] - 2 * smooth[1:-1] + smooth[2:], 1, 1.0) == []
    # a one-image spike on a longer band is still a kink; a barrier narrower than a cosine is not
    # (ethanol's methyl torsion under xTB, 7 images: second difference 0.61 of the barrier at the top)
    spike = np.zeros(9)
    spike[4] = 1.0
    assert "bends sharply at image 4" in " ".join(path_warnings(spike, spike[:-2] - 2 * spike[1:-1] + spike[2:], 1, 1.0))
    torsion = np.array([0.0, 0.0019, 0.0179, 0.0616, 0.0887, 0.0617, 0.018, 0.0019, 0.0])
    assert path_warnings(torsion, torsion[:-2] - 2 * torsion[1:-1] + torsion[2:], 1, 0.0887) == []


def test_endpoints_that_differ_are_named():
    a = Atoms("CuAu", positions=[[0, 0, 0], [0, 0, 2.5]])
    with pytest.raises(DataError, match="different numbers of atoms: 2 .initial. and 3 .final."):
        neb(a, Atoms("CuAu2", positions=np.zeros((3, 3))), EMT())
    with pytest.raises(DataError, match=r"elements differ at 2 atom\(s\), first at atom 0: Cu \(initial\) and Au \(final\)"):
        neb(a, Atoms("AuCu", positions=a.positions), EMT())
    with pytest.raises(DataError, match="periodicity differs"):
        neb(a, Atoms("CuAu", positions=a.positions, cell=[5, 5, 5], pbc=True), EMT())
    with pytest.raises(ConfigError, match="unknown NEB optimizer 'sd'"):
        neb(a, a, EMT(), optimizer="sd")


def test_a_band_out_of_steps_is_not_converged():
    result = neb(*adatom_hop(), EMT(), images=3, steps=3)
    assert result.steps == 3 and not result.optimizer_converged and not result.converged
    assert any("did not converge" in w for w in result.warnings)

"""Vacancy and interstitial formation energies: EMT Cu against hand calculations, the size check,
the interstitial sites, compounds, intervals with a calibrated model, bad input."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.optimize import BFGS

from ridgeline.errors import ConfigError, DataError
from ridgeline.properties.defects import (conventional_cell, interstitial_formation, interstitial_sites,
                                          plot_interstitial, plot_vacancy, repetitions, site_shape, vacancy_formation)
from ridgeline.simulate.calculator import Calculator

A = 3.61  # Å, ase.build.bulk's Cu


def energy(atoms):
    atoms = atoms.copy()
    atoms.calc = EMT()
    return atoms.get_potential_energy()


def relaxed_energy(atoms, fmax=1e-4):
    atoms = atoms.copy()
    atoms.calc = EMT()
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=500)
    return atoms.get_potential_energy()


def test_vacancy_matches_a_hand_calculation_with_emt():
    """E_f = E_def - (N-1)/N E_bulk: a 2x2x2 conventional cell, one atom removed, relaxed by BFGS."""
    perfect = bulk("Cu", "fcc", a=A, cubic=True).repeat(2)
    defect = perfect.copy()
    del defect[0]
    e_bulk = energy(perfect)
    hand = relaxed_energy(defect) - 31 / 32 * e_bulk
    hand_unrelaxed = energy(defect) - 31 / 32 * e_bulk
    result = vacancy_formation(bulk("Cu"), EMT(), supercells=(2,), fmax=1e-4)  # from the primitive cell
    cell = result.cells[0]
    assert cell.n_atoms == 32 and cell.repeat == (2, 2, 2) and cell.relaxation_converged
    assert cell.formation_energy.value == pytest.approx(hand, abs=1e-6)
    assert cell.unrelaxed_formation_energy == pytest.approx(hand_unrelaxed, abs=1e-10)
    assert cell.relaxation_energy == pytest.approx(hand_unrelaxed - hand, abs=1e-6)
    assert result.converged is None and any("no size check" in w for w in result.warnings)
    assert cell.formation_energy.sigma is None and cell.formation_energy.out_of_domain is None  # EMT: unknown


def test_vacancy_emt_value_and_json(tmp_path):
    result = vacancy_formation(bulk("Cu"), EMT(), supercells=(2, 3))
    assert [c.n_atoms for c in result.cells] == [32, 108]
    ef = result.estimates()["vacancy_formation_energy"]
    assert ef is result.cells[-1].formation_energy and ef.unit == "eV"
    assert 1.1 < ef.value < 1.3  # EMT Cu (Jacobsen et al.'s fit: about 1.2 eV)
    assert ef.value < result.cells[-1].unrelaxed_formation_energy and result.cells[-1].relaxation_energy > 0
    assert result.converged is True  # 32 and 108 atoms agree within 0.05 eV
    assert result.pressure == pytest.approx(-2.18, abs=0.05) and "under -2.18 GPa" in result.warnings[0]
    data = json.loads(result.to_json())
    assert data["cells"][1]["formation_energy"]["value"] == pytest.approx(ef.value) and data["element"] == "Cu"
    plot_vacancy(result, tmp_path / "v.png")
    assert (tmp_path / "v.png").stat().st_size > 0


@pytest.mark.parametrize("tolerance, converged", [(0.1, True), (0.01, False)])
def test_vacancy_size_check(tolerance, converged):
    """4 and 32 atoms differ by about 0.04 eV under EMT: converged for 0.1 eV, not for 0.01 eV."""
    result = vacancy_formation(bulk("Cu"), EMT(), supercells=(1, 2), tolerance=tolerance, relax_cell=True)
    change = abs(result.cells[1].formation_energy.value - result.cells[0].formation_energy.value)
    assert 0.01 < change < 0.1 and result.converged is converged
    assert result.pressure == pytest.approx(0, abs=0.05) and not any("GPa" in w for w in result.warnings)
    assert any("use larger supercells" in w for w in result.warnings) is not converged


def test_unrelaxed_vacancy_and_supercells():
    result = vacancy_formation(bulk("Cu", cubic=True).repeat(2), EMT(), supercells=[(1, 1, 2), 1], relax=False)
    assert [c.repeat for c in result.cells] == [(1, 1, 1), (1, 1, 2)]  # the input's conventional cell, ascending
    assert all(c.relaxation_energy is None and c.relaxation_converged is None for c in result.cells)
    assert result.cells[0].formation_energy.value == pytest.approx(result.cells[0].unrelaxed_formation_energy, abs=0)
    assert repetitions(3) == [(3, 3, 3)]
    for bad in ([0], [(1, 2)], [1.5], []):
        with pytest.raises(ConfigError, match="supercell"):
            repetitions(bad)


def cu3au():
    return Atoms("AuCu3", scaled_positions=[(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)],
                 cell=3.75 * np.eye(3), pbc=True)


def test_compound_needs_a_chemical_potential():
    with pytest.raises(ConfigError, match="chemical potential of Au"):
        vacancy_formation(cu3au(), EMT(), supercells=(1,))
    with pytest.raises(ConfigError, match="name its element"):
        interstitial_formation(cu3au(), EMT())
    # with it: E_f = E_def - E_bulk + mu
    mu = -0.5
    result = vacancy_formation(cu3au(), EMT(), supercells=(2,), relax=False, chemical_potential=mu)
    perfect = conventional_cell(cu3au()).repeat(2)
    defect = perfect.copy()
    del defect[0]
    assert result.element == perfect[0].symbol and result.chemical_potential == mu
    assert result.formation_energy.value == pytest.approx(energy(defect) - energy(perfect) + mu, abs=1e-10)


def test_bad_input():
    with pytest.raises(DataError, match="periodic in three directions"):
        vacancy_formation(molecule("H2O"), EMT())
    with pytest.raises(ConfigError, match="site 4 is not an atom"):
        vacancy_formation(bulk("Cu"), EMT(), site=4, supercells=(1,))
    with pytest.raises(ConfigError, match="three fractional coordinates"):
        interstitial_formation(bulk("Cu"), EMT(), site=(0.5, 0.5))
    with pytest.raises(ConfigError, match="'auto' or a position"):
        interstitial_formation(bulk("Cu"), EMT(), site="octahedral")
    with pytest.raises(ConfigError, match="tolerance must be positive"):
        vacancy_formation(bulk("Cu"), EMT(), tolerance=0)
    with pytest.raises(ConfigError, match="a supercell is a positive integer"):
        interstitial_formation(bulk("Cu"), EMT(), supercell=None)


def test_interstitial_sites_of_fcc_and_bcc():
    fcc = conventional_cell(bulk("Cu"))
    sites = interstitial_sites(fcc)
    shapes = [site_shape(fcc, s) for s in sites]
    assert [s[2] for s in shapes] == ["octahedral", "tetrahedral"]  # largest first, one per orbit
    assert shapes[0][:2] == (pytest.approx(A / 2), 6) and shapes[1][:2] == (pytest.approx(A * np.sqrt(3) / 4), 4)
    # the octahedral site found is equivalent to the cube's centre: a lattice translation of (1/2, 1/2, 1/2)
    offset = sites[0] - 0.5
    assert np.allclose(offset * 2, np.round(offset * 2)) and int(np.round(2 * offset).sum()) % 2 == 0
    bcc = conventional_cell(bulk("Fe"))
    (site,) = interstitial_sites(bcc)
    assert site_shape(bcc, site) == (pytest.approx(2.87 * np.sqrt(5) / 4), 4, "tetrahedral")


def test_interstitial_emt_against_hand_calculation_and_the_vacancy(tmp_path):
    result = interstitial_formation(bulk("Cu"), EMT(), supercell=2)
    assert [s.name for s in result.sites] == ["octahedral", "tetrahedral"]  # ascending E_f
    octahedral = result.lowest
    ef = result.estimates()["interstitial_formation_energy"]
    assert ef is octahedral.calculation.formation_energy and ef.unit == "eV"
    vacancy = vacancy_formation(bulk("Cu"), EMT(), supercells=(2,)).formation_energy.value
    assert ef.value > vacancy > 0
    # the unrelaxed value by hand: an atom at the cube's centre of the first cell, E_def - 33/32 E_bulk
    perfect = bulk("Cu", "fcc", a=A, cubic=True).repeat(2)
    defect = perfect.copy()
    defect.append("Cu")
    defect.positions[-1] = octahedral.position @ conventional_cell(bulk("Cu")).cell[:]
    assert octahedral.calculation.unrelaxed_formation_energy == pytest.approx(
        energy(defect) - 33 / 32 * energy(perfect), abs=1e-10)
    assert octahedral.displacement < 1e-6 and octahedral.nearest_distance > A / 2  # its neighbours move out
    given = interstitial_formation(bulk("Cu"), EMT(), site=(0.5, 0.5, 0.5), supercell=2)
    assert given.lowest.name == "given" and given.formation_energy.value == pytest.approx(ef.value, abs=1e-6)
    plot_interstitial(result, tmp_path / "i.png")
    assert json.loads(result.to_json())["sites"][0]["name"] == "octahedral"


def test_a_displaced_tetrahedral_interstitial_leaves_its_site():
    result = interstitial_formation(bulk("Cu"), EMT(), supercell=2, displace=0.1, relax_cell=True)
    tetrahedral = next(s for s in result.sites if s.name == "tetrahedral")
    assert tetrahedral.displacement > 0.5 and any("not stable there" in w for w in result.warnings)


def test_intervals_and_domain_flags_with_a_calibrated_model(calibrated_model):
    calc = Calculator(calibrated_model)
    vacancy = vacancy_formation(bulk("Cu"), calc, supercells=(1, 2), fmax=0.05)
    for cell in vacancy.cells:
        est = cell.formation_energy
        assert np.isfinite(est.value) and np.isfinite(est.sigma) and est.sigma > 0
        assert est.lower < est.value < est.upper and est.method == "linearised"
        assert isinstance(est.out_of_domain, bool)
    interstitial = interstitial_formation(bulk("Cu"), calc, supercell=1, max_sites=1, fmax=0.05)
    est = interstitial.formation_energy
    assert np.isfinite(est.sigma) and est.sigma > 0 and isinstance(est.out_of_domain, bool)
    json.loads(vacancy.to_json())


def test_automatic_vacancy_supercells_hold_fifty_atoms_or_more():
    """The default sizes: the least n x n x n repetition of the conventional cell with 50 atoms or
    more, and the next, whatever the lattice."""
    from ridgeline.properties.defects import AUTO_MIN_ATOMS, auto_supercells

    sizes = {name: auto_supercells(bulk(*spec, cubic=True)) for name, spec in
             {"fcc": ("Cu", "fcc", 3.61), "bcc": ("Mo", "bcc", 3.17), "diamond": ("Si", "diamond", 5.43)}.items()}
    assert sizes == {"fcc": (3, 4), "bcc": (3, 4), "diamond": (2, 3)}
    for name, (n, _) in sizes.items():
        atoms = {"fcc": 4, "bcc": 2, "diamond": 8}[name]
        assert atoms * n**3 >= AUTO_MIN_ATOMS > atoms * (n - 1) ** 3
    with pytest.raises(ConfigError, match="auto"):
        vacancy_formation(bulk("Cu"), EMT(), supercells="big")

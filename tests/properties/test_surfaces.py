"""Surface energies: EMT Cu against a hand calculation, the facets' order, the thickness check,
terminations of a compound, intervals with a calibrated model, bad input."""

import json
import math

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule, surface
from ase.calculators.emt import EMT
from ase.optimize import BFGS

from ridgeline.errors import ConfigError, DataError
from ridgeline.properties.surfaces import (atomic_planes, check_stoichiometry, cut_slab, facet_name, miller,
                                           plot_surfaces, surface_energies)
from ridgeline.simulate.calculator import Calculator

EV_PER_A2 = 16.02176634  # J/m^2 in one eV/Å^2 (e = 1.602176634e-19 C exactly)


def test_surface_energy_matches_a_hand_calculation_with_emt():
    """(100), 4 planes: gamma = (E_slab - N E_bulk/4) / 2A from the cubic cell, relaxed by BFGS."""
    cube = bulk("Cu", "fcc", a=3.61, cubic=True)
    cube.calc = EMT()
    per_atom = cube.get_potential_energy() / len(cube)
    slab = surface(bulk("Cu", "fcc", a=3.61, cubic=True), (1, 0, 0), 2, vacuum=10.0)
    slab.calc = EMT()
    area = 3.61 ** 2
    unrelaxed = (slab.get_potential_energy() - len(slab) * per_atom) / (2 * area)
    BFGS(slab, logfile=None).run(fmax=1e-4, steps=500)
    hand = (slab.get_potential_energy() - len(slab) * per_atom) / (2 * area)

    result = surface_energies(bulk("Cu"), EMT(), facets=["100"], layers=(4,), min_thickness=0.0, fmax=1e-4)
    (facet,) = result.facets
    (one,) = facet.slabs
    assert facet.miller == (1, 0, 0) and one.planes == 4 and one.n_atoms == 8 and one.area == pytest.approx(area)
    assert one.surface_energy_ev == pytest.approx(hand, abs=1e-7)
    assert one.surface_energy.value == pytest.approx(hand * EV_PER_A2, abs=1e-6) and one.surface_energy.unit == "J/m^2"
    assert one.unrelaxed_surface_energy == pytest.approx(unrelaxed * EV_PER_A2, abs=1e-7)
    assert result.bulk_energy_per_atom == pytest.approx(per_atom, abs=1e-9)
    assert facet.converged is None and any("no thickness check" in w for w in result.warnings)
    assert one.surface_energy.sigma is None and one.surface_energy.out_of_domain is None


def test_emt_cu_facets_and_thickness_check(tmp_path):
    result = surface_energies(bulk("Cu"), EMT(), relax_cell=True, min_thickness=0.0)
    estimates = result.estimates()
    assert list(estimates) == ["surface_energy_100", "surface_energy_110", "surface_energy_111"]
    values = {k: e.value for k, e in estimates.items()}
    assert min(values, key=values.get) == "surface_energy_111" and result.lowest.miller == (1, 1, 1)  # close-packed
    assert all(0.8 < v < 1.5 for v in values.values())
    for facet in result.facets:
        assert [s.planes for s in facet.slabs] == [4, 6] and facet.converged is True  # EMT: within 0.02 J/m^2
        thick = facet.slabs[-1]
        assert thick.surface_energy.value <= thick.unrelaxed_surface_energy and thick.terminations_alike
    assert result.warnings == []  # the cell relaxed: no pressure warning
    data = json.loads(result.to_json())
    assert data["facets"][2]["miller"] == [1, 1, 1]
    plot_surfaces(result, tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0


def test_thickness_check_fails_for_a_tight_tolerance():
    result = surface_energies(bulk("Cu"), EMT(), facets=[(1, 1, 1)], layers=(2, 3), min_thickness=0.0, tolerance=1e-5)
    (facet,) = result.facets
    assert facet.converged is False and facet.change > 1e-5 and any("use thicker slabs" in w for w in result.warnings)


def cu3au():
    return Atoms("AuCu3", scaled_positions=[(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)],
                 cell=3.75 * np.eye(3), pbc=True)


def test_a_compound_slab_with_two_terminations_is_flagged():
    """Cu3Au (100) alternates AuCu and Cu2 planes: whole cells end on different planes."""
    result = surface_energies(cu3au(), EMT(), facets=["100"], layers=(4,), min_thickness=0.0, relax=False)
    slab = result.facets[0].slabs[0]
    assert not slab.terminations_alike and any("mean of two surfaces" in w for w in result.warnings)
    assert np.isfinite(slab.surface_energy.value)
    slab_atoms = cut_slab(cu3au(), (1, 0, 0), 4, 10.0)
    assert len(atomic_planes(slab_atoms)) == 4
    del slab_atoms[0]
    with pytest.raises(DataError, match="stoichiometry"):
        check_stoichiometry(cu3au(), slab_atoms, (1, 0, 0))


def test_facet_names_and_bad_input():
    assert miller("111") == (1, 1, 1) and miller("1-10") == (1, -1, 0) and miller("2, 1, 1") == (2, 1, 1)
    assert miller((1, 0, 0)) == (1, 0, 0)
    assert facet_name((1, -1, 0)) == "1m10" and facet_name((1, 0, 10)) == "1_0_10"
    for bad in ("11", "1x1", "000", (1, 1)):
        with pytest.raises(ConfigError, match="three Miller indices"):
            miller(bad)
    with pytest.raises(DataError, match="periodic in three directions"):
        surface_energies(molecule("H2O"), EMT())
    with pytest.raises(ConfigError, match="layers"):
        surface_energies(bulk("Cu"), EMT(), layers=(0,))
    with pytest.raises(ConfigError, match="vacuum"):
        surface_energies(bulk("Cu"), EMT(), vacuum=0)
    with pytest.raises(ConfigError, match="min_thickness"):
        surface_energies(bulk("Cu"), EMT(), min_thickness=-1.0)


def test_intervals_and_domain_flags_with_a_calibrated_model(calibrated_model):
    result = surface_energies(bulk("Cu"), Calculator(calibrated_model), facets=["111"], layers=(2,), min_thickness=0.0, fmax=0.05)
    est = result.estimates()["surface_energy_111"]
    assert np.isfinite(est.value) and np.isfinite(est.sigma) and est.sigma > 0 and est.lower < est.value < est.upper
    assert est.unit == "J/m^2" and isinstance(est.out_of_domain, bool)


def test_diamond_111_is_cut_between_bilayers():
    """Diamond (111) planes come in bilayers (0.78 Å apart in Si, three bonds between them; 2.35 Å
    and one bond between bilayers). With a nearest-neighbour pair potential the energy counts the
    broken bonds: the cut through a bilayer (ASE's default origin) costs three times the cut between
    bilayers, and the workflow keeps the latter."""
    from ase.calculators.lj import LennardJones

    from ridgeline.properties.surfaces import planes_per_repeat

    si = bulk("Si", "diamond", a=5.43)
    bond = 5.43 * np.sqrt(3) / 4
    pair = LennardJones(sigma=bond / 2 ** (1 / 6), epsilon=1.0, rc=0.5 * (bond + 5.43 / np.sqrt(2)), smooth=True)
    assert planes_per_repeat(bulk("Si", "diamond", a=5.43, cubic=True), (1, 1, 1)) == 2  # one bilayer
    result = surface_energies(si, pair, facets=["111"], layers=(4,), relax=False)
    (facet,) = result.facets
    through, between = facet.termination_energies
    assert through == pytest.approx(3 * between, rel=1e-6) and between > 0
    assert facet.termination == 1 and facet.surface_energy.value == pytest.approx(between, rel=1e-9)
    slab = cut_slab(result_cell := bulk("Si", "diamond", a=5.43, cubic=True), (1, 1, 1), 4, 10.0, termination=facet.termination)
    z = [slab.positions[p, 2].mean() for p in atomic_planes(slab)]
    assert np.diff(z)[0] == pytest.approx(bond / 3, abs=1e-6) and np.diff(z)[-1] == pytest.approx(bond / 3, abs=1e-6)
    assert len(slab) == len(cut_slab(result_cell, (1, 1, 1), 4, 10.0))  # the same atoms, cut elsewhere


def test_open_facets_get_slabs_of_the_least_thickness():
    """bcc (111) planes are 0.91 Å apart: 4 planes would be a 3 Å film. The default thinnest slab
    holds 10 Å of crystal in whole repetitions; the thicker one adds the planes ``layers`` adds."""
    from ase.build import surface

    from ridgeline.properties.surfaces import MIN_THICKNESS, planes_per_repeat, slab_planes

    mo = bulk("Mo", "bcc", a=3.17, cubic=True)
    per_repeat = planes_per_repeat(mo, (1, 1, 1))
    period = surface(mo, (1, 1, 1), 1, periodic=True).cell[2, 2]
    assert period / per_repeat == pytest.approx(3.17 / (2 * np.sqrt(3)))  # the (222) spacing
    thin, thick = slab_planes(mo, (1, 1, 1), [4, 6], MIN_THICKNESS, 10.0)
    assert thin % per_repeat == 0 and thin / per_repeat * period >= MIN_THICKNESS > (thin / per_repeat - 1) * period
    assert thick == thin + per_repeat  # 2 planes more, rounded up to one repetition
    slab = cut_slab(mo, (1, 1, 1), thin, 10.0)
    assert len(atomic_planes(slab)) == thin and np.ptp(slab.positions[:, 2]) == pytest.approx((thin - 1) * period / per_repeat)
    assert slab_planes(mo, (1, 1, 1), [4, 6], 0.0, 10.0)[0] == math.ceil(4 / per_repeat) * per_repeat
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)  # close-packed: few planes are already thick
    assert slab_planes(cu, (1, 0, 0), [4, 6], MIN_THICKNESS, 10.0) == [6, 8]

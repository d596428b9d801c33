"""Phonons (phonopy) of EMT Cu against ASE's finite-difference phonons and the harmonic sums written
out by hand; an unstable crystal flagged; intervals with a calibrated model; the MD VDOS against the
harmonic DOS."""

import tempfile
from types import SimpleNamespace

import numpy as np
import pytest
from ase import units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.phonons import Phonons

from ridgeline.errors import ConfigError, DataError
from ridgeline.properties.estimates import DRAWS, Uncertainty
from ridgeline.properties.phonons import (HEADLINE_UNITS, compare_vdos, phonons, plot_phonons,
                                          plot_vdos_comparison, supercell_matrix)
from ridgeline.simulate.calculator import Calculator
from ridgeline.simulate.md import MD

THZ = units._hplanck * 1e12 / units._e  # eV
TEMPERATURES = [0.0, 100.0, 300.0, 600.0]


@pytest.fixture(scope="module")
def cu():
    """EMT Cu, primitive cell, 4x4x4 supercell and a 4x4x4 mesh: commensurate, so phonopy's
    frequencies on the mesh are exactly those of the supercell's forces."""
    return phonons(bulk("Cu"), EMT(), supercell=4, mesh=4, temperatures=TEMPERATURES)


@pytest.fixture(scope="module")
def ase_phonons():
    """ASE's finite-difference phonons of the same crystal, calculator and supercell."""
    with tempfile.TemporaryDirectory() as folder:
        ph = Phonons(bulk("Cu"), EMT(), supercell=(4, 4, 4), delta=0.01, name=f"{folder}/ph")
        ph.run()
        ph.read(acoustic=True)
    return ph


def ase_frequencies(ph, q):
    return np.sort(ph.band_structure(np.atleast_2d(q)), axis=1) / THZ  # THz


def test_fcc_cu_matches_ase_phonons_at_x_and_l(cu, ase_phonons):
    assert cu.band_path == "GXWKGLUWLK,UX" and cu.n_atoms == 1 and cu.n_supercell_atoms == 64
    points = bulk("Cu").cell.bandpath(npoints=0).special_points
    for label in ("X", "L"):
        row = np.flatnonzero(np.all(np.isclose(cu.band_q, points[label]), axis=1))[0]
        ours = np.sort(cu.band_frequencies[row])
        np.testing.assert_allclose(ours, ase_frequencies(ase_phonons, points[label])[0], rtol=0.01)
    # EMT Cu: transverse and longitudinal at X near 5.3 and 7.8 THz (experiment 5.2, 7.3)
    x = np.flatnonzero(np.all(np.isclose(cu.band_q, points["X"]), axis=1))[0]
    assert 4.5 < np.sort(cu.band_frequencies[x])[0] < 6 and 7 < cu.band_frequencies[x].max() < 8.5
    gamma = np.flatnonzero(np.all(cu.band_q == 0, axis=1))
    assert len(gamma) >= 2 and np.abs(cu.band_frequencies[gamma]).max() < 1e-3  # acoustic at Gamma
    assert cu.stable and cu.lowest_frequency > 0 and not cu.warnings and cu.max_residual_force < 1e-8


def test_thermal_properties_are_the_harmonic_sums_over_the_mesh(cu, ase_phonons):
    """F, S, C_V and the zero-point energy from the frequencies of the 4x4x4 mesh (from ASE's
    phonons), summed by hand: F = sum kT ln(2 sinh(h nu / 2kT)) per mode / N_q."""
    q = np.array([[i, j, k] for i in range(4) for j in range(4) for k in range(4)]) / 4.0
    energies = ase_frequencies(ase_phonons, q).ravel() * THZ  # eV
    energies = energies[energies > 1e-6]  # the acoustic modes at Gamma carry nothing
    assert len(energies) == 3 * 64 - 3
    assert cu.zero_point_energy == pytest.approx(0.5 * energies.sum() / 64, rel=1e-3)
    assert cu.free_energy[0] == pytest.approx(cu.zero_point_energy, rel=1e-3)
    for k, t in enumerate(TEMPERATURES[1:], start=1):
        kt = units.kB * t
        x = energies / kt
        free = kt * np.log(2 * np.sinh(x / 2)).sum() / 64
        entropy = units.kB * (x / np.expm1(x) - np.log1p(-np.exp(-x))).sum() / 64
        heat = units.kB * (x ** 2 * np.exp(x) / np.expm1(x) ** 2).sum() / 64
        assert cu.free_energy[k] == pytest.approx(free, rel=1e-3, abs=1e-6)
        assert cu.entropy[k] == pytest.approx(1000 * entropy, rel=1e-3)
        assert cu.heat_capacity[k] == pytest.approx(1000 * heat, rel=1e-3)
    assert list(cu.temperatures) == TEMPERATURES
    assert cu.free_energy_300K == cu.free_energy[2] and cu.entropy_300K == cu.entropy[2]
    assert 0.95 * 3000 * units.kB < cu.heat_capacity[-1] < 3000 * units.kB  # towards Dulong-Petit
    assert np.trapezoid(cu.dos, cu.dos_frequency) == pytest.approx(3.0, rel=0.01)  # modes per atom


def test_estimates_without_uncertainty_have_no_interval(cu):
    estimates = cu.estimates()
    assert set(estimates) == set(HEADLINE_UNITS)
    for name, e in estimates.items():
        assert e.unit == HEADLINE_UNITS[name] and e.ci is None and e.out_of_domain is None
    assert estimates["max_frequency"].value == cu.max_frequency == cu.band_frequencies.max()
    data = cu.to_dict()
    assert data["estimates"]["zero_point_energy"]["value"] == cu.zero_point_energy and data["stable"] is True


def test_bcc_cu_has_an_imaginary_mode(tmp_path):
    """bcc Cu at the fcc volume under EMT: the transverse branch at N is imaginary."""
    result = phonons(bulk("Cu", "bcc", a=2.87), EMT(), supercell=4, mesh=8)
    assert not result.stable and result.lowest_frequency < -0.5
    assert result.lowest_label == "N" and "imaginary modes" in result.warnings[0]
    plot_phonons(result, tmp_path / "bcc.png")
    assert (tmp_path / "bcc.png").read_bytes()[:4] == b"\x89PNG"


def test_a_conventional_cell_gives_the_primitive_path():
    """The cubic cell of fcc Cu: phonopy's primitive cell (one atom) and the fcc path, and the
    frequencies of a 3x3x3 cubic supercell agree with a 5x5x5 primitive one."""
    cubic = phonons(bulk("Cu", cubic=True), EMT(), supercell=3, mesh=6)
    primitive = phonons(bulk("Cu"), EMT(), supercell=5, mesh=6)
    assert cubic.n_atoms == 1 and cubic.n_supercell_atoms == 108 and cubic.band_path == "GXWKGLUWLK,UX"
    np.testing.assert_allclose(cubic.band_q, primitive.band_q, atol=1e-12)
    assert cubic.max_frequency == pytest.approx(primitive.max_frequency, rel=1e-3)
    assert cubic.zero_point_energy == pytest.approx(primitive.zero_point_energy, rel=1e-3)


def test_the_lowest_mode_skips_only_the_acoustic_ones_at_gamma():
    from ridgeline.properties.phonons import _lowest

    q = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.5], [1.0, 0.0, 0.0]])
    frequencies = np.array([[-2.0, 1e-7, -1e-7, 2e-7], [1.0, 2.0, 3.0, 4.0], [-0.01, 0.0, 0.0, 5.0]])
    value, where = _lowest(q, frequencies)
    assert value == -2.0 and where.tolist() == [0, 0, 0]  # an imaginary optical mode at Gamma counts
    value, where = _lowest(q[1:], frequencies[1:])
    assert value == 1.0 and where.tolist() == [0.5, 0, 0.5]  # (1, 0, 0) is Gamma too


def test_default_supercell_is_wide_enough():
    primitive, cubic = bulk("Cu"), bulk("Cu", cubic=True)
    assert np.diag(supercell_matrix(primitive)).tolist() == [5, 5, 5]  # 2.08 Å between faces
    assert np.diag(supercell_matrix(cubic)).tolist() == [3, 3, 3]
    assert np.diag(supercell_matrix(primitive, min_width=12.0)).tolist() == [6, 6, 6]
    assert supercell_matrix(primitive, (2, 3, 4)).tolist() == np.diag([2, 3, 4]).tolist()
    # twice the calculator's cutoff where that is wider than 10 Å
    wide = SimpleNamespace(model=SimpleNamespace(cutoff=6.0))
    from ridgeline.properties.phonons import calculator_cutoff

    assert calculator_cutoff(wide) == 6.0 and calculator_cutoff(EMT()) is None


@pytest.mark.parametrize("atoms, options, error, message", [
    (molecule("H2O"), {}, DataError, "not periodic in all three directions"),
    (bulk("Cu"), {"supercell": (2, 2)}, ConfigError, "supercell must be"),
    (bulk("Cu"), {"supercell": [[1, 0, 0], [0, 1, 0], [0, 0, 0]]}, ConfigError, "positive determinant"),
    (bulk("Cu"), {"mesh": 0}, ConfigError, "mesh must be"),
    (bulk("Cu"), {"displacement": 0.0}, ConfigError, "displacement must be"),
    (bulk("Cu"), {"temperatures": [-10.0]}, ConfigError, "temperatures must be"),
])
def test_bad_input(atoms, options, error, message):
    with pytest.raises(error, match=message):
        phonons(atoms, EMT(), **options)


def test_intervals_with_a_calibrated_model(calibrated_model):
    calc = Calculator(calibrated_model)
    result = phonons(bulk("Cu", a=3.6), calc, mesh=6, uncertainty=Uncertainty(calc, draws=4))
    assert np.diag(result.supercell_matrix).tolist() == [5, 5, 5]  # cutoff 4.5 Å: 10 Å decides
    estimates = result.estimates()
    assert set(estimates) == set(HEADLINE_UNITS)
    for e in estimates.values():
        assert e.method == DRAWS and np.isfinite(e.sigma) and e.sigma > 0 and e.lower < e.value < e.upper
        assert isinstance(e.out_of_domain, bool)


def test_md_vdos_of_cu_matches_the_harmonic_dos(tmp_path):
    """EMT Cu at 50 K in a 3x3x3 conventional cell (Langevin, weak friction so every mode is
    re-thermalised but hardly broadened): the MD VDOS's mean frequency within 10% of the harmonic."""
    harmonic = phonons(bulk("Cu"), EMT(), supercell=5, mesh=12)
    frames = []
    md = MD(bulk("Cu", cubic=True).repeat(3), EMT(), "langevin", timestep=5.0, temperature=50.0, seed=1,
            zero_momentum=True, friction=0.002, observers=[lambda step, atoms: frames.append(atoms.copy())])
    md.run(600)
    comparison = compare_vdos(frames, harmonic, dt=5.0)
    assert comparison.mean_frequency_harmonic == pytest.approx(harmonic.mean_frequency, rel=0.02)
    assert comparison.mean_frequency_ratio == pytest.approx(1.0, abs=0.1)
    assert 0.5 < comparison.overlap <= 1.0
    for curve in (comparison.md_dos, comparison.harmonic_dos):
        assert np.trapezoid(curve, comparison.frequency_thz) == pytest.approx(1.0)
    plot_vdos_comparison(comparison, tmp_path / "vdos.png")
    assert (tmp_path / "vdos.png").stat().st_size > 0
    with pytest.raises(ConfigError, match="needs dt"):
        compare_vdos(frames, harmonic)
    with pytest.raises(DataError, match="no curve 'Ag'"):
        compare_vdos(frames, harmonic, dt=5.0, key="Ag")

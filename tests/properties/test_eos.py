"""Equation of state: ASE's fit, the torch Birch-Murnaghan fit behind the interval, lattice constants."""

import math

import numpy as np
import pytest
import torch
from ase import units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

from ridgeline.errors import ConfigError, DataError
from ridgeline.properties.eos import birch_murnaghan, conventional_lengths, equation_of_state, plot_eos
from ridgeline.simulate.calculator import Calculator


@pytest.fixture(scope="module")
def cu_eos():
    return equation_of_state(bulk("Cu"), EMT())


def energy_per_atom(atoms, volume):
    cell = atoms.copy()
    cell.set_cell(atoms.cell.array * (volume / atoms.get_volume() * len(atoms)) ** (1 / 3), scale_atoms=True)
    cell.calc = EMT()
    return cell.get_potential_energy() / len(atoms)


def test_torch_fit_reproduces_ase_birch_murnaghan(cu_eos):
    r = cu_eos
    fit = EquationOfState(r.volumes, r.energies, eos="birchmurnaghan")
    v0, e0, b0 = fit.fit(warn=False)
    ours = {k: float(v) for k, v in birch_murnaghan(torch.tensor(r.energies, dtype=torch.float64), r.volumes,
                                                     r.volumes[3]).items()}
    assert ours["volume"] == pytest.approx(v0, rel=1e-4)
    assert ours["bulk_modulus"] == pytest.approx(b0 / units.GPa, rel=1e-4)
    assert ours["bulk_modulus_derivative"] == pytest.approx(fit.eos_parameters[2], rel=1e-4)
    assert ours["energy"] == pytest.approx(e0, abs=1e-6)
    # the reported values are ASE's fit
    assert (r.volume, r.bulk_modulus, r.bulk_modulus_derivative) == pytest.approx((v0, b0 / units.GPa,
                                                                                    fit.eos_parameters[2]), rel=1e-12)


def test_exact_birch_murnaghan_data_is_recovered():
    """Energies made from the Birch-Murnaghan form are fitted back exactly (a check of the algebra of
    V0, B0 and B0' independent of ASE)."""
    v0, e0, b0, b0p = 12.0, -3.5, 140 * units.GPa, 4.7
    volumes = np.linspace(10.0, 14.0, 7)
    eta = (v0 / volumes) ** (2 / 3)
    energies = e0 + 9 * v0 * b0 / 16 * ((eta - 1) ** 3 * b0p + (eta - 1) ** 2 * (6 - 4 * eta))
    fit = birch_murnaghan(torch.tensor(energies), volumes, 11.0)
    assert float(fit["volume"]) == pytest.approx(v0, rel=1e-10)
    assert float(fit["energy"]) == pytest.approx(e0, rel=1e-10)
    assert float(fit["bulk_modulus"]) == pytest.approx(140, rel=1e-9)
    assert float(fit["bulk_modulus_derivative"]) == pytest.approx(b0p, rel=1e-9)


def test_bulk_modulus_matches_the_finite_difference_curvature(cu_eos):
    """B0 = V d2E/dV2 at V0, by central differences of the same calculator (independent of any fit)."""
    v0, h = cu_eos.volume, 0.01
    atoms = bulk("Cu")
    e_minus, e0, e_plus = (energy_per_atom(atoms, v) for v in (v0 - h, v0, v0 + h))
    curvature = (e_plus - 2 * e0 + e_minus) / h**2
    assert cu_eos.bulk_modulus == pytest.approx(v0 * curvature / units.GPa, rel=2e-3)
    # and the minimum is a minimum: the pressure -dE/dV vanishes at V0
    slope = (energy_per_atom(atoms, v0 + h) - energy_per_atom(atoms, v0 - h)) / (2 * h)
    assert abs(slope) / units.GPa < 0.05  # GPa
    assert cu_eos.relaxations_converged and not cu_eos.warnings and cu_eos.fit_rms < 1e-3


def test_lattice_constant_is_the_cubic_one_for_primitive_and_conventional_cells(cu_eos):
    a = cu_eos.lattice_constant
    assert a**3 / 4 == pytest.approx(cu_eos.volume, rel=1e-10)
    assert cu_eos.lattice_constants == pytest.approx([a, a, a], rel=1e-10)
    conventional = equation_of_state(bulk("Cu", cubic=True), EMT(), points=5, relax_ions=False)
    assert conventional.lattice_constant == pytest.approx(a, rel=2e-3)
    # the conventional cell of hcp keeps the input's c/a; of bcc, two atoms
    hcp = bulk("Cu", "hcp", a=2.55, c=4.2)
    lengths, n = conventional_lengths(hcp)
    assert n == 2 and lengths == pytest.approx([2.55, 2.55, 4.2], rel=1e-10)
    lengths, n = conventional_lengths(bulk("Fe", "bcc", a=2.87))
    assert n == 2 and lengths == pytest.approx([2.87] * 3, rel=1e-10)


def test_estimates_without_uncertainty_have_no_interval(cu_eos):
    estimates = cu_eos.estimates()
    assert set(estimates) == {"equilibrium_volume", "equilibrium_energy", "bulk_modulus", "bulk_modulus_derivative",
                              "lattice_constant"}
    assert estimates["bulk_modulus"].unit == "GPa" and estimates["bulk_modulus"].value == cu_eos.bulk_modulus
    assert all(e.sigma is None and e.out_of_domain is None for e in estimates.values())
    data = cu_eos.to_dict()
    assert data["summary"]["lattice_constant"]["unit"] == "Å" and len(data["volumes"]) == 9


def test_intervals_with_a_calibrated_model(calibrated_model):
    result = equation_of_state(bulk("Cu", a=3.6), Calculator(calibrated_model), points=7, strain=0.1)
    for name, e in result.estimates().items():
        assert e.sigma is not None and math.isfinite(e.sigma) and e.sigma > 0, name
        assert e.lower < e.value < e.upper and isinstance(e.out_of_domain, bool)
    assert 3.3 < result.lattice_constant < 3.9


def test_bad_input():
    with pytest.raises(DataError, match="H2O.*periodic"):
        equation_of_state(molecule("H2O"), EMT())
    with pytest.raises(ConfigError, match="unknown equation of state"):
        equation_of_state(bulk("Cu"), EMT(), eos="quartic")
    with pytest.raises(ConfigError, match="at least 5"):
        equation_of_state(bulk("Cu"), EMT(), points=4)
    with pytest.raises(ConfigError, match="strain"):
        equation_of_state(bulk("Cu"), EMT(), strain=0.5)


def test_other_forms_and_the_edge_warning(cu_eos):
    vinet = equation_of_state(bulk("Cu"), EMT(), eos="vinet", points=7, relax_ions=False)
    assert vinet.bulk_modulus == pytest.approx(cu_eos.bulk_modulus, rel=2e-3)
    assert vinet.volume == pytest.approx(cu_eos.volume, rel=1e-4)
    far = equation_of_state(bulk("Cu", a=3.7), EMT(), strain=0.04, points=5, relax_ions=False)
    assert far.volume < far.volumes[0] and any("edge" in w for w in far.warnings)


def test_plot(cu_eos, tmp_path):
    plot_eos(cu_eos, tmp_path / "eos.png")
    assert (tmp_path / "eos.png").read_bytes()[:4] == b"\x89PNG"

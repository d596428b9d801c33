"""Elastic constants from stress-strain: against energy second derivatives, the symmetry reductions,
orientation, internal relaxation, the moduli, intervals and bad input."""

import math

import numpy as np
import pytest
from ase import units
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from scipy.spatial.transform import Rotation

from ridgeline.errors import ConfigError, DataError
from ridgeline.properties.elastic import (elastic_constants, lattice_system, plot_elastic, point_group_average,
                                          rotate_stiffness, vrh_moduli)
from ridgeline.properties.eos import equation_of_state
from ridgeline.simulate.calculator import Calculator

A_EMT = 3.5901  # Å: EMT copper's lattice constant (its equation of state)


@pytest.fixture(scope="module")
def cu():
    return elastic_constants(bulk("Cu", a=A_EMT), EMT(), relax=True)


def energy_density(atoms, strain):
    """E(F = I + eps) / V0 (eV/Å^3) for a symmetric small strain ``strain`` (3, 3)."""
    cell = atoms.copy()
    cell.set_cell(atoms.cell.array @ (np.eye(3) + strain).T, scale_atoms=True)
    cell.calc = EMT()
    return cell.get_potential_energy() / atoms.get_volume()


def test_stiffness_matches_second_derivatives_of_the_energy(cu):
    """C11 = d2(E/V0)/d eps_xx^2, C12 = d2/(d eps_xx d eps_yy), C44 = d2/d gamma_yz^2 (gamma = 2 eps_yz),
    central differences of the same calculator at the zero-stress cell."""
    atoms, h = bulk("Cu", a=A_EMT), 1e-3

    def e(xx=0.0, yy=0.0, yz=0.0):
        return energy_density(atoms, np.array([[xx, 0, 0], [0, yy, yz / 2], [0, yz / 2, 0]]))

    c11 = (e(xx=h) - 2 * e() + e(xx=-h)) / h**2
    c12 = (e(h, h) - e(h, -h) - e(-h, h) + e(-h, -h)) / (4 * h**2)
    c44 = (e(yz=h) - 2 * e() + e(yz=-h)) / h**2
    reference = np.array([c11, c12, c44]) / units.GPa
    assert [cu.constants["C11"], cu.constants["C12"], cu.constants["C44"]] == pytest.approx(reference, rel=0.01)
    assert np.abs(cu.residual_stress).max() < 0.01 and not cu.warnings


def test_cubic_symmetry_and_moduli(cu):
    raw = cu.stiffness_raw
    assert raw[0, 0] == pytest.approx(raw[1, 1], rel=1e-6) and raw[0, 0] == pytest.approx(raw[2, 2], rel=1e-6)
    assert raw[3, 3] == pytest.approx(raw[5, 5], rel=1e-6) and raw[0, 1] == pytest.approx(raw[1, 2], rel=1e-6)
    zeros = np.ones((6, 6), bool)
    zeros[:3, :3] = False
    zeros[[3, 4, 5], [3, 4, 5]] = False
    assert np.abs(raw[zeros]).max() < 1e-6 * raw[0, 0]
    assert cu.space_group == 225 and cu.lattice_system == "cubic" and set(cu.constants) == {"C11", "C12", "C44"}
    c11, c12, c44 = (cu.constants[k] for k in ("C11", "C12", "C44"))
    m = cu.moduli
    assert m["bulk_modulus_voigt"] == pytest.approx((c11 + 2 * c12) / 3, rel=1e-10)
    assert m["bulk_modulus_reuss"] == pytest.approx((c11 + 2 * c12) / 3, rel=1e-10)
    assert m["shear_modulus_voigt"] == pytest.approx((c11 - c12 + 3 * c44) / 5, rel=1e-10)
    assert m["shear_modulus_reuss"] == pytest.approx(5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12)), rel=1e-10)
    assert cu.stable and cu.eigenvalues.min() == pytest.approx(min(c11 - c12, c44), rel=1e-8)
    # the bulk modulus of the equation of state is the same number
    assert m["bulk_modulus_vrh"] == pytest.approx(equation_of_state(bulk("Cu", a=A_EMT), EMT()).bulk_modulus, rel=0.02)


def test_an_isotropic_stiffness_gives_the_textbook_moduli():
    lam, mu = 60.0, 30.0
    c = np.zeros((6, 6))
    c[:3, :3] = lam
    c[np.arange(3), np.arange(3)] = lam + 2 * mu
    c[np.arange(3, 6), np.arange(3, 6)] = mu
    m = vrh_moduli(c)
    k = lam + 2 * mu / 3
    assert m["bulk_modulus_voigt"] == pytest.approx(k) and m["bulk_modulus_reuss"] == pytest.approx(k)
    assert m["shear_modulus_vrh"] == pytest.approx(mu)
    assert m["youngs_modulus"] == pytest.approx(mu * (3 * lam + 2 * mu) / (lam + mu))
    assert m["poisson_ratio"] == pytest.approx(lam / (2 * (lam + mu)))
    # isotropic: unchanged by any rotation
    r = Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix()
    assert rotate_stiffness(c, r) == pytest.approx(c, abs=1e-10)


def test_a_rotated_cell_gives_the_cube_axes_constants():
    primitive = elastic_constants(bulk("Cu", a=A_EMT), EMT(), relax_ions=False)
    atoms = bulk("Cu", a=A_EMT)
    r = Rotation.from_euler("xyz", [10, 20, 30], degrees=True).as_matrix()
    atoms.set_cell(atoms.cell.array @ r.T, scale_atoms=True)
    rotated = elastic_constants(atoms, EMT(), relax_ions=False)
    assert np.abs(rotated.stiffness_raw[:3, 3:]).max() > 1  # in the rotated frame the raw matrix is not cubic
    for name in ("C11", "C12", "C44"):
        assert rotated.constants[name] == pytest.approx(primitive.constants[name], rel=2e-3)
    # the conventional cubic cell gives the same as the primitive one
    conventional = elastic_constants(bulk("Cu", a=A_EMT, cubic=True), EMT(), relax_ions=False)
    for name in ("C11", "C12", "C44"):
        assert conventional.constants[name] == pytest.approx(primitive.constants[name], rel=1e-6)


def test_point_group_average_projects_onto_the_cubic_form():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(6, 6))
    c = c + c.T
    cubic = bulk("Cu")
    from ridgeline.properties.symmetry import symmetry_dataset

    lattice = cubic.cell.array.T
    group = [lattice @ w @ np.linalg.inv(lattice) for w in symmetry_dataset(cubic).rotations]
    p = point_group_average(c, group)
    assert p[0, 0] == pytest.approx(np.mean(np.diag(c)[:3])) and p[1, 1] == pytest.approx(p[0, 0])
    assert p[0, 1] == pytest.approx(np.mean([c[0, 1], c[0, 2], c[1, 2]]))
    assert p[3, 3] == pytest.approx(np.mean(np.diag(c)[3:]))
    assert np.abs(p[:3, 3:]).max() < 1e-12 and abs(p[3, 4]) < 1e-12
    assert point_group_average(p, group) == pytest.approx(p, abs=1e-12)  # a projection


def test_hexagonal_reduction():
    """hcp Cu under EMT: the raw stiffness has hexagonal symmetry by itself, and C66 = (C11 - C12) / 2."""
    result = elastic_constants(bulk("Cu", "hcp", a=2.54, c=4.15), EMT(), relax=True)
    raw, c = result.stiffness_raw, result.stiffness
    assert result.space_group == 194 and result.lattice_system == "hexagonal"
    assert set(result.constants) == {"C11", "C12", "C13", "C33", "C44"}
    assert raw[0, 0] == pytest.approx(raw[1, 1], rel=3e-3) and raw[3, 3] == pytest.approx(raw[4, 4], rel=3e-3)
    assert raw[0, 2] == pytest.approx(raw[1, 2], rel=3e-3)
    assert raw[5, 5] == pytest.approx((raw[0, 0] - raw[0, 1]) / 2, rel=3e-3)
    assert c[5, 5] == pytest.approx((c[0, 0] - c[0, 1]) / 2, rel=1e-10)
    assert c[0, 0] == pytest.approx(c[1, 1], rel=1e-12) and result.constants["C33"] != pytest.approx(c[0, 0], rel=0.01)
    assert result.stable and result.relaxations_converged


def test_internal_relaxation_lowers_c44_of_diamond():
    """Diamond (Cu under EMT: a cheap stand-in for Si): a shear moves the two sublattices against each
    other, normal strains do not, so relaxing the ions lowers C44 and leaves C11 and C12."""
    atoms = bulk("Cu", "diamond", a=5.3)
    relaxed = elastic_constants(atoms, EMT(), relax=True)
    clamped = elastic_constants(atoms, EMT(), relax=True, relax_ions=False)
    assert relaxed.max_relaxation_steps > 0 and clamped.max_relaxation_steps == 0
    assert relaxed.constants["C11"] == pytest.approx(clamped.constants["C11"], rel=1e-4)
    assert relaxed.constants["C12"] == pytest.approx(clamped.constants["C12"], rel=1e-4)
    assert relaxed.constants["C44"] < clamped.constants["C44"] - 10


def test_residual_stress_warning():
    result = elastic_constants(bulk("Cu", a=3.65), EMT(), relax_ions=False, strains=(-0.005, 0.005))
    assert result.residual_stress[:3] == pytest.approx([result.residual_stress[0]] * 3)
    assert result.residual_stress[0] > 1 and any("zero stress" in w for w in result.warnings)
    assert all(e.sigma is None and e.out_of_domain is None for e in result.estimates().values())


def test_intervals_with_a_calibrated_model(calibrated_model):
    result = elastic_constants(bulk("Cu", a=3.6), Calculator(calibrated_model), relax=True,
                               strains=(-0.01, 0.01))
    estimates = result.estimates()
    assert set(estimates) == {"C11", "C12", "C44", "bulk_modulus_vrh", "shear_modulus_vrh", "youngs_modulus",
                              "poisson_ratio"}
    for name, e in estimates.items():
        assert e.sigma is not None and math.isfinite(e.sigma) and e.sigma > 0, name
        assert e.lower < e.value < e.upper and isinstance(e.out_of_domain, bool)
    assert estimates["poisson_ratio"].unit == "" and estimates["C11"].unit == "GPa"
    json = result.to_dict()
    assert json["summary"]["C11"]["sigma"] == estimates["C11"].sigma and len(json["stiffness"]) == 6


def test_bad_input():
    with pytest.raises(DataError, match="H2O.*periodic"):
        elastic_constants(molecule("H2O"), EMT())
    slab = bulk("Cu")
    slab.pbc = (True, True, False)
    with pytest.raises(DataError, match="periodic"):
        elastic_constants(slab, EMT())
    for strains in ((0.01,), (0.0, 0.01), (0.01, 0.01), (0.2, -0.2)):
        with pytest.raises(ConfigError, match="strains"):
            elastic_constants(bulk("Cu"), EMT(), strains=strains)


def test_lattice_systems():
    assert [lattice_system(n) for n in (1, 15, 16, 80, 139, 160, 194, 225)] == [
        "triclinic", "monoclinic", "orthorhombic", "tetragonal-low", "tetragonal", "trigonal", "hexagonal", "cubic"]


def test_plot(cu, tmp_path):
    plot_elastic(cu, tmp_path / "elastic.png")
    assert (tmp_path / "elastic.png").read_bytes()[:4] == b"\x89PNG"

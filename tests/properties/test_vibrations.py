"""Harmonic vibrations: the analytic frequency of a harmonic pair, the exact Hessian against ASE's
finite differences for a ridgeline model, and the rigid motions projected out."""

import json

import numpy as np
import pytest
import torch
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.calculator import Calculator as ASECalculator
from ase.calculators.calculator import all_changes

from ridgeline.errors import ConfigError
from ridgeline.models import build_model
from ridgeline.models.io import save_model
from ridgeline.properties.vibrations import ENERGY_PER_SQRT_CURVATURE, vibrations
from ridgeline.simulate.calculator import Calculator
from ridgeline.testing.model_tests import batch_of


class HarmonicPairs(ASECalculator):
    """E = sum over pairs of k/2 (r - r0)^2, with its exact Hessian."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, k=5.0, r0=1.1, **kwargs):
        super().__init__(**kwargs)
        self.k, self.r0 = k, r0

    def _pairs(self, atoms):
        for i in range(len(atoms)):
            for j in range(i + 1, len(atoms)):
                d = atoms.positions[j] - atoms.positions[i]
                yield i, j, d, np.linalg.norm(d)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = 0.0, np.zeros((len(self.atoms), 3))
        for i, j, d, r in self._pairs(self.atoms):
            energy += 0.5 * self.k * (r - self.r0) ** 2
            f = self.k * (r - self.r0) * d / r  # on i, towards j when stretched
            forces[i] += f
            forces[j] -= f
        self.results = {"energy": energy, "forces": forces}

    def get_hessian(self, atoms=None):
        atoms = self.atoms if atoms is None else atoms
        h = np.zeros((3 * len(atoms), 3 * len(atoms)))
        for i, j, d, r in self._pairs(atoms):
            u = d / r
            block = self.k * np.outer(u, u) + self.k * (r - self.r0) / r * (np.eye(3) - np.outer(u, u))
            for a, b, sign in ((i, i, 1), (j, j, 1), (i, j, -1), (j, i, -1)):
                h[3 * a:3 * a + 3, 3 * b:3 * b + 3] += sign * block
        return h


def test_diatomic_frequency_is_sqrt_k_over_mu():
    k, r0 = 7.0, 1.13
    atoms = Atoms("CO", positions=[[0, 0, 0], [0.3, 0.5, r0]])
    atoms.positions[1] = atoms.positions[0] + r0 * (atoms.positions[1] - atoms.positions[0]) / np.linalg.norm(atoms.positions[1] - atoms.positions[0])
    masses = atoms.get_masses()
    mu = masses[0] * masses[1] / masses.sum()
    expected = ENERGY_PER_SQRT_CURVATURE * np.sqrt(k / mu)  # eV
    for method in ("exact", "finite_differences"):
        result = vibrations(atoms, HarmonicPairs(k, r0), method=method)
        assert result.n_projected == 5 and len(result.frequencies_cm) == 1 and result.method == method
        assert result.energies_meV[0] == pytest.approx(1000 * expected, rel=1e-6 if method == "exact" else 1e-4)
        assert result.frequencies_cm[0] == pytest.approx(expected / units.invcm, rel=1e-4)
        assert result.zero_point_energy == pytest.approx(expected / 2, rel=1e-4)
        mode = result.modes[0]
        assert np.cross(mode[1] - mode[0], atoms.positions[1] - atoms.positions[0]) == pytest.approx(np.zeros(3), abs=1e-6)
    # the same number in SI, independently of the conversion factor: omega / (2 pi c)
    k_si, mu_si = k * 1.602176634e-19 / 1e-20, mu * 1.66053906660e-27  # N/m, kg
    wavenumber = np.sqrt(k_si / mu_si) / (2 * np.pi * 2.99792458e10)  # cm^-1
    assert result.frequencies_cm[0] == pytest.approx(wavenumber, rel=1e-4)  # ASE: CODATA 2014 constants


def test_triangle_has_three_real_modes():
    atoms = Atoms("H3", positions=[[0, 0, 0], [1.1, 0, 0], [0.55, 1.1 * np.sqrt(3) / 2, 0]])
    result = vibrations(atoms, HarmonicPairs(4.0, 1.1))
    assert result.n_projected == 6 and len(result.frequencies_cm) == 3 and result.n_imaginary == 0
    assert json.loads(result.to_json())["n_projected"] == 6


def test_exact_hessian_matches_ase_finite_differences_for_a_model(tmp_path):
    torch.manual_seed(0)
    model = build_model("moment", [1, 8], preset="small", cutoff=4.0).double()
    water = molecule("H2O")
    model.fit_statistics([batch_of([water])], np.array([-13.6, -432.0]), np.array([1.0, 1.0]))
    calc = Calculator(save_model(model.eval(), tmp_path / "m.safetensors"), dtype="float64")
    exact = vibrations(water, calc, method="auto")
    numerical = vibrations(water, calc, method="finite_differences", delta=1e-3)
    assert exact.method == "exact" and numerical.method == "finite_differences"
    assert exact.n_projected == 6 and len(exact.frequencies_cm) == 3
    np.testing.assert_allclose(exact.frequencies_cm, numerical.frequencies_cm, rtol=1e-3, atol=1.0)
    linear = vibrations(molecule("CO2"), HarmonicPairs(5.0, 1.16))
    assert linear.n_projected == 5 and len(linear.frequencies_cm) == 4


def test_bad_requests():
    from ase.calculators.emt import EMT

    with pytest.raises(ConfigError, match="no get_hessian"):
        vibrations(molecule("H2O"), EMT(), method="exact")
    with pytest.raises(ConfigError, match="unknown Hessian method"):
        vibrations(molecule("H2O"), EMT(), method="analytic")
    with pytest.raises(ConfigError, match="two atoms"):
        vibrations(Atoms("H"), EMT())


def test_frequencies_carry_intervals_from_the_committee(ensemble_file):
    """A committee's frequencies: each member's Hessian gives its own modes; the interval's sigma
    is sqrt(alpha) times the members' spread, and a calculator without uncertainty gives none."""
    from ase.build import bulk

    from ridgeline.properties.vibrations import harmonic_modes, vibrations
    from ridgeline.simulate.calculator import Calculator

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.rattle(0.05, seed=1)
    atoms.pbc = False
    calc = Calculator(ensemble_file)
    result = vibrations(atoms, calc)
    members = [harmonic_modes(atoms, c).frequencies_cm for c in calc.posterior_calculators()]
    expected = np.sqrt(2.0) * np.std(members, axis=0, ddof=1)  # alpha_energy = 2 in the fixture
    est = result.estimates()
    assert len(est) == len(result.frequencies_cm) + 1 and result.out_of_domain is None
    for k, sigma in enumerate(expected):
        assert est[f"frequency_{k}"].sigma == pytest.approx(sigma, rel=1e-6)
        assert est[f"frequency_{k}"].lower < est[f"frequency_{k}"].value < est[f"frequency_{k}"].upper
    from ase.calculators.emt import EMT

    plain = vibrations(atoms, EMT()).estimates()
    assert all(e.sigma is None and e.ci is None for e in plain.values())

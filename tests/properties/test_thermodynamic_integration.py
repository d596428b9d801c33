"""Thermodynamic integration against analytic free energies: two sets of harmonic oscillators, and
the absolute free energy of a harmonic spring-network crystal by the Einstein-crystal route with its
centre of mass held (every term of the Frenkel-Ladd correction exercised)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.neighborlist import neighbor_list

from ridgeline.errors import ConfigError
from ridgeline.properties.thermodynamic_integration import (EinsteinCrystal, einstein_free_energy,
                                                            solid_free_energy, thermodynamic_integration)

T = 300.0
KT = units.kB * T


class SpringNetwork(Calculator):
    """E = E0 + ½ κ Σ_pairs |u_j - u_i|² over the nearest-neighbour pairs of the reference
    (u: displacement from the reference site): exactly harmonic, invariant to translations."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, reference, kappa=1.0, e0=-3.0, cutoff=2.8):
        super().__init__()
        i, j = neighbor_list("ij", reference, cutoff)
        keep = i < j
        self.i, self.j, self.kappa, self.e0 = i[keep], j[keep], kappa, e0
        self.sites = reference.get_positions().copy()

    def hessian(self, n):
        laplacian = np.zeros((n, n))
        np.add.at(laplacian, (self.i, self.i), 1.0)
        np.add.at(laplacian, (self.j, self.j), 1.0)
        np.add.at(laplacian, (self.i, self.j), -1.0)
        np.add.at(laplacian, (self.j, self.i), -1.0)
        return self.kappa * laplacian  # per Cartesian direction

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        u = self.atoms.get_positions() - self.sites
        d = u[self.j] - u[self.i]
        forces = np.zeros_like(u)
        np.add.at(forces, self.i, self.kappa * d)
        np.add.at(forces, self.j, -self.kappa * d)
        energy = self.e0 + 0.5 * self.kappa * float(np.sum(d * d))
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def test_ti_between_two_sets_of_harmonic_oscillators():
    atoms = Atoms("Ar3", positions=[[0, 0, 0], [4, 0, 0], [0, 4, 0]])
    soft, stiff = EinsteinCrystal(atoms, 0.5), EinsteinCrystal(atoms, 2.0, reference_energy=0.1)
    result = thermodynamic_integration(atoms, soft, stiff, T, points=6, steps=2000, equilibration=200,
                                       timestep=4.0, interval=4, parameters={"friction": 0.02})
    exact = 0.1 + 1.5 * len(atoms) * KT * np.log(2.0 / 0.5)  # (3N/2) kT ln(k1/k0)
    assert result.error < 0.01
    assert result.delta_f == pytest.approx(exact, abs=4 * result.error + 2e-3)
    # the analytic free energies of the two ends agree with the difference
    assert einstein_free_energy(atoms, 2.0, T, 0.1) - einstein_free_energy(atoms, 0.5, T) == pytest.approx(exact)
    assert np.all(np.diff(result.mean_du) < 0)  # <U1 - U0> falls as the stiff springs take over


def test_solid_free_energy_of_a_harmonic_crystal_matches_the_analytic_value(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 1))
    network = SpringNetwork(atoms)
    n = len(atoms)
    run = dict(points=6, steps=1500, equilibration=200, timestep=4.0, interval=4, parameters={"friction": 0.02},
               output_dir=tmp_path)
    result = solid_free_energy(atoms, network, T, spring_steps=800, **run)
    # exact classical F: 3N - 3 harmonic modes, the centre of mass over V / N positions, thermal wavelength
    modes = np.linalg.eigvalsh(network.hessian(n))[1:]  # one zero mode per direction
    assert np.all(modes > 1e-8)
    mass = atoms.get_masses()[0] * units._amu
    wavelength = units._hplanck / np.sqrt(2 * np.pi * mass * units._k * T) * 1e10  # Å
    exact = (network.e0 + 3 * n * KT * np.log(wavelength) - KT * np.log(n**1.5 * atoms.get_volume() / n)
             - 3 * np.sum(0.5 * KT * np.log(2 * np.pi * KT / modes)))
    # the quadrature's own value of the integrand's exact form, to separate its error from sampling's
    k_e = result.springs["Cu"]
    integrand = [np.sum(3 * 0.5 * KT * (modes - k_e) / ((1 - lam) * k_e + lam * modes)) for lam in result.integration.lambdas]
    quadrature_exact = float(result.integration.weights @ integrand)
    assert quadrature_exact == pytest.approx(3 * np.sum(0.5 * KT * np.log(modes / k_e)), abs=2e-3)
    assert result.integration.delta_f == pytest.approx(quadrature_exact, abs=4 * result.error + 1e-3)
    assert result.free_energy == pytest.approx(exact, abs=4 * result.error + 2e-3)
    assert abs(result.center_of_mass) > 0.1  # a wrong correction would show
    assert result.error < 0.01
    # the springs were fitted to the crystal's own fluctuations: between its softest and stiffest modes
    assert modes.min() < k_e < modes.max()
    # every λ node is on disk: a rerun recomputes only the spring constants' MD
    assert len(list((tmp_path / "lambdas").glob("lambda_*.npz"))) == 6
    again = solid_free_energy(atoms, network, T, springs=result.springs, **run)
    assert again.free_energy == result.free_energy


def test_errors():
    atoms = Atoms("Ar", positions=[[0, 0, 0]])
    with pytest.raises(ConfigError, match="unknown quadrature 'simpson'"):
        thermodynamic_integration(atoms, EinsteinCrystal(atoms, 1.0), EinsteinCrystal(atoms, 2.0), quadrature_kind="simpson")
    with pytest.raises(ConfigError, match="periodic in all three directions"):
        solid_free_energy(atoms, EinsteinCrystal(atoms, 1.0), T)
    with pytest.raises(ConfigError, match=r"no spring constant for element\(s\) \['Ar'\]"):
        EinsteinCrystal(atoms, {"Cu": 1.0})

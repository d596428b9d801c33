"""Dissociation curves: Lennard-Jones with a smooth cutoff passes every check, the truncated one
(a force step at rc) fails the cutoff check, a pair energy with two wells fails the spurious-well
check, a fragment's plateau is the two fragments' energies apart, and a ridgeline model's curve is
constant beyond its cutoff."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import Calculator as ASECalculator
from ase.calculators.calculator import all_changes
from ase.calculators.lj import LennardJones

from ridgeline.errors import ConfigError, DataError
from ridgeline.properties.scan import dissociation_curve, plot_scan

SIGMA, EPSILON, RC = 2.3, 0.4, 4.6  # rc = 2 sigma: the truncated potential's force at rc is large enough to see


def dimer(r=2.6):
    return Atoms("Cu2", positions=[[0, 0, 0], [0.1, -0.2, r]])


class TwoWells(ASECalculator):
    """A pair energy with a bond at 2.5 Å and a second, shallower well at 4 Å, zero beyond 6 Å."""

    implemented_properties = ["energy", "forces"]

    @staticmethod
    def pair(r):
        wells = [(-1.0, 2.5, 0.4), (-0.1, 4.0, 0.3)]
        e = sum(depth * np.exp(-((r - r0) / width) ** 2) for depth, r0, width in wells)
        de = sum(depth * np.exp(-((r - r0) / width) ** 2) * (-2 * (r - r0) / width ** 2) for depth, r0, width in wells)
        return e, de

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions[1] - self.atoms.positions[0]
        r = np.linalg.norm(d)
        e, de = self.pair(r)
        self.results = {"energy": e, "forces": np.array([de * d / r, -de * d / r])}


def test_smooth_lennard_jones_passes_every_check():
    result = dissociation_curve(dimer(), LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=RC, smooth=True), pair=(0, 1))
    assert result.passed and result.failed == [] and result.warnings == []
    assert all(result.checks.values()) and result.cutoff == RC
    assert result.n_minima == 1 and result.minimum_distance == pytest.approx(2 ** (1 / 6) * SIGMA, abs=0.03)
    assert result.dissociation_energy.value == pytest.approx(EPSILON, abs=2e-3)  # the well depth, inside ro
    assert result.closest[-1] >= RC + 2.0 and result.distances[0] == pytest.approx(0.85 * np.linalg.norm(dimer().positions[1]))
    # the force along the separation is -dE/dd (central differences of the energy in the pair distance)
    lj = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=RC, smooth=True)

    def energy(r):
        pair = Atoms("Cu2", positions=[[0, 0, 0], [0, 0, r]])
        pair.calc = lj
        return pair.get_potential_energy()

    for k in range(0, len(result.distances), 7):
        r = result.distances[k]
        assert result.forces[k] == pytest.approx(-(energy(r + 1e-5) - energy(r - 1e-5)) / 2e-5, abs=1e-5)


def test_truncated_lennard_jones_fails_at_the_cutoff():
    sharp = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=RC, smooth=False)
    pair = dimer()
    pair.calc = sharp
    pair.positions[1] = [0, 0, RC - 1e-3]
    inside = pair.get_forces()[1, 2]
    pair.positions[1] = [0, 0, RC + 1e-3]
    assert abs(inside) > 0.02 and pair.get_forces()[1, 2] == 0.0  # ASE's truncated LJ: a force step at rc
    result = dissociation_curve(dimer(), sharp, pair=(0, 1))
    assert not result.passed and result.failed == ["smooth_at_cutoff"]
    assert result.checks["constant_beyond_cutoff"] and result.cutoff_force > 0.02
    assert "a jump at the cutoff" in " ".join(result.warnings)


def test_a_second_well_fails():
    result = dissociation_curve(dimer(2.5), TwoWells(), pair=(0, 1), cutoff=6.0)
    assert not result.passed and "one_minimum" in result.failed and result.n_minima == 2
    assert result.checks["constant_beyond_cutoff"] and result.checks["smooth_at_cutoff"]
    assert "spurious well" in " ".join(result.warnings)


def test_fragment_plateau_is_the_fragments_apart(tmp_path):
    trimer = Atoms("Cu3", positions=[[0, 0, 0], [2.6, 0, 0], [1.3, 2.25, 0]])
    lj = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=RC, smooth=True)
    result = dissociation_curve(trimer, lj, fragment=[2])
    assert result.moving == [2] and result.passed
    pair = trimer[:2]
    pair.calc = lj
    assert result.energies[-1] == pytest.approx(pair.get_potential_energy(), abs=1e-12)  # the lone atom adds nothing
    centre = trimer.positions[:2].mean(axis=0)
    assert result.distances[0] == pytest.approx(0.85 * np.linalg.norm(trimer.positions[2] - centre))
    data = json.loads(result.to_json())
    assert data["dissociation_energy"]["unit"] == "eV" and data["checks"]["one_minimum"] is True
    plot_scan(result, tmp_path / "scan.png")
    assert (tmp_path / "scan.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_input():
    lj = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=RC)
    with pytest.raises(ConfigError, match="exactly one of fragment"):
        dissociation_curve(dimer(), lj, pair=(0, 1), fragment=[1])
    with pytest.raises(DataError, match=r"pair \(0, 5\)"):
        dissociation_curve(dimer(), lj, pair=(0, 5))
    with pytest.raises(DataError, match="every atom"):
        dissociation_curve(dimer(), lj, fragment=[0, 1])
    with pytest.raises(ConfigError, match="give cutoff= or distances="):
        dissociation_curve(dimer(), TwoWells(), pair=(0, 1))
    with pytest.raises(ConfigError, match="increasing order"):
        dissociation_curve(dimer(), lj, pair=(0, 1), distances=[3.0, 2.0, 4.0])


def test_ridgeline_model_is_constant_beyond_its_cutoff(trained_model):
    from ridgeline.simulate.calculator import Calculator

    calc = Calculator(trained_model, dtype="float64")
    result = dissociation_curve(dimer(2.3), calc, pair=(0, 1), spacing=0.1)
    assert result.cutoff == 4.5
    assert result.checks["constant_beyond_cutoff"] and result.plateau_spread < 1e-6
    assert result.checks["smooth_at_cutoff"]
    assert result.energy_sigmas is None and result.dissociation_energy.sigma is None

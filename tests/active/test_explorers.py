"""Exploration for active learning: an umbrella holding a distance in exploration, the adversarial
uncertainty bias (finite differences), and Langevin exploration (harvesting, ramps, determinism,
out-of-domain stops, explosions), on Cu with EMT and small random bpnn ensembles."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import Calculator as ASECalculator
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT

from ridgeline.active.biases import AdversarialBias
from ridgeline.active.explorers import Exploration, LangevinExplorer, explore_many
from ridgeline.data.frame import Frame
from ridgeline.data.graph import atoms_to_batch
from ridgeline.models import Ensemble
from ridgeline.simulate.biases import Distance, HarmonicUmbrella
from ridgeline.simulate.calculator import Calculator
from conftest import cu_cell, fd_gradient, fd_stress_of, random_model
from ridgeline.uncertainty import UncertaintyModel, UncertaintyOptions, fit_uncertainty

# -------------------------------------------------------------------------- umbrella in exploration
def test_stiff_umbrella_holds_the_distance_in_md():
    atoms = cu_cell(repeat=(2, 2, 2), seed=5)
    center = atoms.get_distance(0, 1, mic=True) + 0.35
    settings = dict(temperature=400.0, steps=200, interval=5, friction=0.02, timestep=2.0, seed=3)

    def deviation(biases):
        run = LangevinExplorer(biases=biases, **settings).run(atoms, EMT())
        assert run.status == "completed"
        return np.mean([abs(f.get_distance(0, 1, mic=True) - center) for f in run.frames[10:]])

    free = deviation([])
    held = deviation([HarmonicUmbrella(Distance(0, 1), center, k=30.0)])
    assert held < 0.1 and held < 0.4 * free


# ---------------------------------------------------------------------------------- adversarial
def test_adversarial_bias_exact_form_and_finite_differences(ensemble_file):
    uq = UncertaintyModel.load(ensemble_file)
    atoms = cu_cell(repeat=(2, 1, 1), seed=6, rattle=0.1)
    ref = atoms.copy()
    ref.calc = Calculator(ensemble_file)
    ref.get_forces()
    sigma2 = ref.calc.results["energy_sigma"] ** 2  # calibrated (alpha 2), the members' spread
    n = len(atoms)
    k = 0.8 * n * 0.2 / sigma2  # tanh argument 0.8: neither linear nor saturated, the test sees the tanh
    bias = AdversarialBias(uq, k=k, max_energy=0.2)
    energy, forces = bias.energy_and_forces(atoms)
    assert energy == pytest.approx(-0.2 * np.tanh(k * sigma2 / (n * 0.2)), rel=1e-10)
    assert energy == pytest.approx(-0.2 * np.tanh(0.8), rel=1e-10) and -0.2 < energy < 0
    np.testing.assert_allclose(forces, -fd_gradient(lambda a: bias.energy_and_forces(a)[0], atoms, h=1e-5), atol=1e-7)
    assert np.abs(forces).max() > 1e-4


def test_adversarial_bias_is_lower_where_members_disagree(ensemble_file):
    uq = UncertaintyModel.load(ensemble_file)
    bias = AdversarialBias(uq, k=0.01, max_energy=5.0)
    calc = Calculator(ensemble_file)
    rows = []
    for a in (3.3, 3.61, 4.0):
        atoms = cu_cell(repeat=(1, 1, 1), a=a, seed=7)
        atoms.calc = calc
        atoms.get_forces()
        rows.append((calc.results["energy_sigma"], bias.energy_and_forces(atoms)[0]))
    rows.sort()
    sigmas, energies = np.array(rows).T
    assert np.all(energies <= 0) and np.all(np.diff(sigmas) > 0)
    assert np.all(np.diff(energies) < 0)  # more spread, more negative
    # identical members: no spread, no bias
    m = random_model(3)
    same = AdversarialBias(UncertaintyModel(Ensemble([m, random_model(3)])), k=1.0)
    e0, f0 = same.energy_and_forces(cu_cell(repeat=(1, 1, 1)))
    assert e0 == 0.0 and np.all(f0 == 0)


def test_adversarial_bias_with_laplace_model():
    model = random_model(4)
    frames = [Frame.from_atoms(cu_cell(repeat=(1, 1, 1), seed=s, rattle=0.05)) for s in range(6)]
    uq = fit_uncertainty(model, frames, None, UncertaintyOptions(domains=()))
    uq.alpha["energy"] = 3.0
    atoms = cu_cell(repeat=(1, 1, 1), seed=11, rattle=0.2)
    batch = atoms_to_batch(atoms, 4.5)
    var = float(AdversarialBias(uq, k=1.0).variance(batch).detach())
    assert var == pytest.approx(3.0 * float(uq.outputs(batch)["energy_var"][0]), rel=1e-10)
    k = 0.5 * len(atoms) / var  # tanh argument 0.5
    bias = AdversarialBias(uq, k=k, max_energy=1.0)
    energy, forces = bias.energy_and_forces(atoms)
    assert energy == pytest.approx(-np.tanh(0.5), rel=1e-10)
    np.testing.assert_allclose(forces, -fd_gradient(lambda a: bias.energy_and_forces(a)[0], atoms), atol=1e-7,
                               rtol=1e-5)
    assert np.abs(forces).max() > 1e-6
    # far into the uncertain region the bias saturates: energy -> -max_energy, forces -> 0
    e_sat, f_sat = AdversarialBias(uq, k=1e3 * k, max_energy=1.0).energy_and_forces(atoms)
    assert e_sat == pytest.approx(-1.0) and np.abs(f_sat).max() < 1e-6 * np.abs(forces).max() + 1e-12


@pytest.mark.parametrize("kind", ["laplace", "ensemble"])
def test_adversarial_bias_stress_matches_finite_differences(kind):
    """The bias's stress is the strain derivative of its energy, so it runs at constant pressure."""
    from ridgeline.simulate.biases import BiasedCalculator
    from ridgeline.simulate.md import MD

    if kind == "laplace":
        frames = [Frame.from_atoms(cu_cell(repeat=(1, 1, 1), seed=s, rattle=0.05)) for s in range(6)]
        uq = fit_uncertainty(random_model(4), frames, None, UncertaintyOptions(domains=()))
    else:
        uq = UncertaintyModel(Ensemble([random_model(1), random_model(2)]))
    atoms = cu_cell(repeat=(1, 1, 1), seed=12, rattle=0.15)
    var = float(AdversarialBias(uq, k=1.0).variance(atoms_to_batch(atoms, 4.5)).detach())
    bias = AdversarialBias(uq, k=0.5 * len(atoms) / var, max_energy=1.0)
    stress = bias.stress(atoms)
    assert stress.shape == (6,) and np.abs(stress).max() > 1e-7
    np.testing.assert_allclose(stress, fd_stress_of(lambda a: bias.energy_and_forces(a)[0], atoms), rtol=1e-4, atol=1e-9)
    molecule = atoms.copy()
    molecule.pbc = False
    assert bias.stress(molecule) is None
    # a biased NPT run: the barostat gets the base's stress plus the bias's
    run = MD(cu_cell(repeat=(2, 2, 2), seed=1), BiasedCalculator(EMT(), [bias]), "npt_berendsen", timestep=2.0,
             temperature=300.0, pressure=0.0).run(10)
    assert run.status == "completed"


# ------------------------------------------------------------------------------------- explorer
def test_langevin_explorer_harvests_and_is_deterministic():
    start = cu_cell(seed=8)
    before = start.positions.copy()
    explorer = LangevinExplorer(temperature=(100.0, 1000.0), steps=40, interval=10, timestep=1.0, seed=5)
    run = explorer.run(start, EMT())
    assert isinstance(run, Exploration) and run.status == "completed" and run.steps == 40
    assert len(run.frames) == 4 and all(f.calc is None for f in run.frames)
    assert run.event is None and run.max_forces_sigma == []  # EMT gives no sigma
    np.testing.assert_allclose(run.temperatures, [325.0, 550.0, 775.0, 1000.0])
    np.testing.assert_array_equal(start.positions, before)  # the caller's atoms are not moved
    assert start.calc is None
    # frames are successive MD snapshots
    assert not np.allclose(run.frames[0].positions, run.frames[1].positions)
    again = explorer.run(start, EMT())
    for a, b in zip(run.frames, again.frames):
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.get_momenta(), b.get_momenta())
    other = LangevinExplorer(temperature=(100.0, 1000.0), steps=40, interval=10, timestep=1.0, seed=6).run(start, EMT())
    assert not np.allclose(other.frames[-1].positions, run.frames[-1].positions)
    many = explore_many(explorer, [start, cu_cell(seed=9)], EMT())
    assert [r.status for r in many] == ["completed"] * 2 and [len(r.frames) for r in many] == [4, 4]
    np.testing.assert_array_equal(many[0].frames[-1].positions, run.frames[-1].positions)  # walker 0: explorer's seed


def test_temperature_ramp_drives_the_thermostat():
    start = cu_cell(seed=10, rattle=0.0)
    settings = dict(steps=300, interval=10, timestep=2.0, friction=0.05, seed=1)
    ramp = LangevinExplorer(temperature=(20.0, 1500.0), **settings).run(start, EMT())
    cold = LangevinExplorer(temperature=20.0, **settings).run(start, EMT())
    assert ramp.temperatures[0] < ramp.temperatures[-1] == 1500.0
    assert np.all(np.diff(ramp.temperatures) > 0) and cold.temperatures == [20.0] * 30
    kinetic = lambda run: np.array([f.get_temperature() for f in run.frames])  # noqa: E731
    assert kinetic(ramp)[-5:].mean() > 600 and kinetic(ramp)[:3].mean() < 300
    assert kinetic(cold)[-5:].mean() < 100


def test_explorer_stops_out_of_domain(ensemble_file):
    start = cu_cell(repeat=(1, 1, 1), seed=12)
    explorer = LangevinExplorer(temperature=300.0, steps=50, interval=5, max_forces_sigma=1e-9, max_force=1e6, seed=2)
    run = explorer.run(start, Calculator(ensemble_file))
    assert run.status == "out_of_domain" and run.steps == 5
    assert len(run.frames) == 1 and run.event is not None and run.event.step == 5
    np.testing.assert_array_equal(run.frames[-1].positions, run.event.structure.positions)
    assert not np.allclose(run.frames[-1].positions, start.positions)  # it moved before the check
    assert run.max_forces_sigma[-1] == pytest.approx(run.event.max_forces_sigma) and run.max_forces_sigma[-1] > 1e-9
    assert run.temperatures == [300.0]
    # without the stop, sigmas are recorded per frame
    free = LangevinExplorer(temperature=300.0, steps=20, interval=5, stop_on_domain=False, max_force=1e6, seed=2)
    run = free.run(start, Calculator(ensemble_file))
    assert run.status == "completed" and len(run.frames) == 4 and len(run.max_forces_sigma) == 4
    assert all(s > 0 for s in run.max_forces_sigma)


def test_explorer_discards_exploded_trajectories():
    start = cu_cell(repeat=(1, 1, 1), seed=13)
    # a stiff umbrella pulling two neighbours onto each other until EMT's repulsion is huge;
    # frames harvested before the blow-up (step 10) are discarded with it
    crush = HarmonicUmbrella(Distance(0, 1), 0.0, k=20.0)
    run = LangevinExplorer(steps=200, interval=10, timestep=1.0, biases=[crush], seed=0).run(start, EMT())
    assert run.status == "exploded" and run.frames == [] and run.temperatures == [] and 10 < run.steps < 200
    assert "force" in run.reason
    # a gentler pull does not explode
    gentle = HarmonicUmbrella(Distance(0, 1), 0.0, k=2.0)
    assert LangevinExplorer(steps=200, interval=10, timestep=1.0, biases=[gentle], seed=0).run(start, EMT()).status == "completed"

    class Free(ASECalculator):  # no interactions: nothing stops two atoms from overlapping
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}

    # cold and frictionless: the pair oscillates straight through each other, with small forces
    pull = HarmonicUmbrella(Distance(0, 1), 0.0, k=5.0)
    run = LangevinExplorer(temperature=0.0, friction=0.0, steps=300, interval=2, timestep=1.0, biases=[pull]).run(start, Free())
    assert run.status == "exploded" and run.frames == [] and "closer than 0.5" in run.reason and 2 < run.steps < 300

    class NaNAfter(ASECalculator):
        implemented_properties = ["energy", "forces"]

        def __init__(self):
            super().__init__()
            self.calls = 0

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.calls += 1
            emt = EMT()
            emt.calculate(self.atoms, ["energy", "forces"], all_changes)
            bad = self.calls > 30
            self.results = {"energy": np.nan if bad else emt.results["energy"], "forces": emt.results["forces"]}

    run = LangevinExplorer(steps=100, interval=5, seed=0).run(start, NaNAfter())
    assert run.status == "exploded" and run.frames == [] and "energy" in run.reason and 0 < run.steps < 100

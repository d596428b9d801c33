"""Molecular dynamics: NVE with a trained model conserves energy and the calculator refuses what it
can't do; the MD driver (every ensemble, units against ASE called directly, seeding, ramps,
observers) and its stop rules (explosions, leaving the domain) on EMT."""

import warnings

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.calculator import Calculator as ASECalculator
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.md.andersen import Andersen
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.langevinbaoab import LangevinBAOAB
from ase.md.nose_hoover_chain import IsotropicMTKNPT, MTKNPT, NoseHooverChainNVT
from ase.md.nptberendsen import Inhomogeneous_NPTBerendsen, NPTBerendsen
from ase.md.verlet import VelocityVerlet

from ridgeline import Calculator
from ridgeline.errors import ConfigError, UnknownElementError
from ridgeline.simulate.md import (ENSEMBLES, MD, NPT_ENSEMBLES, DomainStop, ExplosionCheck, MDRun, ensemble_parameters, linear_ramp,
                                   run_md, thermalize)


def test_nve_conserves_energy(trained_model):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=0)
    atoms.calc = Calculator(trained_model, dtype="float64")
    thermalize(atoms, 600.0, np.random.default_rng(0))
    dyn = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    total = []
    dyn.attach(lambda: total.append(atoms.get_total_energy()), interval=1)
    dyn.run(300)
    total = np.array(total) / len(atoms)
    kinetic_temperature = atoms.get_kinetic_energy() / (1.5 * units.kB * len(atoms))
    assert 100 < kinetic_temperature < 1500  # the atoms really moved
    # total energy stays within 0.1 meV/atom over 300 fs (potential energy swings are ~30 meV/atom)
    assert np.abs(total - total[0]).max() < 1e-4
    slope = np.polyfit(np.arange(len(total)), total, 1)[0]
    assert abs(slope) * 1000 < 1e-5  # drift per 1000 steps below 0.01 meV/atom


def test_calculator_refuses_unknown_elements(trained_model):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.numbers[0] = 79
    atoms.calc = Calculator(trained_model)
    with pytest.raises(UnknownElementError, match="Au.*not trained on.*Cu"):
        atoms.get_potential_energy()


def test_molecule_has_no_stress(trained_model):
    from ase import Atoms
    from ase.calculators.calculator import PropertyNotImplementedError

    atoms = Atoms("Cu3", positions=[[0, 0, 0], [2.5, 0, 0], [0, 2.5, 0]])
    atoms.calc = Calculator(trained_model)
    assert np.isfinite(atoms.get_potential_energy()) and atoms.get_forces().shape == (3, 3)
    with pytest.raises(PropertyNotImplementedError):
        atoms.get_stress()


# ------------------------------------------------------------------------------- the MD driver
def cu_cell(repeat=(2, 2, 2), rattle=0.0, seed=0):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    if rattle:
        atoms.rattle(rattle, seed=seed)
    return atoms


class Scripted(ASECalculator):
    """EMT, plus what a test scripts per call (call k is MD step k: one force call per step):
    ``out_of_domain(k)`` per-atom flags, ``pump`` (1/fs) a non-conservative force gamma m v that
    heats the system as exp(2 gamma t), ``nan_from`` a non-finite energy from that call on."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, out_of_domain=None, pump: float = 0.0, nan_from: int | None = None):
        super().__init__()
        self.flags, self.pump, self.nan_from, self.calls = out_of_domain, pump, nan_from, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        emt = EMT()
        emt.calculate(self.atoms, ["energy", "forces"], all_changes)
        energy, forces = emt.results["energy"], emt.results["forces"].copy()
        forces += self.pump / units.fs * self.atoms.get_momenta()
        if self.nan_from is not None and self.calls >= self.nan_from:
            energy = np.nan
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}
        if self.flags is not None:
            self.results["out_of_domain"] = np.asarray(self.flags(self.calls), dtype=bool)
        self.calls += 1


@pytest.mark.parametrize("ensemble", sorted(ENSEMBLES))
def test_every_ensemble_runs_and_records(ensemble):
    run = run_md(cu_cell(rattle=0.05), EMT(), ensemble, steps=20, timestep=2.0, temperature=500.0, interval=5)
    assert isinstance(run, MDRun) and run.status == "completed" and run.step == 20 and run.reason == ""
    np.testing.assert_array_equal(run.step_numbers, [0, 5, 10, 15, 20])
    np.testing.assert_allclose(run.time_ps, [0.0, 0.01, 0.02, 0.03, 0.04])
    assert np.all(np.isfinite(run.total_energy)) and np.all(run.temperature > 100)
    np.testing.assert_allclose(run.total_energy - run.potential_energy,
                               1.5 * units.kB * run.temperature * run.n_atoms, rtol=1e-12)
    assert len(run.max_forces_sigma) == 0 and len(run.out_of_domain) == 0 and run.out_of_domain_steps == 0


def test_nve_conserves_energy_on_emt():
    run = run_md(cu_cell(rattle=0.05), EMT(), "nve", steps=500, timestep=2.0, temperature=600.0, seed=0)
    per_atom = (run.total_energy - run.total_energy[0]) / run.n_atoms
    swing = np.ptp(run.potential_energy) / run.n_atoms
    assert swing > 0.02  # 20 meV/atom of potential energy goes back and forth over 1 ps
    assert np.abs(per_atom).max() < 2e-4  # the total stays within 0.2 meV/atom
    assert abs(run.drift) < 0.05 and run.fluctuation < 0.05  # meV/atom/ps, meV/atom
    assert 250 < run.temperature[250:].mean() < 550  # the atoms really moved (600 K start, shared with the potential)


def test_nve_matches_velocity_verlet_called_directly():
    """The driver's NVE is ASE's VelocityVerlet from thermalize(seed): the same numbers, bit for bit."""
    start = cu_cell(rattle=0.05, seed=3)
    run = run_md(start, EMT(), "nve", steps=30, timestep=1.0, temperature=500.0, seed=7)
    atoms = start.copy()
    atoms.calc = EMT()
    thermalize(atoms, 500.0, np.random.default_rng(7))
    dyn = VelocityVerlet(atoms, 1.0 * units.fs)
    total = []
    dyn.attach(lambda: total.append(atoms.get_potential_energy() + atoms.get_kinetic_energy()), interval=1)
    dyn.run(30)
    np.testing.assert_array_equal(run.total_energy, total)


@pytest.mark.parametrize("ensemble, parameters", [
    ("langevin", {"friction": 0.02}), ("bussi", {"tau": 50.0}), ("nose_hoover_chain", {"tau": 50.0}),
    ("andersen", {"tau": 50.0})])
def test_thermostats_heat_a_cold_crystal_to_the_target(ensemble, parameters):
    cold = cu_cell()
    thermalize(cold, 100.0, np.random.default_rng(0))
    run = run_md(cold, EMT(), ensemble, steps=400, timestep=2.0, temperature=800.0, seed=1, velocities=False,
                 interval=5, **parameters)
    assert run.temperature[:3].mean() < 400  # it started cold
    assert 600 < run.temperature[-40:].mean() < 1000  # the last 400 fs: 800 K within statistical noise


def assert_same_as_ase(ensemble, parameters, direct, steps):
    """The driver's run of ``ensemble`` equals ``direct(atoms, rng)`` (ASE's integrator built by
    hand in ASE units) bit for bit: cell, positions and momenta after ``steps`` at 700 K."""
    start = cu_cell(rattle=0.05, seed=4)
    run = MD(start, EMT(), ensemble, timestep=2.0, temperature=700.0, seed=11, **parameters)
    run.run(steps)
    atoms = start.copy()
    atoms.calc = EMT()
    rng = np.random.default_rng(11)
    thermalize(atoms, 700.0, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ASE's heuristic barostat masses warn on every build
        direct(atoms, rng).run(steps)
    np.testing.assert_array_equal(run.atoms.cell.array, atoms.cell.array)
    np.testing.assert_array_equal(run.atoms.positions, atoms.positions)
    np.testing.assert_array_equal(run.atoms.get_momenta(), atoms.get_momenta())


@pytest.mark.parametrize("ensemble, parameters, direct", [
    ("langevin", {"friction": 0.02},
     lambda a, rng: Langevin(a, 2.0 * units.fs, temperature_K=700.0, friction=0.02 / units.fs, fixcm=False, rng=rng)),
    ("bussi", {"tau": 40.0}, lambda a, rng: Bussi(a, 2.0 * units.fs, temperature_K=700.0, taut=40.0 * units.fs, rng=rng)),
    ("nose_hoover_chain", {"tau": 40.0},
     lambda a, rng: NoseHooverChainNVT(a, 2.0 * units.fs, temperature_K=700.0, tdamp=40.0 * units.fs)),
    ("andersen", {"tau": 40.0},
     lambda a, rng: Andersen(a, 2.0 * units.fs, temperature_K=700.0, andersen_prob=0.05, fixcm=False, rng=rng)),
])
def test_thermostat_units_match_ase_called_directly(ensemble, parameters, direct):
    """friction in 1/fs and time constants in fs are ASE's friction / fs and tau * fs; one generator
    draws the velocities, then the noise."""
    assert_same_as_ase(ensemble, parameters, direct, steps=40)


def test_same_seed_same_trajectory_and_runs_continue():
    start = cu_cell(rattle=0.05, seed=5)
    options = dict(timestep=2.0, temperature=600.0, friction=0.02, interval=10)
    a = run_md(start, EMT(), "langevin", steps=60, seed=3, **options)
    b = run_md(start, EMT(), "langevin", steps=60, seed=3, **options)
    c = run_md(start, EMT(), "langevin", steps=60, seed=4, **options)
    np.testing.assert_array_equal(a.total_energy, b.total_energy)
    assert not np.allclose(a.total_energy[1:], c.total_energy[1:])
    # a run in pieces (equilibrate, then sample) is the same trajectory as one run
    pieces = MD(start, EMT(), "langevin", seed=np.random.default_rng(3), **options)
    pieces.run(25)
    for _ in range(7):
        pieces.run(5)
    np.testing.assert_array_equal(pieces.result().total_energy, a.total_energy)
    np.testing.assert_array_equal(pieces.result().step_numbers, np.arange(0, 61, 10))


def test_temperature_ramp_and_observers():
    seen = []
    ramp = linear_ramp(100.0, 1500.0, 300)
    md = MD(cu_cell(), EMT(), "langevin", timestep=2.0, temperature=ramp, friction=0.05, interval=10, seed=1,
            observers=[lambda step, atoms: seen.append((step, atoms.get_temperature()))])
    run = md.run(300)
    assert [s for s, _ in seen] == list(range(0, 301, 10))
    assert md.dynamics.temp == pytest.approx(units.kB * 1500.0)  # the target followed the ramp
    assert run.temperature[:3].mean() < 300 and run.temperature[-5:].mean() > 800
    assert ramp(0) == 100.0 and ramp(150) == 800.0 and ramp(600) == 1500.0


def test_bad_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown ensemble 'npt'.*known: nve, langevin"):
        run_md(cu_cell(), EMT(), "npt", steps=1)
    with pytest.raises(ConfigError, match="'langevin' has no parameter tau.*takes: friction"):
        run_md(cu_cell(), EMT(), "langevin", steps=1, tau=10.0)
    with pytest.raises(ConfigError, match="'bussi' cannot change its target temperature"):
        run_md(cu_cell(), EMT(), "bussi", steps=1, temperature=linear_ramp(100.0, 200.0, 10))
    with pytest.raises(ConfigError, match="friction must be >= 0"):
        run_md(cu_cell(), EMT(), "langevin", steps=1, friction=-1.0)
    with pytest.raises(ConfigError, match="bussi .*non-zero"):
        run_md(cu_cell(), EMT(), "bussi", steps=1, temperature=0.0)
    assert ensemble_parameters("nose_hoover_chain") == {"tau": 100.0, "chain": 3, "loop": 1}


# ------------------------------------------------------------------------------- stopping runs
def _first(condition):
    hits = np.flatnonzero(condition)
    return int(hits[0]) if len(hits) else None


def test_nve_with_a_bad_timestep_stops_where_it_explodes():
    """A blown-up NVE run stops at the first step that meets a criterion; unchecked, it runs through
    with an absurd drift (what the demo's NVE check reported)."""
    start = cu_cell()
    settings = dict(steps=300, timestep=30.0, temperature=600.0, seed=0)
    fmax, temperature, closest = [], [], []

    def watch(step, atoms):
        fmax.append(np.abs(atoms.get_forces()).max())
        temperature.append(atoms.get_temperature())
        closest.append(min(atoms.get_distances(i, range(i + 1, len(atoms)), mic=True).min() for i in range(len(atoms) - 1)))

    through = run_md(start, EMT(), "nve", explosion=None, observers=[watch], **settings)
    assert through.status == "completed" and through.drift > 1e6  # meV/atom/ps
    rules = ExplosionCheck()
    expected = min(s for s in (_first(np.array(fmax) > rules.max_force), _first(np.array(temperature) > 6000.0),
                               _first(np.array(closest) < rules.min_distance)) if s is not None)
    run = run_md(start, EMT(), "nve", **settings)
    assert run.status == "exploded" and run.stopped and run.step == expected > 10
    assert run.reason.startswith(f"step {expected} ({expected * 30:g} fs): ")
    np.testing.assert_array_equal(run.step_numbers, np.arange(expected))  # nothing from the wreck
    np.testing.assert_array_equal(run.total_energy, through.total_energy[:expected])


def test_energy_pump_stops_on_temperature_and_nan_on_energy():
    # a non-conservative force heats as exp(2 gamma t): 10 x the target is passed at a known time
    run = run_md(cu_cell(), Scripted(pump=0.01), "nve", steps=1000, timestep=1.0, temperature=300.0, seed=0)
    assert run.status == "exploded" and "temperature" in run.reason and "above 3000 K" in run.reason
    assert run.temperature[-1] <= 3000 and 100 < run.step < 400
    run = run_md(cu_cell(), Scripted(nan_from=17), "nve", steps=100, timestep=1.0, temperature=300.0)
    assert run.status == "exploded" and run.step == 17 and run.reason == "step 17 (17 fs): non-finite energy"


def test_atoms_passing_through_each_other_stop_at_the_check():
    class Free(ASECalculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}

    from ase import Atoms

    pair = Atoms("Cu2", positions=[[0, 0, 0], [3.0, 0, 0]])
    pair.set_velocities([[0.01 / units.fs, 0, 0], [-0.01 / units.fs, 0, 0]])  # closing at 0.02 Å/fs
    only_distance = ExplosionCheck(max_force=None, max_temperature_factor=None, min_distance=0.5)
    options = dict(timestep=10.0, velocities=False, explosion=only_distance)
    # d(n) = 3 - 0.2 n: below 0.5 Å from step 13; checked every `interval` steps
    assert run_md(pair, Free(), "nve", steps=30, interval=1, **options).step == 13
    run = run_md(pair, Free(), "nve", steps=30, interval=4, **options)
    assert run.step == 16 and "closer than 0.5 Å" in run.reason


def test_domain_stop_tolerates_isolated_flags_and_stops_a_run_that_stays_out():
    n_atoms = 4

    def flags(pattern):
        return lambda call: np.arange(n_atoms) == 3 if pattern(call) else np.zeros(n_atoms, bool)

    options = dict(timestep=0.5, temperature=300.0, seed=0, domain_stop=DomainStop())  # 90% of the last 100 fs
    # healthy, with false alarms: every 7th step, and a 60-step (30 fs) burst
    noisy = Scripted(flags(lambda k: k % 7 == 0 or 100 <= k < 160))
    run = run_md(cu_cell(repeat=(1, 1, 1), rattle=0.05), noisy, "nve", steps=400, **options)
    assert run.status == "completed" and noisy.calls == 401
    assert run.out_of_domain_steps == sum(k % 7 == 0 or 100 <= k < 160 for k in range(401))
    # out from step 50 on, for good: 180 of the last 200 checks flagged at step 229
    gone = Scripted(flags(lambda k: k >= 50))
    run = run_md(cu_cell(repeat=(1, 1, 1), rattle=0.05), gone, "nve", steps=400, **options)
    assert run.status == "out_of_domain" and run.step == 229 and run.event.step == 229
    assert "180 of the last 200 checks (100 fs)" in run.reason and run.reason.startswith("step 229 (114.5 fs)")
    assert run.event.atoms_out.tolist() == [3] and len(run.step_numbers) == 230
    # window 0: the first flagged step after the start stops the run; the start itself is not judged
    run = run_md(cu_cell(repeat=(1, 1, 1), rattle=0.05), Scripted(flags(lambda k: k in (0, 9))), "nve", steps=40,
                 **{**options, "domain_stop": DomainStop(window=0.0)})
    assert run.status == "out_of_domain" and run.step == 9 and run.out_of_domain.tolist() == [True] + [False] * 8 + [True]
    # without a rule the flags are only recorded
    run = run_md(cu_cell(repeat=(1, 1, 1), rattle=0.05), Scripted(flags(lambda k: k >= 5)), "nve", steps=40, timestep=0.5)
    assert run.status == "completed" and run.out_of_domain_steps == 36
    with pytest.raises(ConfigError, match="fraction"):
        DomainStop(fraction=0.0)


# ------------------------------------------------------------------------------- constant pressure
@pytest.mark.parametrize("ensemble", NPT_ENSEMBLES)
def test_npt_relaxes_a_strained_crystal_toward_zero_pressure(ensemble):
    """EMT Cu at 3% lattice strain (volume +9%) and 50 K: the barostat brings the volume to within
    1% of the zero-pressure one (11.57 Å^3/atom for EMT Cu at 50 K) in 600 fs."""
    strained = bulk("Cu", "fcc", a=3.61 * 1.03, cubic=True).repeat((2, 2, 2))
    reference = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    reference.calc = EMT()
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    BFGS(FrechetCellFilter(reference), logfile=None).run(fmax=1e-4)
    v_zero = reference.get_volume() / len(reference)
    md = MD(strained, EMT(), ensemble, timestep=2.0, temperature=50.0, seed=0, tau_p=200.0, interval=10)
    v_start = md.atoms.get_volume() / len(strained)
    run = md.run(300)
    v_end = md.atoms.get_volume() / len(strained)
    assert run.status == "completed" and v_start > 1.08 * v_zero
    assert abs(v_end - v_zero) < 0.01 * v_zero
    assert np.abs(md.atoms.get_stress()[:3]).max() < 0.01  # eV/Å^3, i.e. below 1.6 GPa from 9 GPa of strain


@pytest.mark.parametrize("ensemble, parameters, direct", [
    ("npt_mtk", {"pressure": 1.5, "tau": 40.0, "tau_p": 300.0},
     lambda a, rng: IsotropicMTKNPT(a, 2.0 * units.fs, temperature_K=700.0, pressure_au=1.5 * units.GPa,
                                    tdamp=40.0 * units.fs, pdamp=300.0 * units.fs)),
    ("npt_mtk_aniso", {"pressure": 1.5, "tau": 40.0, "tau_p": 300.0, "chain": 2},
     lambda a, rng: MTKNPT(a, 2.0 * units.fs, temperature_K=700.0, pressure_au=1.5 * units.GPa,
                           tdamp=40.0 * units.fs, pdamp=300.0 * units.fs, tchain=2)),
    ("npt_berendsen", {"pressure": 1.5, "tau": 40.0, "tau_p": 300.0, "compressibility": 0.008},
     lambda a, rng: NPTBerendsen(a, 2.0 * units.fs, temperature_K=700.0, pressure_au=1.5 * units.GPa,
                                 taut=40.0 * units.fs, taup=300.0 * units.fs, compressibility_au=0.008 / units.GPa,
                                 fixcm=False)),
    ("npt_berendsen_aniso", {"pressure": 1.5, "tau": 40.0, "tau_p": 300.0, "compressibility": 0.008},
     lambda a, rng: Inhomogeneous_NPTBerendsen(a, 2.0 * units.fs, temperature_K=700.0, pressure_au=1.5 * units.GPa,
                                               taut=40.0 * units.fs, taup=300.0 * units.fs,
                                               compressibility_au=0.008 / units.GPa, fixcm=False)),
    ("npt_langevin", {"pressure": 1.5, "tau": 40.0, "tau_p": 300.0},
     lambda a, rng: LangevinBAOAB(a, 2.0 * units.fs, temperature_K=700.0, externalstress=-1.5 * units.GPa,
                                  hydrostatic=True, T_tau=40.0 * units.fs, P_tau=300.0 * units.fs, rng=rng)),
])
def test_barostat_units_match_ase_called_directly(ensemble, parameters, direct):
    """pressure in GPa, compressibility in 1/GPa and time constants in fs are ASE's GPa, 1/GPa and fs."""
    assert_same_as_ase(ensemble, parameters, direct, steps=20)


def test_npt_needs_a_periodic_cell():
    from ase.build import molecule

    with pytest.raises(ConfigError, match="npt_mtk: constant pressure needs .* periodic in all three"):
        run_md(molecule("H2O"), EMT(), "npt_mtk", steps=1)
    slab = cu_cell()
    slab.pbc = (True, True, False)
    with pytest.raises(ConfigError, match="npt_langevin: .*pbc=\\[True, True, False\\]"):
        run_md(slab, EMT(), "npt_langevin", steps=1)
    assert ensemble_parameters("npt_berendsen") == {"pressure": 0.0, "tau": 100.0, "tau_p": 1000.0,
                                                    "compressibility": 0.01}


def test_a_continued_run_counts_on_from_its_start_step():
    """start_step: steps, times and the interval grid go on from it, and it is not recorded again."""
    first = MD(cu_cell(rattle=0.05), EMT(), "nve", timestep=2.0, temperature=500.0, seed=0, interval=5)
    first.run(10)
    seen = []
    again = MD(first.atoms, EMT(), "nve", timestep=2.0, temperature=500.0, velocities=False, interval=5, start_step=10,
               observers=[lambda step, atoms: seen.append(step)])
    run = again.run(12)
    assert seen == [15, 20] and run.step == 22 and again.dynamics.nsteps == 22
    np.testing.assert_array_equal(run.step_numbers, [15, 20])
    np.testing.assert_allclose(run.time_ps, [0.03, 0.04])
    with pytest.raises(ConfigError, match="start_step must be >= 0"):
        MD(cu_cell(), EMT(), "nve", start_step=-1)

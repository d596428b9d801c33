"""Oracles and labelling: EMT equals EMT called directly, failures and time-outs become recorded
labels, parallel labelling equals serial labelling in submission order (each label reported as it
finishes), xTB and PySCF forces are the derivative of their energies and a non-converged SCF is a
failure."""

from __future__ import annotations

import json
import os
import pickle
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.calculators.emt import EMT

from ridgeline.active.labelling import label_structures
from ridgeline.active.oracles import (ORACLES, Label, Oracle, OracleError, emt, from_calculator, make_oracle,
                                      structure_key)
from ridgeline.data.frame import voigt_to_matrix
from ridgeline.errors import ConfigError


def rattled_cu(seed=0, amplitude=0.05):
    atoms = bulk("Cu", cubic=True).repeat(2)
    atoms.rattle(amplitude, seed=seed)
    return atoms


# Module-level calculators: picklable, so they also run in worker processes.
class Picky(EMT):
    """EMT that refuses structures with an atom at x < -0.25 Å."""

    def calculate(self, atoms=None, *args, **kwargs):
        if (atoms.positions[:, 0] < -0.25).any():
            raise ValueError("atom far outside the cell")
        super().calculate(atoms, *args, **kwargs)


class NaNEnergy(EMT):
    def calculate(self, *args, **kwargs):
        super().calculate(*args, **kwargs)
        self.results["energy"] = float("nan")


class Slow(EMT):
    def calculate(self, *args, **kwargs):
        time.sleep(2.0)
        super().calculate(*args, **kwargs)


class Crash(EMT):
    """Kills its process on a structure whose first atom is at x < -0.25 Å (a segfaulting code)."""

    def calculate(self, atoms=None, *args, **kwargs):
        if atoms.positions[0, 0] < -0.25:
            os._exit(3)
        super().calculate(atoms, *args, **kwargs)


def assert_same_labels(a: list[Label], b: list[Label]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (x.key, x.ok, x.error, x.oracle, x.n_atoms) == (y.key, y.ok, y.error, y.oracle, y.n_atoms)
        assert x.energy == y.energy
        for u, v in ((x.forces, y.forces), (x.stress, y.stress)):
            assert (u is None) == (v is None)
            if u is not None:
                assert np.array_equal(u, v)


def test_emt_oracle_equals_emt_and_label_round_trips():
    atoms = rattled_cu()
    label = emt()(atoms)
    reference = atoms.copy()
    reference.calc = EMT()
    assert label.ok and label.error == "" and label.oracle == "emt" and label.n_atoms == 32
    assert label.energy == pytest.approx(reference.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(label.forces, reference.get_forces(), atol=1e-12)
    assert label.stress.shape == (6,)
    np.testing.assert_allclose(label.stress, reference.get_stress(), atol=1e-12)
    assert atoms.calc is None  # the oracle labelled a copy

    record = json.loads(json.dumps(label.record()))
    assert record["key"] == structure_key(atoms) and record["ok"] and record["n_atoms"] == 32
    assert record["energy"] == pytest.approx(label.energy) and record["seconds"] > 0
    assert "forces" not in record and "stress" not in record

    frame = label.to_frame(atoms, config_type="selected")
    assert frame.config_type == "selected" and frame.energy == label.energy
    np.testing.assert_array_equal(frame.forces, label.forces)
    np.testing.assert_array_equal(frame.stress, voigt_to_matrix(label.stress))
    np.testing.assert_array_equal(frame.positions, atoms.positions)
    with pytest.raises(OracleError, match="another structure"):
        label.to_frame(rattled_cu(seed=1))

    cluster = atoms.copy()
    cluster.pbc = False
    assert emt()(cluster).stress is None  # stress only for fully periodic cells


def test_structure_key_is_stable_and_sensitive():
    atoms = rattled_cu()
    key = structure_key(atoms)
    assert len(key) == 40 and key == structure_key(atoms.copy()) == structure_key(rattled_cu())
    moved = atoms.copy()
    moved.positions[5, 1] += 1e-3
    assert structure_key(moved) != key
    noise = atoms.copy()
    noise.positions += 1e-11  # far below the 1e-6 Å grid (unless a coordinate sits on a rounding edge)
    assert structure_key(noise) == key
    open_cell = atoms.copy()
    open_cell.pbc = [True, True, False]
    assert structure_key(open_cell) != key
    swapped = atoms.copy()
    swapped.numbers[0] = 29 if swapped.numbers[0] != 29 else 47
    assert structure_key(swapped) != key
    charged = atoms.copy()
    charged.set_initial_charges([1.0] + [0.0] * 31)
    assert structure_key(charged) != key


def test_calculator_failures_become_labels():
    picky = from_calculator(Picky)
    assert picky.name == "Picky"
    good, bad = rattled_cu(), rattled_cu()
    bad.positions[3, 0] = -0.5
    failed = picky(bad)
    assert not failed.ok and failed.error == "ValueError: atom far outside the cell"
    assert failed.energy is None and failed.forces is None and failed.key == structure_key(bad)
    json.dumps(failed.record())
    with pytest.raises(OracleError, match="atom far outside the cell"):
        failed.to_frame(bad)
    assert picky(good).ok  # the same (cached) calculator recovers

    nan = from_calculator(NaNEnergy, name="nan")(good)
    assert not nan.ok and nan.error.startswith("OracleError: non-finite energy")

    def check(calc):
        return calc.results["energy"] < -1e6  # a convergence flag that says no

    assert "check" in Oracle(EMT, "checked", check=check)(good).error

    handler = signal.getsignal(signal.SIGALRM)
    start = time.perf_counter()
    slow = from_calculator(Slow, timeout=0.3)(good)
    elapsed = time.perf_counter() - start
    assert not slow.ok and slow.error == "TimeoutError: oracle call exceeded 0.3 s"
    assert elapsed < 1.5 and slow.seconds < 1.5
    assert signal.getsignal(signal.SIGALRM) is handler and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)

    with pytest.raises(OracleError, match="cannot build"):
        Oracle(lambda: 1 / 0, "broken")(good)


BUILT = []


def counted_emt():
    BUILT.append(1)
    return EMT()


def test_calculator_is_built_once_per_process_and_thread():
    BUILT.clear()
    oracle = from_calculator(counted_emt, timeout=30)
    assert oracle.name == "counted_emt"
    labels = label_structures([rattled_cu(seed=i) for i in range(3)], oracle, executor="serial")
    copy = pickle.loads(pickle.dumps(oracle))  # what a worker process receives with each task
    assert all(label.ok for label in labels) and copy(rattled_cu()).ok and len(BUILT) == 1
    assert copy.calculator() is oracle.calculator()
    with ThreadPoolExecutor(1) as pool, pytest.warns(RuntimeWarning, match="time-out not enforced"):
        assert pool.submit(oracle, rattled_cu()).result().ok  # its own calculator, no SIGALRM in a thread
    assert len(BUILT) == 2


def structures_for_labelling(n=6):
    structures = [rattled_cu(seed=i) for i in range(n)]
    structures[2].positions[0, 0] = -0.5  # Picky refuses this one
    return structures


def test_parallel_labelling_equals_serial_in_submission_order():
    structures = structures_for_labelling()
    oracle = from_calculator(Picky)
    seen = []
    serial = label_structures(structures, oracle, executor="serial", on_result=lambda i, label: seen.append((i, label)))
    assert [i for i, _ in seen] == list(range(len(structures)))
    assert [label for _, label in seen] == serial
    assert [label.ok for label in serial] == [True, True, False, True, True, True]
    assert [label.key for label in serial] == [structure_key(a) for a in structures]

    # in parallel each label is reported once, as it finishes, with its index in the submission
    with ProcessPoolExecutor(2) as pool:
        seen.clear()
        in_processes = label_structures(structures, oracle, executor=pool, on_result=lambda i, label: seen.append((i, label)))
        assert sorted(i for i, _ in seen) == list(range(len(structures)))
        assert all(label is in_processes[i] for i, label in seen)
        assert pool.submit(int, 7).result() == 7  # a given executor is not shut down
    assert_same_labels(in_processes, serial)

    with ThreadPoolExecutor(2) as pool:
        seen.clear()
        in_threads = label_structures(structures, oracle, executor=pool, on_result=lambda i, label: seen.append((i, label)))
    assert sorted(i for i, _ in seen) == list(range(len(structures)))
    assert all(label is in_threads[i] for i, label in seen)
    assert_same_labels(in_threads, serial)

    assert_same_labels(label_structures(structures, oracle, executor=None), serial)


_REPORTED_OTHERS = threading.Event()  # set once every structure but the first has been reported


class SlowFirst(EMT):
    """EMT that holds the call on the first structure (x of atom 0 < -0.25 Å) until the others have
    been reported, or 10 s: a slow call ahead of quick ones."""

    def calculate(self, atoms=None, *args, **kwargs):
        if atoms.positions[0, 0] < -0.25:
            _REPORTED_OTHERS.wait(timeout=10.0)
        super().calculate(atoms, *args, **kwargs)


def test_labels_are_reported_as_they_finish_not_behind_a_slow_one():
    """A label is handed to on_result (the store, which writes it) as soon as its call ends: quick
    calls are not held back behind a slow first one, so a kill during the slow call loses none
    of them. The returned list stays in submission order."""
    structures = [rattled_cu(seed=i) for i in range(5)]
    structures[0].positions[0, 0] = -0.3  # the slow one, submitted first
    _REPORTED_OTHERS.clear()
    seen = []

    def report(index, label):
        seen.append(index)
        if sorted(seen) == [1, 2, 3, 4]:
            _REPORTED_OTHERS.set()

    with ThreadPoolExecutor(3) as pool:
        start = time.perf_counter()
        labels = label_structures(structures, from_calculator(SlowFirst), executor=pool, on_result=report)
    assert _REPORTED_OTHERS.is_set() and seen[-1] == 0 and sorted(seen) == [0, 1, 2, 3, 4]
    assert time.perf_counter() - start < 8.0  # the slow call was released by the reports, not by its time-out
    assert [label.key for label in labels] == [structure_key(a) for a in structures] and all(label.ok for label in labels)


_PARENT_LOCK = threading.Lock()  # held by the test process while it labels


class NeedsLock(EMT):
    """EMT behind a module-level lock: a worker that inherited the lock held (a fork of a parent
    holding it, as a fork copies the locks of the parent's threads) cannot take it."""

    def calculate(self, *args, **kwargs):
        if not _PARENT_LOCK.acquire(timeout=2.0):
            raise RuntimeError("lock inherited held from the parent process")
        try:
            super().calculate(*args, **kwargs)
        finally:
            _PARENT_LOCK.release()


def test_process_pool_workers_do_not_inherit_the_parents_locks():
    """The default pool starts its workers afresh (forkserver/spawn); a plain fork would copy the
    held lock into the worker, which then waits on it (the demo's hang, bounded here by a timeout)."""
    with _PARENT_LOCK:
        labels = label_structures([rattled_cu()], from_calculator(NeedsLock), executor="process", workers=1)
        forked = label_structures([rattled_cu()], from_calculator(NeedsLock), executor="process", workers=1,
                                  mp_context="fork")
    assert labels[0].ok, labels[0].error
    assert not forked[0].ok and "inherited held" in forked[0].error


def test_process_pool_enforces_timeouts_and_survives_a_crash():
    good = rattled_cu()
    timed = label_structures([good, good], from_calculator(Slow, timeout=0.3), executor="process", workers=2)
    assert [label.error for label in timed] == ["TimeoutError: oracle call exceeded 0.3 s"] * 2

    structures = structures_for_labelling(4)  # the worker dies on structure 2
    seen = []
    labels = label_structures(structures, from_calculator(Crash), executor="process", workers=1,
                              on_result=lambda i, label: seen.append(i))
    assert sorted(seen) == [0, 1, 2, 3]  # each once; the broken ones in whatever order the pool failed them
    assert labels[0].ok and labels[1].ok  # done before the crash: kept
    assert not labels[2].ok and labels[2].error.startswith("BrokenProcessPool")
    assert labels[2].key == structure_key(structures[2])
    assert all(label.ok or "BrokenProcessPool" in label.error for label in labels)


def test_unpicklable_oracle_is_refused_for_processes_but_runs_serially():
    oracle = from_calculator(lambda: EMT(), name="lambda")
    with pytest.raises(OracleError, match="functools.partial"):
        label_structures([rattled_cu()], oracle, executor="process", workers=1)
    assert label_structures([rattled_cu()], oracle, executor="serial")[0].ok
    with pytest.raises(OracleError, match="unknown executor"):
        label_structures([rattled_cu()], oracle, executor="threads")


def test_make_oracle_by_name():
    assert set(ORACLES) == {"emt", "xtb", "pyscf"}
    oracle = make_oracle("emt", timeout=10)
    assert oracle.name == "emt" and oracle.timeout == 10.0
    with pytest.raises(ConfigError, match="unknown oracle 'nope'; valid oracles: emt, pyscf, xtb"):
        make_oracle("nope")
    with pytest.raises(ConfigError, match="no option 'basis'.*valid options: timeout"):
        make_oracle("emt", basis="sto-3g")


def finite_difference_force(oracle, atoms, index, axis, step):
    energies = []
    for sign in (1, -1):
        displaced = atoms.copy()
        displaced.positions[index, axis] += sign * step
        label = oracle(displaced)
        assert label.ok, label.error
        energies.append(label.energy)
    return -(energies[0] - energies[1]) / (2 * step)


def test_xtb_oracle_forces_stress_and_non_convergence():
    pytest.importorskip("tblite")
    from ridgeline.active.oracles import xtb

    ethanol = molecule("CH3CH2OH")
    ethanol.rattle(0.05, seed=1)
    oracle = make_oracle("xtb", method="GFN2-xTB")
    label = oracle(ethanol)
    assert label.ok, label.error
    assert np.isfinite(label.energy) and label.forces.shape == (9, 3) and label.stress is None
    for index, axis in ((2, 0), (8, 1)):
        fd = finite_difference_force(oracle, ethanol, index, axis, 1e-3)
        assert label.forces[index, axis] == pytest.approx(fd, abs=1e-3)
    assert oracle(ethanol).energy == label.energy  # no SCF guess carried over from other structures

    failed = xtb(max_iterations=2)(ethanol)
    assert not failed.ok and "not converged" in failed.error

    silicon = bulk("Si")
    silicon.rattle(0.02, seed=0)
    crystal = oracle(silicon)
    assert crystal.ok, crystal.error
    assert crystal.stress.shape == (6,) and np.isfinite(crystal.stress).all()


def test_pyscf_oracle_forces_and_non_convergence():
    pytest.importorskip("pyscf")
    from ridgeline.active.oracles import pyscf_dft

    water = molecule("H2O")
    water.rattle(0.02, seed=2)
    oracle = pyscf_dft(xc="LDA", basis="sto-3g")
    assert oracle.name == "pyscf:LDA/sto-3g"
    label = oracle(water)
    assert label.ok, label.error
    assert label.forces.shape == (3, 3) and label.stress is None
    fd = finite_difference_force(oracle, water, 0, 2, 2e-3)
    assert label.forces[0, 2] == pytest.approx(fd, abs=2e-3)

    failed = pyscf_dft(xc="LDA", basis="sto-3g", max_cycle=1)(water)
    assert not failed.ok and failed.error == "OracleError: SCF not converged in 1 cycles"

    boxed = water.copy()
    boxed.cell, boxed.pbc = [8, 8, 8], True
    assert "molecules only" in oracle(boxed).error

"""Tasks on executors in order, and finished runs kept on disk and reused only with equal settings."""

from __future__ import annotations

import concurrent.futures as cf
import threading

import numpy as np
import pytest

from ridgeline.errors import ConfigError, DataError
from ridgeline.simulate.parallel import load_run, run_tasks, save_run


def square(x):
    return x * x


def test_run_tasks_keeps_the_order_and_reports_each_result():
    seen = []
    assert run_tasks(square, range(5), on_result=lambda i, r: seen.append((i, r))) == [0, 1, 4, 9, 16]
    assert seen == [(i, i * i) for i in range(5)]
    seen.clear()
    with cf.ThreadPoolExecutor(3) as pool:
        assert run_tasks(square, range(7), pool, on_result=lambda i, r: seen.append((i, r))) == [i * i for i in range(7)]
    assert sorted(seen) == [(i, i * i) for i in range(7)]
    assert run_tasks(square, [3, 4], "process", workers=2) == [9, 16]
    with pytest.raises(ConfigError, match="unknown executor 'mpi'"):
        run_tasks(square, [1], "mpi")
    lock = threading.Lock()
    with pytest.raises(ConfigError, match="cannot be sent to worker processes"):
        run_tasks(square, [lock], "process")


def test_saved_runs_are_reused_only_with_the_same_settings(tmp_path):
    path = tmp_path / "run.npz"
    settings = {"lambda": 0.5, "run_key": {"model": "a.safetensors"}, "parameters": {"friction": 0.01}}
    assert load_run(path, settings) is None
    save_run(path, {"du": np.arange(4.0)}, {"status": "completed"}, settings)
    arrays, meta = load_run(path, dict(settings))
    np.testing.assert_array_equal(arrays["du"], np.arange(4.0))
    assert meta == {"status": "completed"}
    assert load_run(path, {**settings, "run_key": {"model": "b.safetensors"}}) is None
    path.write_bytes(b"not an npz")
    with pytest.raises(DataError, match="run.npz: not a readable saved run"):
        load_run(path, settings)


def test_threads_get_their_own_calculator():
    from ase.calculators.emt import EMT

    from ridgeline.simulate.parallel import for_task

    calc = EMT()
    assert for_task(calc, "serial") is calc and for_task(calc, "process") is calc and for_task(calc, None) is calc
    with cf.ThreadPoolExecutor(1) as pool:
        copied = for_task(calc, pool)
    assert copied is not calc and isinstance(copied, EMT)

"""Independent runs (umbrella windows, lambda points) on any ``concurrent.futures`` executor, and
each finished run kept on disk so that a rerun does only what is missing.

``executor``: ``"serial"`` or None (in this process, one after another), ``"process"`` (a
``ProcessPoolExecutor`` of ``workers`` processes, default ``os.cpu_count()``, made and shut down
here), or any ``Executor`` (a thread pool, ``dask.distributed.Client.get_executor()``), used as is
and not shut down. Worker processes start by ``forkserver`` where the platform has it, else
``spawn``: a plain fork copies the locks of the parent's OpenMP/torch threads, and a worker forked
while one was held waits on it forever.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import io
import json
import multiprocessing
import os
import pickle
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import ConfigError, DataError
from ..files import atomic_write_bytes

SAFE_START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
EXECUTORS = ("serial", "process")


def check_picklable(what: str, value) -> None:
    """A clear error when ``value`` cannot be sent to a worker process."""
    try:
        pickle.dumps(value)
    except Exception as err:
        raise ConfigError(f"{what} cannot be sent to worker processes ({type(err).__name__}: {err}); give the "
                          "calculator as a CalculatorFactory, or run serially or on a thread pool") from err


def run_tasks(function: Callable, tasks: Iterable, executor: cf.Executor | str | None = "serial",
              workers: int | None = None, on_result: Callable | None = None) -> list:
    """``[function(task) for task in tasks]`` on ``executor`` (module docstring), in the tasks' order;
    ``on_result(index, result)`` is called as each finishes (to save it at once). The first task
    that raises stops the rest (those not started are cancelled) and its exception propagates."""
    tasks = list(tasks)
    if executor is None or executor == "serial":
        results = []
        for index, task in enumerate(tasks):
            results.append(function(task))
            if on_result is not None:
                on_result(index, results[-1])
        return results
    if isinstance(executor, str):
        if executor != "process":
            raise ConfigError(f"unknown executor {executor!r}; valid: {list(EXECUTORS)} or a concurrent.futures.Executor")
        check_picklable("the tasks", tasks)
        context = multiprocessing.get_context(SAFE_START_METHOD)
        pool = cf.ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1, mp_context=context)
        try:
            return _gather(function, tasks, pool, on_result)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if isinstance(executor, cf.ProcessPoolExecutor):
        check_picklable("the tasks", tasks)
    return _gather(function, tasks, executor, on_result)


def _gather(function, tasks, executor: cf.Executor, on_result) -> list:
    futures = {executor.submit(function, task): index for index, task in enumerate(tasks)}
    results = [None] * len(tasks)
    try:
        for future in cf.as_completed(futures):
            index = futures[future]
            results[index] = future.result()
            if on_result is not None:
                on_result(index, results[index])
    finally:
        for future in futures:
            future.cancel()
    return results


class CalculatorFactory:
    """``CalculatorFactory(function, *args)``: builds ``function(*args)`` where a task runs, so that a
    worker process gets a fresh calculator rather than a pickled one (some, like ASE's EMT after
    its first call, cannot be pickled). ``function`` must be importable (a module-level function)."""

    def __init__(self, function: Callable, *args, **kwargs):
        self.function, self.args, self.kwargs = function, args, kwargs

    def __call__(self):
        return self.function(*self.args, **self.kwargs)


def for_task(calculator, executor):
    """The calculator to put in one task: itself where tasks run one after another or in worker
    processes (each gets its own copy by pickling), a deep copy for any other executor (threads
    share memory, and an ASE calculator keeps its last results)."""
    if executor is None or (isinstance(executor, str) and executor in EXECUTORS) \
            or isinstance(executor, cf.ProcessPoolExecutor):
        return calculator
    return copy.deepcopy(calculator)


def materialize(calculator):
    """The calculator itself, or what a :class:`CalculatorFactory` builds."""
    return calculator() if isinstance(calculator, CalculatorFactory) else calculator


# ------------------------------------------------------------------------------ finished runs on disk
def save_run(path, arrays: dict, meta: dict, settings: dict) -> None:
    """A finished run's ``arrays`` (name -> array) and ``meta`` (JSON types) with the ``settings``
    it ran with, as one .npz written atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, meta=np.array(json.dumps({"meta": meta, "settings": settings})))
    atomic_write_bytes(path, buffer.getvalue())


def load_run(path, settings: dict) -> tuple[dict, dict] | None:
    """(arrays, meta) of a run saved by :func:`save_run` with these ``settings``; None when there is
    no such file or it ran with other settings."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            saved = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in data.files if k != "meta"}
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: not a readable saved run ({err}); delete it to run it again") from err
    if saved.get("settings") != json.loads(json.dumps(settings)):
        return None
    return arrays, saved["meta"]


__all__ = ["CalculatorFactory", "EXECUTORS", "SAFE_START_METHOD", "check_picklable", "for_task", "materialize", "load_run", "run_tasks", "save_run"]

"""Labelling many structures with one oracle, serially or on any ``concurrent.futures`` executor.

``on_result(index, label)`` is called as each call finishes, so that a caller can keep every label
at once (a kill then loses only the calls still running, never one finished behind a slower one);
the order of these calls depends on the executor, so what the callback keeps should not (the
active-learning store files each label under its structure and index). The returned list is in
submission order, and for a deterministic calculator parallel labels equal serial ones bit for
bit. A failure of the executor itself for one structure (a worker process that died, a task that
could not be pickled) becomes a failed :class:`~ridgeline.active.oracles.Label` for that
structure, never an exception; labels already done are kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import pickle
import time
from typing import Callable, Sequence

from tqdm.auto import tqdm

from ..simulate.parallel import SAFE_START_METHOD
from .oracles import Label, Oracle, OracleError, structure_key


def label_structures(structures: Sequence, oracle: Oracle, executor: cf.Executor | str | None = "process",
                     workers: int | None = None, on_result: Callable[[int, Label], None] | None = None,
                     progress: bool = False, mp_context: str | None = None) -> list[Label]:
    """Label ``structures`` (``ase.Atoms``) with ``oracle``; one :class:`Label` per structure, in order.

    ``executor``: ``"serial"`` or ``None`` (in this process, one by one), ``"process"`` (a
    ``ProcessPoolExecutor`` of ``workers`` processes, default ``os.cpu_count()``, made and shut down
    here; started by ``mp_context``, default ``"forkserver"`` where the platform has it, else
    ``"spawn"``: a plain fork copies the locks of the parent's OpenMP/torch/tblite threads, and a
    worker forked while one was held waits on it forever), or any ``Executor`` (a thread pool,
    ``dask.distributed.Client.get_executor()``),
    used as is and not shut down. Oracle time-outs are enforced serially and in process pools only.
    """
    structures = [atoms.copy() for atoms in structures]  # no calculator, nothing the caller changes later
    if executor is None or executor == "serial":
        return _serial(structures, oracle, on_result, progress)
    if executor == "process":
        _check_picklable(oracle)
        context = multiprocessing.get_context(mp_context or SAFE_START_METHOD)
        pool = cf.ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1, mp_context=context)
        try:
            return _parallel(structures, oracle, pool, on_result, progress)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if isinstance(executor, str):
        raise OracleError(f"unknown executor {executor!r}; use 'serial', 'process' or a concurrent.futures.Executor")
    if isinstance(executor, cf.ProcessPoolExecutor):
        _check_picklable(oracle)
    return _parallel(structures, oracle, executor, on_result, progress)


def _check_picklable(oracle: Oracle) -> None:
    try:
        pickle.dumps(oracle)
    except Exception as err:
        raise OracleError(f"oracle {oracle.name!r} cannot be sent to worker processes ({type(err).__name__}: {err}); "
                          "make its factory a module-level function or a functools.partial of one, "
                          "or label with executor='serial'") from err


def _failed(atoms, oracle: Oracle, err: BaseException, seconds: float = 0.0) -> Label:
    return Label(structure_key(atoms), False, seconds=seconds, error=f"{type(err).__name__}: {err}",
                 oracle=oracle.name, n_atoms=len(atoms))


def _bar(total: int, progress: bool, name: str):
    return tqdm(total=total, disable=not progress, desc=f"labelling ({name})", unit="call", leave=False)


def _serial(structures, oracle, on_result, progress) -> list[Label]:
    labels = []
    with _bar(len(structures), progress, oracle.name) as bar:
        for index, atoms in enumerate(structures):
            start = time.perf_counter()
            try:
                label = oracle(atoms)
            except Exception as err:  # the calculator could not be built: same outcome as in a worker
                label = _failed(atoms, oracle, err, time.perf_counter() - start)
            labels.append(label)
            _report(index, label, on_result, bar)
    return labels


def _parallel(structures, oracle, executor: cf.Executor, on_result, progress) -> list[Label]:
    futures: dict[cf.Future, int] = {}
    labels: list[Label | None] = [None] * len(structures)
    try:
        with _bar(len(structures), progress, oracle.name) as bar:
            for index, atoms in enumerate(structures):
                try:
                    futures[executor.submit(oracle, atoms)] = index
                except Exception as err:  # e.g. the pool broke while submitting
                    labels[index] = _failed(atoms, oracle, err)
                    _report(index, labels[index], on_result, bar)
            for future in cf.as_completed(futures):
                index = futures[future]
                try:
                    labels[index] = future.result()
                except Exception as err:  # BrokenProcessPool, pickling errors, a cancelled task
                    labels[index] = _failed(structures[index], oracle, err)
                _report(index, labels[index], on_result, bar)
    finally:
        for future in futures:
            future.cancel()
    return labels


def _report(index: int, label: Label, on_result, bar) -> None:
    bar.update()
    if on_result is not None:
        on_result(index, label)

"""Oracles: the reference code that labels the structures active learning selects.

Any ASE calculator can be an oracle. An :class:`Oracle` wraps a picklable *factory* of the
calculator (so it can be shipped to worker processes) and turns one call on one structure into a
:class:`Label`: energy (eV), forces (eV/Å), stress (Voigt, eV/Å^3, ASE sign, fully periodic cells
only) and the wall time, or a recorded failure (the exception text, a time-out, a non-finite
result, an SCF that did not converge). A failure of the calculation never raises: the loop logs it
and moves on.

Ready-made oracles: :func:`emt` (ASE's EMT, for tests), :func:`xtb` (GFN-xTB through tblite),
:func:`pyscf_dft` (molecular DFT through PySCF); :func:`from_calculator` wraps any other
calculator factory (VASP, CP2K, ...). :func:`make_oracle` builds one by name from a config.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import math
import os
import signal
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import numpy as np
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.emt import EMT

from ..data.frame import Frame, structure_key
from ..errors import ConfigError, OracleError
from .pyscf_calculator import PySCFCalculator


@dataclass
class Label:
    """Outcome of one oracle call (success or recorded failure)."""

    key: str  # structure_key(atoms) of the input
    ok: bool
    energy: float | None = None  # eV
    forces: np.ndarray | None = None  # (N, 3) eV/Å
    stress: np.ndarray | None = None  # Voigt (6,) eV/Å^3, ASE sign; only for fully periodic cells
    seconds: float = 0.0  # wall time of the call
    error: str = ""  # "" if ok, else "<ExceptionType>: message"
    oracle: str = ""  # oracle name
    n_atoms: int = 0

    def to_frame(self, atoms, config_type: str = "active", source: str = "") -> Frame:
        """The labelled structure as a :class:`Frame`; ``atoms`` must be the structure labelled."""
        if not self.ok:
            raise OracleError(f"no label for structure {self.key[:12]} ({self.oracle}): {self.error}")
        key = structure_key(atoms)
        if key != self.key:
            raise OracleError(f"label {self.key[:12]} belongs to another structure than the one given ({key[:12]})")
        frame = Frame.from_atoms(atoms, energy=self.energy, forces=self.forces, stress=self.stress,
                                 config_type=config_type, source=source or f"{self.oracle} {self.key[:12]}")
        frame.info.update(oracle=self.oracle, key=self.key)
        return frame

    def record(self) -> dict:
        """JSON-serialisable summary without the arrays (one line of an oracle log)."""
        fmax = None
        if self.forces is not None:
            fmax = float(np.linalg.norm(self.forces, axis=1).max()) if len(self.forces) else 0.0
        return {
            "key": self.key, "ok": bool(self.ok), "energy": None if self.energy is None else float(self.energy),
            "seconds": float(self.seconds), "error": self.error, "oracle": self.oracle,
            "n_atoms": int(self.n_atoms), "fmax": fmax, "has_stress": self.stress is not None,
        }




# Calculators built in this process, per thread (a calculator is not shared between threads),
# keyed by the oracle's token: the copies of one oracle unpickled for each task of a process
# pool reuse one calculator instead of building one per task.
_BUILT = threading.local()
_MAX_BUILT = 4


class Oracle:
    """A picklable reference: ``factory`` builds the ASE calculator (once per process and thread,
    lazily; the calculator is never pickled), ``name`` names it in logs.

    ``timeout`` (seconds) bounds one call. It uses ``SIGALRM``, so it is enforced only when the
    call runs in the main thread of its process (serial labelling, process-pool workers), not in
    threads (thread pools, dask workers), and a call inside compiled code (a Fortran SCF) is
    interrupted only when control returns to Python; a subprocess a calculator started is not
    killed. ``check(calculator)``, called after a successful calculation, fails the label when it
    raises or returns a false value other than ``None`` (e.g. a convergence flag the calculator
    only records).
    """

    def __init__(self, factory: Callable, name: str, timeout: float | None = None,
                 check: Callable | None = None):
        if not callable(factory):
            raise OracleError(f"oracle {name!r}: the factory must be callable, got {type(factory).__name__}")
        if timeout is not None and not timeout > 0:
            raise OracleError(f"oracle {name!r}: timeout must be positive seconds or None, got {timeout!r}")
        self.factory = factory
        self.name = str(name)
        self.timeout = None if timeout is None else float(timeout)
        self.check = check
        self._token = uuid.uuid4().hex

    def __repr__(self) -> str:
        return f"Oracle({self.name!r}, timeout={self.timeout})"

    def calculator(self):
        """This process's (and thread's) calculator, built on first use."""
        built = getattr(_BUILT, "calculators", None)
        if built is None or _BUILT.pid != os.getpid():  # nothing inherited through a fork
            built = _BUILT.calculators = OrderedDict()
            _BUILT.pid = os.getpid()
        if self._token in built:
            built.move_to_end(self._token)
            return built[self._token]
        try:
            calc = self.factory()
        except OracleError:
            raise
        except Exception as err:
            raise OracleError(f"cannot build the {self.name} calculator: {type(err).__name__}: {err}") from err
        built[self._token] = calc
        while len(built) > _MAX_BUILT:
            built.popitem(last=False)
        return calc

    def __call__(self, atoms) -> Label:
        """Label one structure. Failures of the calculation come back as ``Label(ok=False)``; only a
        calculator that cannot be built at all raises :class:`OracleError`."""
        key, n_atoms = structure_key(atoms), len(atoms)
        calc = self.calculator()
        start = time.perf_counter()
        try:
            with _time_limit(self.timeout):
                energy, forces, stress = _calculate(atoms, calc)
                verdict = None if self.check is None else self.check(calc)
                if verdict is not None and not verdict:
                    raise OracleError(f"check {getattr(self.check, '__name__', 'check')!r} failed")
            _validate(energy, forces, stress, n_atoms)
        except Exception as err:
            return Label(key, False, seconds=time.perf_counter() - start, error=f"{type(err).__name__}: {err}",
                         oracle=self.name, n_atoms=n_atoms)
        return Label(key, True, energy=energy, forces=forces, stress=stress, seconds=time.perf_counter() - start,
                     oracle=self.name, n_atoms=n_atoms)


def _calculate(atoms, calc):
    """Energy, forces and (fully periodic cells, if the calculator has it) stress of a copy of ``atoms``."""
    atoms = atoms.copy()
    calc.reset()  # no state of the previous structure (e.g. an SCF guess): results depend on the input only
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    forces = np.array(atoms.get_forces(), dtype=np.float64)
    stress = None
    if atoms.pbc.all():
        try:
            stress = np.array(atoms.get_stress(voigt=True), dtype=np.float64)
        except PropertyNotImplementedError:
            stress = None
    return energy, forces, stress


def _validate(energy, forces, stress, n_atoms: int) -> None:
    if not math.isfinite(energy):
        raise OracleError(f"non-finite energy ({energy})")
    if forces.shape != (n_atoms, 3):
        raise OracleError(f"forces of shape {forces.shape} for {n_atoms} atoms")
    bad = np.flatnonzero(~np.isfinite(forces).all(axis=1))
    if len(bad):
        raise OracleError(f"non-finite forces on atoms {bad[:10].tolist()}")
    if stress is not None and (stress.shape != (6,) or not np.isfinite(stress).all()):
        raise OracleError(f"stress of shape {stress.shape} or non-finite: {stress.tolist()}")


class _time_limit:
    """SIGALRM after ``seconds`` raises TimeoutError (main thread only; elsewhere no limit)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.active = False

    def _alarm(self, signum, frame):
        raise TimeoutError(f"oracle call exceeded {self.seconds:g} s")

    def __enter__(self):
        if self.seconds is None:
            return self
        if threading.current_thread() is not threading.main_thread():
            warnings.warn("oracle time-out not enforced: the call does not run in the main thread of its process",
                          RuntimeWarning, stacklevel=3)
            return self
        self.old_handler = signal.signal(signal.SIGALRM, self._alarm)
        self.active = True
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old_handler)
            self.active = False
        return False


# ----------------------------------------------------------------------------------------------
# Ready-made oracles. The factories are functools.partial of module-level functions: picklable.


def _build_emt():
    return EMT()


def emt(timeout: float | None = None) -> Oracle:
    """ASE's EMT (Cu, Ag, Au, Ni, Pd, Pt, Al, and H, C, N, O roughly): fast, for tests and demos."""
    return Oracle(_build_emt, "emt", timeout=timeout)


def _require(module: str, oracle: str, package: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise OracleError(f"the {oracle} oracle needs {package}: pip install {package}")


def _build_tblite(**parameters):
    try:
        from tblite.ase import TBLite
    except ImportError as err:
        raise OracleError("the xtb oracle needs tblite: pip install tblite") from err
    return TBLite(verbosity=0, **parameters)


def xtb(method: str = "GFN2-xTB", accuracy: float = 1.0, electronic_temperature: float = 300.0,
        max_iterations: int = 250, charge: int | None = None, multiplicity: int | None = None,
        timeout: float | None = None) -> Oracle:
    """GFN-xTB through tblite (``method``: GFN2-xTB, GFN1-xTB, IPEA1-xTB); molecules and crystals.

    ``charge``/``multiplicity`` ``None``: taken from the atoms' initial charges and magnetic
    moments (zero by default). A non-converged SCF raises in tblite and becomes a failed label.
    """
    _require("tblite", "xtb", "tblite")
    factory = functools.partial(_build_tblite, method=method, accuracy=float(accuracy),
                                electronic_temperature=float(electronic_temperature),
                                max_iterations=int(max_iterations), charge=charge, multiplicity=multiplicity)
    return Oracle(factory, f"xtb:{method}", timeout=timeout)


def _build_pyscf(**parameters):
    return PySCFCalculator(**parameters)


def pyscf_dft(xc: str = "PBE", basis: str = "def2-SVP", charge: int = 0, spin: int = 0, max_cycle: int = 100,
              conv_tol: float = 1e-9, timeout: float | None = None) -> Oracle:
    """Kohn-Sham DFT of molecules through PySCF (``spin``: number of unpaired electrons, UKS if > 0)."""
    _require("pyscf", "pyscf", "pyscf")
    factory = functools.partial(_build_pyscf, xc=xc, basis=basis, charge=int(charge), spin=int(spin),
                                max_cycle=int(max_cycle), conv_tol=float(conv_tol))
    return Oracle(factory, f"pyscf:{xc}/{basis}", timeout=timeout)


def from_calculator(factory: Callable, name: str | None = None, timeout: float | None = None,
                    check: Callable | None = None) -> Oracle:
    """An oracle from any ASE calculator factory (a class, a module-level function, a
    ``functools.partial``; lambdas work serially and in threads but cannot go to worker processes)."""
    if name is None:
        func = factory.func if isinstance(factory, functools.partial) else factory
        name = getattr(func, "__name__", type(func).__name__)
    return Oracle(factory, name, timeout=timeout, check=check)


ORACLES = {"emt": emt, "xtb": xtb, "pyscf": pyscf_dft}


def make_oracle(name: str, **kwargs) -> Oracle:
    """The oracle called ``name`` in :data:`ORACLES`, built with ``kwargs`` (e.g. from a config)."""
    if name not in ORACLES:
        raise ConfigError(f"unknown oracle {name!r}; valid oracles: {', '.join(sorted(ORACLES))}")
    build = ORACLES[name]
    parameters = inspect.signature(build).parameters
    unknown = sorted(set(kwargs) - set(parameters))
    if unknown:
        raise ConfigError(f"oracle {name!r} has no option {', '.join(map(repr, unknown))}; "
                          f"valid options: {', '.join(parameters)}")
    try:
        return build(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"oracle {name!r}: bad option value ({err})") from err

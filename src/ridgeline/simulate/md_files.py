"""What an MD run writes as it goes, and how it is picked up again.

In ``output_dir``, every recorded step (an MD observer, :class:`Recorder`):

- ``trajectory.extxyz``: the frame: positions, momenta, cell, the calculator's energy, forces,
  stress (where it gives them), and ``forces_sigma`` / ``out_of_domain`` per atom where the model
  has them; ``info`` holds ``step`` and ``time`` (fs);
- ``md.log``: one row: step, time (ps), Epot, Ekin, Etot (eV), T (K), P (GPa, with the kinetic
  part; nan without a stress), the largest force sigma (eV/Å, nan without one), out-of-domain
  flag (0/1);
- ``uncertain.extxyz``: the frame again (structure only, no calculator labels), when an atom is
  flagged out of domain or its force sigma exceeds ``max_forces_sigma``: start structures for
  ``ridgeline al`` and readable by ``ridgeline.data.read_frames(path, require=())``;
- ``md_state.npz``, written atomically last: the step, the exact positions, momenta and cell, the
  generator's ``bit_generator.state`` (JSON) and the byte sizes of the three files above.

The three text files are appended and flushed frame by frame; a run killed mid-frame leaves at
most a partial last frame, which :func:`load_state` cuts off (back to the sizes in the state) before
the run goes on, so a resumed run continues exactly from the last complete frame.
At the end: ``summary.json`` (:class:`MDSummary`) and ``energy.png``.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from ..errors import DataError
from ..files import atomic_write_bytes
from .md import MDRun

TRAJECTORY_FILE = "trajectory.extxyz"
LOG_FILE = "md.log"
UNCERTAIN_FILE = "uncertain.extxyz"
STATE_FILE = "md_state.npz"
SUMMARY_FILE = "summary.json"
PLOT_FILE = "energy.png"
EXPLODED_FILE = "exploded.extxyz"  # the structure where a run blew up
APPENDED = (TRAJECTORY_FILE, LOG_FILE, UNCERTAIN_FILE)
LOG_COLUMNS = ("step", "time_ps", "Epot_eV", "Ekin_eV", "Etot_eV", "T_K", "P_GPa", "max_sigma_eVA", "out_of_domain")


def pressure(atoms) -> float:
    """GPa, with the kinetic part; nan where the calculator gives no stress."""
    try:
        stress = atoms.get_stress(include_ideal_gas=True)
    except PropertyNotImplementedError:
        return float("nan")
    return float(-np.mean(stress[:3]) / units.GPa)


def frame(atoms, step: int, timestep: float, labels: bool = True):
    """A copy of ``atoms`` for writing: with the calculator's results (``labels``), or the structure only."""
    out = atoms.copy()
    out.info.update(step=int(step), time=float(step * timestep))
    results = atoms.calc.results if atoms.calc is not None else {}
    for key in ("forces_sigma", "out_of_domain"):
        if key in results:
            out.arrays[key] = np.asarray(results[key])
    if labels:
        kept = {k: results[k] for k in ("energy", "forces", "stress") if k in results}
        out.calc = SinglePointCalculator(out, **kept)
    return out


def extxyz_bytes(atoms) -> bytes:
    buffer = io.StringIO()
    write(buffer, atoms, format="extxyz")
    return buffer.getvalue().encode()


class Recorder:
    """The MD observer that writes the files above; ``flagged(atoms)`` says whether a frame is uncertain."""

    def __init__(self, directory, rng, timestep: float, max_forces_sigma: float | None = None, progress=None,
                 start_step: int = 0):
        self.directory, self.rng, self.timestep = Path(directory), rng, float(timestep)
        self.max_forces_sigma, self.progress, self._seen = max_forces_sigma, progress, int(start_step)
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / LOG_FILE
        if not log.exists() or log.stat().st_size == 0:
            self._append(LOG_FILE, ("# " + " ".join(LOG_COLUMNS) + "\n").encode())

    def _append(self, name: str, data: bytes) -> None:
        with open(self.directory / name, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    def append_uncertain(self, atoms, step: int) -> None:
        self._append(UNCERTAIN_FILE, extxyz_bytes(frame(atoms, step, self.timestep, labels=False)))

    def flagged(self, atoms) -> tuple[float, bool]:
        """(largest force sigma or nan, whether the frame is uncertain)."""
        results = atoms.calc.results
        sigma = float(np.max(results["forces_sigma"], initial=0.0)) if "forces_sigma" in results else float("nan")
        out = bool(np.any(results.get("out_of_domain", False)))
        if self.max_forces_sigma is not None and sigma > self.max_forces_sigma:
            out = True
        return sigma, out

    def __call__(self, step: int, atoms) -> None:
        p = pressure(atoms)
        sigma, out = self.flagged(atoms)
        epot, ekin = atoms.get_potential_energy(), atoms.get_kinetic_energy()
        self._append(TRAJECTORY_FILE, extxyz_bytes(frame(atoms, step, self.timestep)))
        row = (step, step * self.timestep / 1000.0, epot, ekin, epot + ekin, atoms.get_temperature(), p, sigma, int(out))
        self._append(LOG_FILE, (f"{row[0]:d} {row[1]:.6f} " + " ".join(f"{v:.10g}" for v in row[2:8])
                                + f" {row[8]:d}\n").encode())
        if out:
            self.append_uncertain(atoms, step)
        save_state(self.directory, step, atoms, self.rng)
        if self.progress is not None:
            self.progress.update(step - self._seen)
            self._seen = step


def save_state(directory, step: int, atoms, rng) -> None:
    directory = Path(directory)
    sizes = [(directory / name).stat().st_size if (directory / name).exists() else 0 for name in APPENDED]
    buffer = io.BytesIO()
    np.savez(buffer, step=step, positions=atoms.positions, momenta=atoms.get_momenta(), cell=atoms.cell.array,
             pbc=atoms.pbc, numbers=atoms.numbers, sizes=np.array(sizes, dtype=np.int64),
             rng=json.dumps(rng.bit_generator.state))
    atomic_write_bytes(directory / STATE_FILE, buffer.getvalue())


@dataclass
class MDState:
    step: int
    positions: np.ndarray
    momenta: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    numbers: np.ndarray
    rng_state: dict

    def generator(self) -> np.random.Generator:
        """A generator in the saved state (of the saved kind)."""
        kind = getattr(np.random, self.rng_state["bit_generator"])
        rng = np.random.Generator(kind())
        rng.bit_generator.state = self.rng_state
        return rng

    def apply(self, atoms) -> None:
        """Put the saved positions, momenta and cell on ``atoms`` (the same atoms, checked)."""
        if len(atoms) != len(self.numbers) or not np.array_equal(atoms.numbers, self.numbers):
            raise DataError(f"the saved run has {len(self.numbers)} atoms of {sorted(set(self.numbers.tolist()))}, "
                            f"the configured structure {len(atoms)} of {sorted(set(atoms.numbers.tolist()))}")
        atoms.set_cell(self.cell, scale_atoms=False)
        atoms.pbc = self.pbc
        atoms.positions = self.positions
        atoms.set_momenta(self.momenta, apply_constraint=False)


def load_state(directory) -> MDState | None:
    """The last complete frame's state (None when there is none); the appended files are cut back to it."""
    directory = Path(directory)
    path = directory / STATE_FILE
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            state = MDState(int(data["step"]), data["positions"], data["momenta"], data["cell"], data["pbc"],
                            data["numbers"], json.loads(str(data["rng"])))
            sizes = data["sizes"].tolist()
    except Exception as err:  # a state file from elsewhere, or damaged
        raise DataError(f"{path}: not a readable MD state ({err})") from None
    for name, size in zip(APPENDED, sizes):
        file = directory / name
        if file.exists() and file.stat().st_size > size:
            os.truncate(file, size)
    return state


@dataclass
class MDSummary:
    """How a run ended and what it did (the whole run, over resumes)."""

    status: str  # completed | exploded | out_of_domain
    reason: str  # why it stopped, naming the step ("" when completed)
    ensemble: str
    n_atoms: int
    steps: int  # the last step reached
    timestep: float  # fs
    time_ps: float
    energy_drift: float | None  # meV/atom/ps, NVE only
    energy_fluctuation: float | None  # meV/atom about the linear trend, NVE only
    mean_temperature: float | None  # K; None when nothing was recorded
    mean_pressure: float | None  # GPa; None without a stress
    out_of_domain_steps: int  # recorded steps with a flagged atom
    max_forces_sigma: float | None  # eV/Å over the run; None without uncertainties

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def read_log(directory) -> np.ndarray:
    """md.log as an array (rows, len(LOG_COLUMNS))."""
    lines = [line for line in (Path(directory) / LOG_FILE).read_text().splitlines() if not line.startswith("#")]
    if not lines:
        return np.zeros((0, len(LOG_COLUMNS)))
    return np.loadtxt(lines, ndmin=2).reshape(-1, len(LOG_COLUMNS))


def run_from_log(directory, ensemble: str, n_atoms: int, timestep: float, status: str, step: int,
                 reason: str) -> MDRun:
    """The whole run's records (over resumes) as an :class:`MDRun`."""
    log = read_log(directory)
    sigma, flags = log[:, 7], log[:, 8].astype(bool)
    has_sigma = bool(np.isfinite(sigma).any())
    return MDRun(ensemble, n_atoms, timestep, log[:, 0].astype(int), log[:, 1], log[:, 2], log[:, 4], log[:, 5],
                 sigma if has_sigma else np.array([]), flags, status, step, reason)


def _number(value: float | None) -> float | None:
    """None for what could not be computed (JSON has no NaN)."""
    return None if value is None or not np.isfinite(value) else float(value)


def summarize(run: MDRun, directory) -> MDSummary:
    log = read_log(directory)
    nve = run.ensemble == "nve"
    p = log[:, 6]
    return MDSummary(run.status, run.reason, run.ensemble, run.n_atoms, run.step, run.timestep,
                     run.step * run.timestep / 1000.0, _number(run.drift) if nve else None,
                     _number(run.fluctuation) if nve else None,
                     _number(np.mean(run.temperature)) if len(run.temperature) else None,
                     _number(np.nanmean(p)) if np.isfinite(p).any() else None, int(np.count_nonzero(log[:, 8])),
                     _number(np.max(run.max_forces_sigma)) if len(run.max_forces_sigma) else None)


__all__ = ["LOG_COLUMNS", "LOG_FILE", "MDState", "MDSummary", "Recorder", "STATE_FILE", "SUMMARY_FILE",
           "TRAJECTORY_FILE", "UNCERTAIN_FILE", "extxyz_bytes", "frame", "load_state", "pressure", "read_log",
           "run_from_log", "save_state", "summarize"]

"""Path-integral MD through i-PI: :func:`run_pimd` writes i-PI's input from a
:class:`~ridgeline.integrations.ipi.config.PIMDConfig`, starts the i-PI server as a child process,
serves its force requests in this process with any ASE calculator (:func:`client.run_client`),
reads i-PI's properties back and writes the results; :func:`beads_convergence` repeats a run over
bead counts.

In ``output_dir``: ``input.xml``, ``init.extxyz``, ``config.yaml``, i-PI's ``ipi.log``,
``ipi.properties`` (and ``ipi.isotope``, ``RESTART``), then ``summary.json`` (:class:`PIMDResult`),
``pimd.png``, with ``trajectory_stride`` the centroids in ``centroid.extxyz`` and, with a calculator
that gives uncertainties, ``uncertainty.json``. Whatever happens, the server is stopped and its socket file removed before
:func:`run_pimd` returns or raises.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from ...errors import ConfigError
from ...files import atomic_write_bytes
from ...names import RUN_CONFIG_FILE
from .inputs import (ISOTOPE_FILE, PROPERTIES_FILE, RESTART_FILE, TRAJECTORY_FILE, isotope_selection, mass_ratios,
                     selection_column, socket_address, write_inputs)
from .client import IPIError, run_client, socket_path
from .config import check_config
from .estimators import Estimate, IsotopeResult, drift, estimate, isotope_free_energy, read_properties
from .server import LOG_FILE, IPIServer

SUMMARY_FILE, PLOT_FILE, UNCERTAINTY_FILE, CENTROID_FILE = "summary.json", "pimd.png", "uncertainty.json", "centroid.extxyz"
CONVERGENCE_FILE, CONVERGENCE_PLOT = "convergence.json", "convergence.png"
SHUTDOWN_S = 120.0  # seconds i-PI may take to write its files and exit after the last step
_OWN_FILES = (PROPERTIES_FILE, ISOTOPE_FILE, TRAJECTORY_FILE, RESTART_FILE, LOG_FILE,
              UNCERTAINTY_FILE, PLOT_FILE, CENTROID_FILE)


@dataclass
class PIMDResult:
    output_dir: str
    nbeads: int
    temperature: float  # K
    timestep: float  # fs
    steps: int
    n_atoms: int
    elements: dict  # element -> number of atoms
    equilibration: int  # steps left out of the averages
    # every column of the properties file after the equilibration: totals over the atoms (eV; the
    # temperature in K); kinetic_cv(X) is element X's
    estimates: dict
    conserved_drift: float  # meV/atom/ps, slope of i-PI's conserved quantity after the equilibration
    wall_s: float  # the whole run, i-PI's start included
    seconds_per_step: float  # the client's session divided by the steps
    calls: int  # force calls the client answered
    client: str  # how the client's session ended
    uncertainty: dict | None  # UncertaintyRecord.summary() where the calculator gave uncertainties
    isotope: IsotopeResult | None
    series: dict = field(default_factory=dict, repr=False)  # the properties file's columns, whole run

    def per_atom(self, name: str = "kinetic_cv", element: str | None = None) -> Estimate:
        """A column's estimate per atom (of ``element``: its ``name(element)`` column)."""
        key = name if element is None else f"{name}({element})"
        if key not in self.estimates:
            raise ConfigError(f"no property {key!r} in this run (it has {', '.join(self.estimates)})")
        return self.estimates[key].scaled(1.0 / (self.n_atoms if element is None else self.elements[element]))

    def to_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "series"}
        data["kinetic_energy_per_atom"] = self.per_atom().to_dict()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def run_pimd(config, calculator=None, atoms=None) -> PIMDResult:
    """Run ``config`` through i-PI (module docstring). ``calculator`` and ``atoms`` (optional)
    stand in for the config's model and structure."""
    from ...simulate.md_config import build_calculator, build_structure

    check_config(config)
    out = Path(config.output_dir)
    if (out / SUMMARY_FILE).exists():
        raise ConfigError(f"{out} holds a finished run ({SUMMARY_FILE}): choose another output_dir")
    out.mkdir(parents=True, exist_ok=True)
    for name in _OWN_FILES:
        (out / name).unlink(missing_ok=True)
    atoms = build_structure(config.md_config()) if atoms is None else atoms
    if calculator is None:
        calculator, _ = build_calculator(config.md_config(), atoms)
    address = socket_address(config)
    if config.socket == "unix" and Path(socket_path(address)).exists():
        raise ConfigError(f"config key 'address': {socket_path(address)} exists (another i-PI run, or one that was "
                          "killed): choose another address, or remove the file if no run uses it")
    if config.socket == "inet":
        check_port_free(address, config.port)
    write_inputs(config, atoms, out, address)
    atomic_write_bytes(out / RUN_CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False).encode())

    start = time.monotonic()
    server = IPIServer(out)
    try:
        session = run_client(atoms, calculator, address, mode=config.socket, port=config.port,
                             connect_timeout=config.connect_timeout, uncertainty=config.uncertainty,
                             uncertainty_file=out / UNCERTAINTY_FILE, alive=server.dead)
        status = server.wait(SHUTDOWN_S)
    finally:
        server.stop()
        if config.socket == "unix":
            Path(socket_path(address)).unlink(missing_ok=True)
    if status != 0:
        raise IPIError(f"i-PI failed (exit status {status}): {server.log_tail()}")
    result = read_result(config, atoms, session, time.monotonic() - start)
    if config.trajectory_stride:
        centroid_trajectory(out, atoms.pbc)
    atomic_write_bytes(out / SUMMARY_FILE, (result.to_json() + "\n").encode())
    from .plots import plot_run

    plot_run(result, out / PLOT_FILE)
    return result


def check_port_free(host: str, port: int) -> None:
    """A port another program listens on would take the client's connection in i-PI's place."""
    import socket

    probe = socket.socket(socket.AF_INET)
    try:
        probe.bind((host, port))
    except OSError as err:
        raise ConfigError(f"config key 'port': {host}:{port} is not free ({err.strerror}): choose another port") from None
    finally:
        probe.close()


def read_result(config, atoms, session, wall_s: float) -> PIMDResult:
    """The run's :class:`PIMDResult` from i-PI's files in ``config.output_dir``."""
    out = Path(config.output_dir)
    series = read_properties(out / PROPERTIES_FILE)
    steps = series["step"]
    if len(steps) == 0 or steps[-1] < config.steps - config.steps % config.stride:  # i-PI writes steps k * stride
        last = int(steps[-1]) if len(steps) else -1
        raise IPIError(f"i-PI stopped at step {last} of {config.steps} (its log: {out / LOG_FILE})")
    equilibration = config.equilibration_steps()
    kept = steps >= equilibration
    estimates = {name: estimate(values[kept]) for name, values in series.items()
                 if values.ndim == 1 and name not in ("step", "time")}
    n_atoms = len(atoms)
    conserved = 1000.0 * drift(series["time"][kept], series["conserved"][kept]) / n_atoms
    isotope = read_isotope(config, atoms, series, equilibration) if config.isotope is not None else None
    return PIMDResult(str(out), config.nbeads, config.temperature, config.timestep, config.steps, n_atoms,
                      dict(Counter(atoms.get_chemical_symbols())), equilibration, estimates, conserved, wall_s,
                      session.wall_s / config.steps, session.calls, session.reason,
                      session.uncertainty.summary() if session.uncertainty is not None else None, isotope, series)


def centroid_trajectory(out: Path, pbc) -> None:
    """i-PI's centroid frames (its extxyz keeps them in an ``x_centroid`` array beside zero
    positions, periodic whatever the structure) as ``centroid.extxyz`` with the centroids as
    positions, in Å, in i-PI's frame, with the structure's ``pbc``."""
    import io

    from ase.io import read, write

    frames = read(out / TRAJECTORY_FILE, ":", format="extxyz")
    for frame in frames:
        frame.positions = frame.arrays.pop("x_centroid")
        frame.info.pop("ipi_comment", None)
        frame.pbc = pbc
    text = io.StringIO()
    write(text, frames, format="extxyz")
    atomic_write_bytes(out / CENTROID_FILE, text.getvalue().encode())
    (out / TRAJECTORY_FILE).unlink()


def read_isotope(config, atoms, series: dict, equilibration: int) -> IsotopeResult:
    """The isotope substitution's free energy from ``ipi.isotope`` and the selection's kinetic
    energy in the properties at the same steps."""
    terms = read_properties(Path(config.output_dir) / ISOTOPE_FILE)
    steps = terms["step"]
    keep = steps >= equilibration
    row = {int(s): k for k, s in enumerate(series["step"])}
    missing = [int(s) for s in steps[keep] if int(s) not in row]
    if missing:
        raise IPIError(f"{PROPERTIES_FILE} has no row for isotope step(s) {missing[:3]}")
    label, count, mass = isotope_selection(config, atoms)
    own = series[selection_column(config, atoms)][[row[int(s)] for s in steps[keep]]] / count
    estimator_terms = [values[keep] for name, values in terms.items() if name.startswith("isotope_")]
    return isotope_free_energy(own, estimator_terms, mass_ratios(config, atoms), label, mass,
                               config.isotope.mass, config.temperature, config.isotope.estimator)


@dataclass
class BeadsConvergence:
    nbeads: list
    kinetic_energy: list  # eV per atom (centroid virial) at each bead count
    kinetic_energy_error: list
    potential_energy: list  # eV per atom
    potential_energy_error: list
    seconds_per_step: list
    reference: float | None  # eV per atom, e.g. an exact value drawn on the plot
    reference_label: str = "reference"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def beads_convergence(config, beads=(1, 2, 4, 8, 16, 32), calculator=None, atoms=None,
                      reference: float | None = None, reference_label: str = "reference") -> BeadsConvergence:
    """``config`` run once per bead count (``output_dir/beads_<P>``); the kinetic and potential
    energy per atom against P in ``convergence.json`` and ``convergence.png`` in ``output_dir``."""
    from .plots import plot_convergence

    out = Path(config.output_dir)
    runs = [run_pimd(replace(config, nbeads=int(p), output_dir=str(out / f"beads_{int(p)}")), calculator, atoms)
            for p in beads]
    kinetic = [r.per_atom("kinetic_cv") for r in runs]
    potential = [r.per_atom("potential") for r in runs]
    result = BeadsConvergence([int(p) for p in beads], [k.mean for k in kinetic], [k.error for k in kinetic],
                              [v.mean for v in potential], [v.error for v in potential],
                              [r.seconds_per_step for r in runs], reference, reference_label)
    atomic_write_bytes(out / CONVERGENCE_FILE, (result.to_json() + "\n").encode())
    plot_convergence(result, out / CONVERGENCE_PLOT, config.temperature)
    return result


__all__ = ["BeadsConvergence", "CENTROID_FILE", "CONVERGENCE_FILE", "CONVERGENCE_PLOT", "PIMDResult", "PLOT_FILE", "SUMMARY_FILE",
           "UNCERTAINTY_FILE", "beads_convergence", "centroid_trajectory", "read_result", "run_pimd"]

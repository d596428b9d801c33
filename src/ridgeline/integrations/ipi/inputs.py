"""i-PI's input from a :class:`~ridgeline.integrations.ipi.config.PIMDConfig`: ``input.xml`` and the
start structure ``init.extxyz`` (read by i-PI through ASE, in Å, with the cell and any custom
masses).

The XML holds one socket force field (``ffsocket``, UNIX or INET), one system of ``nbeads``
replicas started from the structure with thermal momenta, NVT dynamics with the config's thermostat
(PILE-L/G, Langevin or SVR; units named in the XML: femtosecond, kelvin), and two outputs: the
properties every ``stride`` steps (energies in eV, time in ps) and, with an isotope, the
scaled-mass estimators every ``isotope.stride`` steps (i-PI writes those in atomic units only).
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from ...errors import ConfigError
from ...files import atomic_write_bytes

INPUT_FILE, INIT_FILE = "input.xml", "init.extxyz"
PREFIX = "ipi"  # i-PI names its outputs <prefix>.<filename>
PROPERTIES_FILE, ISOTOPE_FILE, TRAJECTORY_FILE = f"{PREFIX}.properties", f"{PREFIX}.isotope", f"{PREFIX}.centroid.extxyz"
RESTART_FILE = "RESTART"
FORCEFIELD = "ridgeline"
MOLECULE_VACUUM = 10.0  # Å of box around a molecule: i-PI needs a cell; the calculator ignores it
# the properties file's columns (the ``{unit}`` makes i-PI convert): the centroid-virial and the
# primitive (thermodynamic) quantum kinetic energy estimators, the classical kinetic energy of the
# ring polymer's beads, the bead-averaged potential, the conserved quantity (thermostat included)
PROPERTIES = ("step", "time{picosecond}", "conserved{electronvolt}", "temperature{kelvin}", "kinetic_md{electronvolt}",
              "potential{electronvolt}", "kinetic_cv{electronvolt}", "kinetic_td{electronvolt}")


def socket_address(config) -> str:
    """The socket's address: the config's, else a name unique to this process and run (UNIX), or
    ``localhost`` (INET)."""
    if config.address is not None:
        return config.address
    return f"ridgeline-{os.getpid()}-{secrets.token_hex(4)}" if config.socket == "unix" else "localhost"


def start_structure(config, atoms):
    """The structure i-PI starts from: a copy with the config's masses, a molecule in a box."""
    atoms = atoms.copy()
    atoms.calc = None
    unknown = sorted(set(config.masses) - set(atoms.get_chemical_symbols()))
    if unknown:
        raise ConfigError(f"config key 'masses': element(s) {', '.join(unknown)} not in the structure "
                          f"({', '.join(sorted(set(atoms.get_chemical_symbols())))})")
    if config.masses:
        masses = atoms.get_masses()
        for element, mass in config.masses.items():
            masses[np.array(atoms.get_chemical_symbols()) == element] = float(mass)
        atoms.set_masses(masses)
    if not atoms.pbc.any() and atoms.cell.volume < 1e-6:
        atoms.center(vacuum=MOLECULE_VACUUM)
    return atoms


def isotope_selection(config, atoms) -> tuple[str, int, float]:
    """(i-PI's atom argument, how many atoms it selects, their mass in amu) of ``config.isotope``."""
    atom = str(config.isotope.atom)
    structure = start_structure(config, atoms)
    symbols = structure.get_chemical_symbols()
    if atom.isdigit():
        index = int(atom)
        if index >= len(structure):
            raise ConfigError(f"config key 'isotope.atom': index {index}, the structure has {len(structure)} atoms")
        return atom, 1, float(structure.get_masses()[index])
    if atom not in symbols:
        raise ConfigError(f"config key 'isotope.atom': {atom!r} is neither an atom index nor an element of the structure "
                          f"({', '.join(sorted(set(symbols)))})")
    return atom, symbols.count(atom), float(structure.get_masses()[symbols.index(atom)])


def mass_ratios(config, atoms) -> np.ndarray:
    """The isotope integral's nodes: mass ratios alpha = m'/m on a geometric grid from 1 to the
    substituting isotope's (geometric: the kinetic energy varies about as alpha^-1/2)."""
    _, _, mass = isotope_selection(config, atoms)
    return np.geomspace(1.0, config.isotope.mass / mass, config.isotope.points)


def selection_column(config, atoms) -> str:
    """The properties column of the centroid-virial kinetic energy of the isotope's selection."""
    return f"kinetic_cv({isotope_selection(config, atoms)[0]})"


def property_list(config, atoms) -> list[str]:
    """The properties file's columns: :data:`PROPERTIES`, then the kinetic energy of each element
    (and of the isotope's atom when it is an index)."""
    names = list(PROPERTIES)
    names += [f"kinetic_cv{{electronvolt}}({element})" for element in sorted(set(atoms.get_chemical_symbols()))]
    if config.isotope is not None and str(config.isotope.atom).isdigit():
        names.append(f"kinetic_cv{{electronvolt}}({isotope_selection(config, atoms)[0]})")
    return names


def isotope_list(config, atoms) -> list[str]:
    """The isotope file's columns: the step, then i-PI's seven numbers per mass ratio above 1 (the
    ratio 1 is the run's own kinetic energy, in the properties file)."""
    label = isotope_selection(config, atoms)[0]
    return ["step", *[f"isotope_{config.isotope.estimator}({alpha:.10g};{label})" for alpha in mass_ratios(config, atoms)[1:]]]


def _element(parent, tag: str, text=None, **attributes) -> ET.Element:
    node = ET.SubElement(parent, tag, {k: str(v) for k, v in attributes.items()})
    if text is not None:
        node.text = f" {text} "
    return node


def input_xml(config, atoms, address: str) -> str:
    """i-PI's ``input.xml`` for ``config`` started from ``atoms`` (module docstring)."""
    simulation = ET.Element("simulation", {"verbosity": "low", "safe_stride": str(max(config.steps, 1))})
    output = _element(simulation, "output", prefix=PREFIX)
    _element(output, "properties", f"[ {', '.join(property_list(config, atoms))} ]", stride=config.stride,
             filename=PROPERTIES_FILE.split(".", 1)[1], flush=1)
    if config.isotope is not None:
        _element(output, "properties", f"[ {', '.join(isotope_list(config, atoms))} ]", stride=config.isotope.stride,
                 filename=ISOTOPE_FILE.split(".", 1)[1], flush=1)
    if config.trajectory_stride:
        _element(output, "trajectory", "x_centroid", stride=config.trajectory_stride, format="ase",
                 filename=TRAJECTORY_FILE.split(".")[1])
    _element(simulation, "total_steps", config.steps)
    _element(_element(simulation, "prng"), "seed", config.seed)
    socket = _element(simulation, "ffsocket", name=FORCEFIELD, mode=config.socket, pbc="false")
    _element(socket, "address", address)
    _element(socket, "latency", f"{config.latency:g}")
    if config.socket == "inet":
        _element(socket, "port", config.port)
    system = _element(simulation, "system")
    initialize = _element(system, "initialize", nbeads=config.nbeads)
    _element(initialize, "file", INIT_FILE, mode="ase")
    _element(initialize, "velocities", config.temperature, mode="thermal", units="kelvin")
    _element(_element(system, "forces"), "force", forcefield=FORCEFIELD)
    motion = _element(system, "motion", mode="dynamics")
    _element(motion, "fixcom", str(config.fixcom))
    dynamics = _element(motion, "dynamics", mode="nvt")
    _element(dynamics, "timestep", config.timestep, units="femtosecond")
    thermostat = _element(dynamics, "thermostat", mode=config.thermostat)
    _element(thermostat, "tau", config.tau, units="femtosecond")
    if config.thermostat.startswith("pile"):
        _element(thermostat, "pile_lambda", config.pile_lambda)
    _element(_element(system, "ensemble"), "temperature", config.temperature, units="kelvin")
    ET.indent(simulation)
    return ET.tostring(simulation, encoding="unicode") + "\n"


def write_inputs(config, atoms, folder, address: str) -> Path:
    """``init.extxyz`` and ``input.xml`` in ``folder`` (each written whole); the input's path."""
    from ase.io import write

    folder = Path(folder)
    structure = start_structure(config, atoms)
    if config.isotope is not None:
        isotope_selection(config, atoms)
    text = io.StringIO()
    write(text, structure, format="extxyz")
    atomic_write_bytes(folder / INIT_FILE, text.getvalue().encode())
    atomic_write_bytes(folder / INPUT_FILE, input_xml(config, atoms, address).encode())
    return folder / INPUT_FILE


__all__ = ["FORCEFIELD", "INIT_FILE", "INPUT_FILE", "ISOTOPE_FILE", "PROPERTIES", "PROPERTIES_FILE", "RESTART_FILE",
           "TRAJECTORY_FILE", "input_xml", "isotope_list", "isotope_selection", "mass_ratios", "property_list",
           "selection_column", "socket_address", "start_structure", "write_inputs"]

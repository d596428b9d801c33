"""A small, real reference dataset made on the fly with ASE's EMT calculator (no download):
Langevin MD snapshots of bulk fcc metal at several temperatures, strained cells and a vacancy."""

from __future__ import annotations

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

from ..errors import RidgelineError
from ..names import CONFIG_TYPE_KEY, ENERGY_KEY, FORCES_KEY, STRESS_KEY
from ..simulate.md import MD

# Langevin friction 0.02 in ASE's inverse time unit, given in 1/fs; the driver's division by fs
# gives back exactly 0.02 in floating point, so the dataset does not depend on the unit round trip
FRICTION = 0.02 * units.fs


def _label(atoms, config_type: str):
    """A copy of ``atoms`` holding EMT's labels under the label keys (nothing left on a calculator)."""
    calc = EMT()
    atoms = atoms.copy()
    atoms.calc = calc
    energy, forces, stress = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    atoms.calc = None
    atoms.info.update({ENERGY_KEY: energy, STRESS_KEY: stress, CONFIG_TYPE_KEY: config_type})
    atoms.arrays[FORCES_KEY] = forces
    return atoms


def _md_snapshots(atoms, temperature: float, n: int, interval: int, rng) -> list:
    md = MD(atoms, EMT(), "langevin", timestep=2.0, temperature=temperature, seed=rng, interval=interval,
            friction=FRICTION)
    md.run(50)  # equilibrate
    frames = []
    for _ in range(n):
        if md.run(interval).stopped:
            raise RidgelineError(f"EMT MD at {temperature:g} K stopped at {md.reason}")
        frames.append(_label(md.atoms, f"md_{int(temperature)}K"))
    return frames


def emt_dataset(element: str = "Cu", n_md: int = 40, seed: int = 0) -> list:
    """Labelled frames: MD at 300/800/1400 K, randomly strained cells, and a vacancy in MD."""
    rng = np.random.default_rng(seed)
    cell = bulk(element, "fcc", cubic=True).repeat((2, 2, 2))  # 32 atoms
    frames = []
    for temperature in (300.0, 800.0, 1400.0):
        frames += _md_snapshots(cell, temperature, n_md, 10, rng)
    for _ in range(n_md // 2):
        strained = cell.copy()
        strain = rng.uniform(-0.04, 0.04, (3, 3))
        strained.set_cell(strained.cell.array @ (np.eye(3) + 0.5 * (strain + strain.T)), scale_atoms=True)
        strained.rattle(0.05, seed=int(rng.integers(1 << 31)))
        frames.append(_label(strained, "strained"))
    vacancy = cell.copy()
    del vacancy[0]
    frames += [_label(a, "vacancy") for a in _md_snapshots(vacancy, 600.0, n_md // 2, 10, rng)]
    return frames

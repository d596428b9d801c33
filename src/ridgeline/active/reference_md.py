"""Independent reference frames: Langevin MD driven by the oracle itself (every step is an oracle
call), sampled every ``interval`` steps after equilibration. Validation and test sets of the
active-learning loop come from here, never from the model's own exploration."""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from ..data.frame import Frame
from ..errors import RidgelineError
from ..simulate.md import MD


def oracle_md(starts, oracle, n_frames: int, temperature: float = 300.0, interval: int = 20, equilibration: int = 200,
              timestep: float = 0.5, friction: float = 0.01, seed: int = 0, progress: bool = False,
              config_type: str = "oracle_md") -> list[Frame]:
    """``n_frames`` labelled frames from oracle-driven MD, shared out over the start structures
    (``timestep`` fs, ``friction`` 1/fs, ``temperature`` K). One generator seeded with ``seed``
    draws every start's velocities and thermostat noise in turn. A trajectory that blows up (the
    driver's explosion check) is an error: its frames would not be reference data."""
    rng = np.random.default_rng(seed)
    calc = oracle.calculator()
    per_start = [n_frames // len(starts) + (k < n_frames % len(starts)) for k in range(len(starts))]
    frames = []
    bar = tqdm(total=n_frames, desc=f"{oracle.name} MD ({temperature:.0f} K)", unit="frame", disable=not progress, dynamic_ncols=True)
    for k, (start, n) in enumerate(zip(starts, per_start)):
        if n == 0:
            continue
        try:
            md = MD(start, calc, "langevin", timestep=timestep, temperature=temperature, seed=rng, interval=interval,
                    friction=friction)
            md.run(equilibration)
            for _ in range(n):
                if md.run(interval).stopped:
                    break
                atoms = md.atoms
                energy, forces = atoms.get_potential_energy(), atoms.get_forces()
                stress = atoms.get_stress() if atoms.pbc.all() else None
                frames.append(Frame.from_atoms(atoms, energy, forces, stress, config_type=config_type,
                                               source=f"{oracle.name} MD at {temperature:.0f} K"))
                bar.update(1)
        except Exception as err:  # the reference code's own failure, with where it happened
            raise RidgelineError(f"{oracle.name} MD for reference frames failed after {len(frames)} frames: "
                                 f"{type(err).__name__}: {err}") from err
        if md.status != "completed":
            raise RidgelineError(f"{oracle.name} MD for reference frames from start structure {k} stopped "
                                 f"({md.status}) at {md.reason}")
    bar.close()
    return frames

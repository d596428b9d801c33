"""Trajectories as arrays: frames from a file or a list of ``ase.Atoms``, checked to be one system.

Every analysis takes what :func:`load_frames` gives: any MD (ridgeline's, or a reference code's
read by ASE) as a list of ``ase.Atoms`` with the same atoms in the same order in every frame.
Velocities are taken from ASE's momenta and given in Å/fs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase import Atoms, units

from ..errors import DataError


def load_frames(source, name: str | None = None) -> list[Atoms]:
    """Frames of ``source`` (a path ASE reads: extxyz, ``.traj``, ...; or a sequence of ``ase.Atoms``),
    checked by :func:`check_frames`. ``name`` names the source in error messages."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or str(path)
        if not path.is_file():
            raise DataError(f"{name}: no such trajectory file")
        from ase.io import read

        try:
            frames = read(path, index=":")
        except Exception as err:  # ASE raises many kinds for an unreadable file
            raise DataError(f"{name}: cannot read as a trajectory ({type(err).__name__}: {err})") from None
        if isinstance(frames, Atoms):
            frames = [frames]
    else:
        frames = list(source)
        name = name or "trajectory"
    check_frames(frames, name)
    return frames


def check_frames(frames, name: str = "trajectory") -> None:
    """DataError unless ``frames`` is a non-empty list of ``ase.Atoms`` with the same atoms throughout."""
    if len(frames) == 0:
        raise DataError(f"{name}: no frames")
    first = frames[0]
    for index, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            raise DataError(f"{name}: frame {index} is a {type(atoms).__name__}, not ase.Atoms")
        if len(atoms) != len(first):
            raise DataError(f"{name}: frame {index} has {len(atoms)} atoms, frame 0 has {len(first)}")
        if not np.array_equal(atoms.numbers, first.numbers):
            raise DataError(f"{name}: frame {index} has other elements (or another atom order) than frame 0")


def positions(frames) -> np.ndarray:
    """(T, N, 3) Å, as stored (possibly wrapped into the cell)."""
    return np.stack([atoms.positions for atoms in frames])


def cells(frames) -> np.ndarray:
    """(T, 3, 3) Å."""
    return np.stack([np.asarray(atoms.cell) for atoms in frames])


def velocities(frames, name: str = "trajectory") -> np.ndarray:
    """(T, N, 3) Å/fs from the frames' momenta; DataError naming the first frame without them."""
    for index, atoms in enumerate(frames):
        if not atoms.has("momenta"):
            raise DataError(f"{name}: frame {index} has no velocities (momenta); write the trajectory with them")
    return np.stack([atoms.get_velocities() for atoms in frames]) * units.fs


def element_indices(frames) -> dict[str, np.ndarray]:
    """Element symbol -> indices of its atoms, elements in order of atomic number."""
    numbers = frames[0].numbers
    symbols = frames[0].get_chemical_symbols()
    return {symbols[np.flatnonzero(numbers == z)[0]]: np.flatnonzero(numbers == z) for z in np.unique(numbers)}

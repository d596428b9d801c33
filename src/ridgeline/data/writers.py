"""Writing frames back to extxyz, atomically, with the labels under the key map's names (what
``read_frames`` reads back)."""

from __future__ import annotations

import io

from ..files import atomic_write_bytes
from .frame import matrix_to_voigt
from .readers import KeyMap


def frames_to_atoms(frames, key_map: KeyMap | None = None) -> list:
    """``ase.Atoms`` copies holding each frame's labels in ``info``/``arrays`` (no calculator)."""
    km = key_map or KeyMap()
    out = []
    for f in frames:
        atoms = f.to_atoms()
        if f.energy is not None:
            atoms.info[km.energy] = float(f.energy)
        if f.forces is not None:
            atoms.arrays[km.forces] = f.forces.copy()
        if f.stress is not None:
            atoms.info[km.stress] = matrix_to_voigt(f.stress)
        atoms.info[km.config_type] = f.config_type
        out.append(atoms)
    return out


def write_frames(path, frames, key_map: KeyMap | None = None) -> None:
    """Frames (or ``ase.Atoms``) to one extxyz file, written atomically."""
    from ase.io import write

    frames = list(frames)
    atoms = frames if all(hasattr(f, "get_positions") for f in frames) else frames_to_atoms(frames, key_map)
    buffer = io.StringIO()
    write(buffer, atoms, format="extxyz")
    atomic_write_bytes(path, buffer.getvalue().encode())

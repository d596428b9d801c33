"""A validated reference structure: the unit every reader produces and every batch is built from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Frame:
    """One structure with its (optional) reference labels, in ASE units.

    A label the source does not have is ``None``; it is never zero-filled, so that losses and
    metrics can mask it.
    """

    numbers: np.ndarray  # (N,) int64
    positions: np.ndarray  # (N, 3) float64, Å
    cell: np.ndarray  # (3, 3) float64, Å, rows are lattice vectors
    pbc: np.ndarray  # (3,) bool
    energy: float | None = None  # eV
    forces: np.ndarray | None = None  # (N, 3) eV/Å
    stress: np.ndarray | None = None  # (3, 3) eV/Å^3, ASE sign
    config_type: str = "Default"
    source: str = ""  # "file:frame" for messages
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.numbers)

    @classmethod
    def from_atoms(cls, atoms, energy=None, forces=None, stress=None, config_type="Default", source=""):
        """Build a frame from an ``ase.Atoms`` and labels given explicitly (ASE's own calculator is ignored)."""
        return cls(
            # copies: a frame taken from a running simulation must not follow the atoms it came from
            numbers=np.array(atoms.numbers, dtype=np.int64),
            positions=np.array(atoms.positions, dtype=np.float64),
            cell=np.array(atoms.cell.array, dtype=np.float64),
            pbc=np.array(atoms.pbc, dtype=bool),
            energy=None if energy is None else float(energy),
            forces=None if forces is None else np.array(forces, dtype=np.float64),
            stress=None if stress is None else voigt_to_matrix(stress),
            config_type=str(config_type),
            source=source,
        )

    def to_atoms(self):
        from ase import Atoms

        return Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)


def voigt_to_matrix(stress) -> np.ndarray:
    """ASE Voigt order (xx yy zz yz xz xy) or a 3x3 matrix -> symmetric 3x3 matrix."""
    s = np.array(stress, dtype=np.float64)
    if s.shape == (3, 3):
        return s
    s = s.reshape(-1)
    if s.shape == (9,):
        return s.reshape(3, 3)
    if s.shape != (6,):
        raise ValueError(f"stress must have 6 (Voigt) or 9 components, got {s.size}")
    xx, yy, zz, yz, xz, xy = s
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


def matrix_to_voigt(stress) -> np.ndarray:
    s = np.asarray(stress)
    return np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])


def structure_key(atoms) -> str:
    """Stable sha1 of a structure: numbers, positions and cell on a 1e-6 Å grid, pbc.

    The same structure gets the same key in every process and run. Initial charges and magnetic
    moments (which set xTB's charge and spin) are hashed too, but only when not all zero, so the
    key of an ordinary structure depends on the geometry alone.
    """
    h = hashlib.sha1(b"ridgeline-structure-v1")
    h.update(np.asarray(atoms.numbers, dtype="<i8").tobytes())
    for array in (atoms.positions, atoms.cell.array):
        h.update(np.rint(np.asarray(array, dtype=np.float64) * 1e6).astype("<i8").tobytes())
    h.update(np.asarray(atoms.pbc, dtype=np.uint8).tobytes())
    for name in ("initial_charges", "initial_magmoms"):
        if name in atoms.arrays and np.any(atoms.arrays[name]):
            h.update(name.encode())
            h.update(np.rint(np.asarray(atoms.arrays[name], dtype=np.float64) * 1e6).astype("<i8").tobytes())
    return h.hexdigest()

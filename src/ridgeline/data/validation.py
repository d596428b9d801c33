"""Checks a frame must pass before it may enter a dataset.

Every problem raises ``DataError`` whose message starts with ``frame.source`` ("file:frame"), so
a user can find the offending structure without a debugger.
"""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols

from ..errors import DataError
from .frame import Frame
from .neighbors import neighbor_list

MAX_Z = 118
# |det(cell)| / (|a| |b| |c|) below this is a flat (zero-volume) cell; 1 for a cube, sin-products otherwise
DEGENERATE_TOL = 1e-6
ZERO_LENGTH = 1e-8  # Å; a periodic lattice vector shorter than this is treated as zero


def _symbol(z: int) -> str:
    return chemical_symbols[z] if 0 < z < len(chemical_symbols) else f"Z={z}"


def as_atomic_numbers(elements) -> set[int] | None:
    """Atomic numbers (or symbols) -> set of ints; ``None`` stays ``None`` (no restriction)."""
    if elements is None:
        return None
    out = set()
    for e in elements:
        if isinstance(e, str):
            if e not in chemical_symbols[1:]:
                raise DataError(f"unknown element symbol {e!r} in the list of allowed elements")
            out.add(chemical_symbols.index(e))
        else:
            out.add(int(e))
    return out


def _first_bad_row(a: np.ndarray) -> int:
    """Index of the first row (atom) holding NaN or inf."""
    bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    return int(np.flatnonzero(bad)[0])


def _check_cell(where: str, cell: np.ndarray, pbc: np.ndarray) -> None:
    periodic = np.flatnonzero(pbc)
    lengths = np.linalg.norm(cell, axis=1)
    for d in periodic:
        if lengths[d] < ZERO_LENGTH:
            raise DataError(f"{where}: zero-length periodic lattice vector {'abc'[d]} = {cell[d].tolist()} (pbc={pbc.tolist()})")
    if len(periodic) == 3:
        ratio = abs(np.linalg.det(cell)) / np.prod(lengths)
        if ratio < DEGENERATE_TOL:
            raise DataError(
                f"{where}: degenerate (zero-volume) periodic cell, volume {np.linalg.det(cell):.3g} Å^3 "
                f"for lattice vectors {cell.tolist()}"
            )
    elif len(periodic) == 2:
        a, b = cell[periodic[0]], cell[periodic[1]]
        ratio = np.linalg.norm(np.cross(a, b)) / (lengths[periodic[0]] * lengths[periodic[1]])
        if ratio < DEGENERATE_TOL:
            names = "".join("abc"[d] for d in periodic)
            raise DataError(f"{where}: periodic lattice vectors {names[0]} and {names[1]} are parallel: {a.tolist()}, {b.tolist()}")


def _check_distances(where: str, frame: Frame, min_distance: float) -> None:
    i, j, shifts = neighbor_list(frame.positions, frame.cell, frame.pbc, min_distance)
    if len(i) == 0:
        return
    vec = frame.positions[j] - frame.positions[i] + shifts @ frame.cell
    dist = np.linalg.norm(vec, axis=1)
    k = int(np.argmin(dist))
    a, b = int(i[k]), int(j[k])
    if a > b:  # the list is full (both directions); name the pair in ascending order
        a, b = b, a
    image = "" if not shifts[k].any() else f" (periodic image, shift {shifts[k].tolist()})"
    what = f"atom {a} and its own periodic image" if a == b else f"atoms {a} and {b}"
    raise DataError(
        f"{where}: {what} are {dist[k]:.4f} Å apart{image}, closer than min_distance={min_distance} Å "
        f"({len(i) // 2} such pair(s))"
    )


def validate_frame(frame: Frame, min_distance: float | None = 0.5, elements=None) -> Frame:
    """Check a frame's shapes, values, cell and geometry; return it unchanged or raise ``DataError``.

    ``min_distance`` (Å): two atoms (or an atom and a periodic image, its own included) closer than
    this are an error; ``None`` or 0 skips the check. ``elements``: allowed atomic numbers or symbols.
    """
    where = frame.source or "frame"
    numbers = np.asarray(frame.numbers)
    positions = np.asarray(frame.positions)
    n = len(numbers) if numbers.ndim == 1 else -1
    if numbers.ndim != 1:
        raise DataError(f"{where}: atomic numbers must have shape (N,), got {numbers.shape}")
    if n == 0:
        raise DataError(f"{where}: empty frame (0 atoms)")
    if positions.shape != (n, 3):
        raise DataError(f"{where}: positions must have shape ({n}, 3), got {positions.shape}")
    if np.shape(frame.cell) != (3, 3):
        raise DataError(f"{where}: cell must have shape (3, 3), got {np.shape(frame.cell)}")
    if np.shape(frame.pbc) != (3,):
        raise DataError(f"{where}: pbc must have shape (3,), got {np.shape(frame.pbc)}")

    bad_z = (numbers < 1) | (numbers > MAX_Z)
    if bad_z.any():
        k = int(np.flatnonzero(bad_z)[0])
        raise DataError(f"{where}: atom {k} has atomic number {int(numbers[k])}, outside 1..{MAX_Z}")
    allowed = as_atomic_numbers(elements)
    if allowed is not None:
        unknown = sorted(set(numbers.tolist()) - allowed)
        if unknown:
            raise DataError(
                f"{where}: unknown element(s) {', '.join(_symbol(z) for z in unknown)}; "
                f"known elements: {', '.join(_symbol(z) for z in sorted(allowed)) or '(none)'}"
            )

    if not np.isfinite(positions).all():
        raise DataError(f"{where}: positions contain NaN or inf (atom {_first_bad_row(positions)})")
    cell = np.asarray(frame.cell, dtype=np.float64)
    if not np.isfinite(cell).all():
        raise DataError(f"{where}: cell contains NaN or inf: {cell.tolist()}")
    if frame.energy is not None:
        energy = np.asarray(frame.energy, dtype=np.float64)
        if energy.size != 1:
            raise DataError(f"{where}: energy must be one number, got shape {energy.shape}")
        if not np.isfinite(energy).all():
            raise DataError(f"{where}: energy is {float(energy.reshape(-1)[0])}")
    if frame.forces is not None:
        forces = np.asarray(frame.forces)
        if forces.shape != (n, 3):
            raise DataError(f"{where}: forces have shape {forces.shape}, expected ({n}, 3) for {n} atoms")
        if not np.isfinite(forces).all():
            raise DataError(f"{where}: forces contain NaN or inf (atom {_first_bad_row(forces)})")
    if frame.stress is not None:
        stress = np.asarray(frame.stress)
        if stress.shape != (3, 3):
            raise DataError(
                f"{where}: stress has shape {stress.shape}, expected (3, 3) (6 Voigt or 9 components in the file)"
            )
        if not np.isfinite(stress).all():
            raise DataError(f"{where}: stress contains NaN or inf: {stress.tolist()}")

    pbc = np.asarray(frame.pbc, dtype=bool)
    _check_cell(where, cell, pbc)
    if min_distance:
        _check_distances(where, frame, float(min_distance))
    return frame

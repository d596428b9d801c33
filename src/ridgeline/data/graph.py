"""Structures -> graphs -> batches. A batch joins many graphs by concatenation, with no padding."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .. import keys
from .frame import Frame
from .neighbors import neighbor_list


def frame_to_graph(frame: Frame, cutoff: float, frame_index: int = 0, backend: str = "vesin") -> dict:
    """One structure as a graph of numpy arrays (labels included where the frame has them)."""
    i, j, shifts = neighbor_list(frame.positions, frame.cell, frame.pbc, cutoff, backend)
    n = len(frame)
    graph = {
        keys.POSITIONS: frame.positions,
        keys.NUMBERS: frame.numbers,
        keys.CELL: frame.cell,
        keys.PBC: frame.pbc,
        keys.EDGE_INDEX: np.stack([i, j]),
        keys.EDGE_SHIFTS: shifts,
        keys.FRAME_INDEX: frame_index,
        keys.ENERGY: np.nan if frame.energy is None else frame.energy,
        keys.HAS_ENERGY: frame.energy is not None,
        keys.FORCES: np.zeros((n, 3)) if frame.forces is None else frame.forces,
        keys.HAS_FORCES: frame.forces is not None,
        keys.STRESS: np.zeros((3, 3)) if frame.stress is None else frame.stress,
        keys.HAS_STRESS: frame.stress is not None,
    }
    return graph


def collate(graphs: Sequence[dict], dtype: torch.dtype = torch.float64, device="cpu") -> dict:
    """Join graphs into one batch dict of tensors; edge indices are offset by the atoms before them."""
    n_atoms = np.array([len(g[keys.NUMBERS]) for g in graphs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    edge_index = np.concatenate([g[keys.EDGE_INDEX] + off for g, off in zip(graphs, offsets)], axis=1)
    has_forces = np.concatenate([np.full(n, bool(g[keys.HAS_FORCES])) for g, n in zip(graphs, n_atoms)])

    def cat(key, float_=True):
        a = np.concatenate([np.asarray(g[key]).reshape(-1, *np.shape(g[key])[1:]) for g in graphs])
        return torch.as_tensor(a, dtype=dtype if float_ else None, device=device)

    def stack(key, torch_dtype):
        return torch.as_tensor(np.array([g[key] for g in graphs]), dtype=torch_dtype, device=device)

    return {
        keys.POSITIONS: cat(keys.POSITIONS),
        keys.NUMBERS: torch.as_tensor(np.concatenate([g[keys.NUMBERS] for g in graphs]), dtype=torch.long, device=device),
        keys.CELL: stack(keys.CELL, dtype),
        keys.PBC: stack(keys.PBC, torch.bool),
        keys.BATCH: torch.as_tensor(np.repeat(np.arange(len(graphs)), n_atoms), dtype=torch.long, device=device),
        keys.N_ATOMS: torch.as_tensor(n_atoms, dtype=torch.long, device=device),
        keys.EDGE_INDEX: torch.as_tensor(edge_index, dtype=torch.long, device=device),
        keys.EDGE_SHIFTS: cat(keys.EDGE_SHIFTS),
        keys.FRAME_INDEX: stack(keys.FRAME_INDEX, torch.long),
        keys.ENERGY: stack(keys.ENERGY, dtype),
        keys.HAS_ENERGY: stack(keys.HAS_ENERGY, torch.bool),
        keys.FORCES: cat(keys.FORCES),
        keys.HAS_FORCES: torch.as_tensor(has_forces, device=device),
        keys.STRESS: stack(keys.STRESS, dtype),
        keys.HAS_STRESS: stack(keys.HAS_STRESS, torch.bool),
    }


def atoms_to_batch(atoms, cutoff: float, dtype=torch.float64, device="cpu", backend: str = "vesin") -> dict:
    """An ``ase.Atoms`` as a one-structure batch (no labels): the calculator's path into the model."""
    frame = Frame.from_atoms(atoms)
    return collate([frame_to_graph(frame, cutoff, backend=backend)], dtype=dtype, device=device)

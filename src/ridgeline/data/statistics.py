"""Dataset statistics that set a model's fixed per-element references and scales."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .frame import Frame


def element_counts(frames: Sequence[Frame], elements: list[int]) -> np.ndarray:
    """(n_frames, n_elements) number of atoms of each element in each frame."""
    index = {z: k for k, z in enumerate(elements)}
    counts = np.zeros((len(frames), len(elements)))
    for f, frame in enumerate(frames):
        for z, c in zip(*np.unique(frame.numbers, return_counts=True)):
            counts[f, index[int(z)]] = c
    return counts


def fit_atomic_energies(frames: Sequence[Frame], elements: list[int]) -> np.ndarray:
    """Per-element reference energies E0 by least squares, E_frame ~ sum_Z n_Z E0_Z.

    Where the compositions do not determine E0 (e.g. one fixed stoichiometry), the minimum-norm
    solution is returned; it still removes the mean energy, which is what the network needs.
    """
    labelled = [f for f in frames if f.energy is not None]
    if not labelled:
        return np.zeros(len(elements))
    counts = element_counts(labelled, elements)
    energies = np.array([f.energy for f in labelled])
    e0, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    return e0


def force_rms(frames: Sequence[Frame], elements: list[int]) -> np.ndarray:
    """Root mean square force component per element (eV/Å); 1.0 for an element with no forces."""
    sums, counts = np.zeros(len(elements)), np.zeros(len(elements))
    for frame in frames:
        if frame.forces is None:
            continue
        for k, z in enumerate(elements):
            f = frame.forces[frame.numbers == z]
            sums[k] += np.sum(f**2)
            counts[k] += f.size
    rms = np.sqrt(sums / np.maximum(counts, 1))
    return np.where(counts > 0, rms, 1.0)


def elements_of(frames: Sequence[Frame]) -> list[int]:
    return sorted({int(z) for frame in frames for z in np.unique(frame.numbers)})

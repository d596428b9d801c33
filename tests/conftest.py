"""Shared fixtures: a small real reference dataset (EMT, Cu) and a model trained on it once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.io import write

from ridgeline.models import Ensemble, build_model
from ridgeline.reference.emt_dataset import emt_dataset
from ridgeline.uncertainty import UncertaintyModel

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def emt_files(tmp_path_factory) -> dict:
    """train.xyz / test.xyz of EMT Cu (MD at three temperatures, strained cells, a vacancy)."""
    frames = emt_dataset("Cu", n_md=8, seed=1)
    folder = tmp_path_factory.mktemp("emt")
    train, test = folder / "train.xyz", folder / "test.xyz"
    write(train, frames[::2] + frames[1::4], format="extxyz")
    write(test, frames[3::4], format="extxyz")
    return {"train": train, "test": test, "folder": folder}


def small_config(emt_files, output_dir, **training) -> dict:
    return {
        "train_file": str(emt_files["train"]),
        "test_file": str(emt_files["test"]),
        "output_dir": str(output_dir),
        "model": {"name": "bpnn", "preset": "small", "cutoff": 4.5},
        "training": {"epochs": 4, "batch_size": 4, **training},
    }


@pytest.fixture(scope="session")
def trained_model(emt_files, tmp_path_factory) -> Path:
    """A model trained for long enough to give a sensible potential (used by MD and CLI tests)."""
    from ridgeline.training.config import load_config
    from ridgeline.training.trainer import Trainer

    out = tmp_path_factory.mktemp("trained")
    config = load_config(base=small_config(emt_files, out, epochs=60, lr=5e-3))
    return Trainer(config, progress=False).run()


# ------------------------------------------- Cu cells, random committees and finite differences
CU = [29]


def cu_cell(repeat=(2, 2, 2), seed=0, rattle=0.05, a=3.61):
    atoms = bulk("Cu", "fcc", a=a, cubic=True).repeat(repeat)
    atoms.rattle(rattle, seed=seed)
    return atoms


def random_model(seed: int):
    """An untrained small bpnn for Cu (float64): a smooth potential, different for each seed."""
    torch.manual_seed(seed)
    return build_model("bpnn", CU, preset="small", cutoff=4.5).double().eval()


def fd_gradient(f, atoms, h=1e-5):
    """Central finite-difference gradient (N, 3) of ``f(atoms)`` by the positions."""
    grad = np.zeros((len(atoms), 3))
    for a in range(len(atoms)):
        for c in range(3):
            p, m = atoms.copy(), atoms.copy()
            p.positions[a, c] += h
            m.positions[a, c] -= h
            grad[a, c] = (f(p) - f(m)) / (2 * h)
    return grad


def fd_stress_of(energy, atoms, h=1e-6):
    """(1/V) dE/deps of ``energy(atoms)`` by central differences over symmetric strains of positions
    and cell, Voigt (6,), ASE's sign."""
    out = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            energies = []
            for sign in (1, -1):
                strain = np.eye(3)
                strain[a, b] += sign * h / 2
                strain[b, a] += sign * h / 2
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
                energies.append(energy(strained))
            out[a, b] = (energies[0] - energies[1]) / (2 * h) / atoms.get_volume()
    return out[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]


@pytest.fixture(scope="module")
def ensemble_file(tmp_path_factory):
    """A committee of two random Cu models, with an energy calibration scale, in one file."""
    path = tmp_path_factory.mktemp("ens") / "ens.safetensors"
    UncertaintyModel(Ensemble([random_model(1), random_model(2)]), alpha={"energy": 2.0, "forces": 1.0}).save(path)
    return path


@pytest.fixture(scope="session")
def calibrated_model(trained_model, emt_files, tmp_path_factory) -> Path:
    """``trained_model`` with a last-layer Laplace posterior, domain models and a calibration
    (on the test frames), as ``ridgeline uq calibrate`` writes it: the workflows' uncertain model."""
    from ridgeline.data import load_frames
    from ridgeline.models.io import load_model
    from ridgeline.uncertainty import UncertaintyOptions, fit_uncertainty

    model, description = load_model(trained_model, dtype="float64")
    train, test = load_frames(emt_files["train"]), load_frames(emt_files["test"])
    uq = fit_uncertainty(model, train, test, UncertaintyOptions(domains=("mahalanobis",)), description)
    path = tmp_path_factory.mktemp("calibrated") / "model.safetensors"
    uq.save(path)
    return path

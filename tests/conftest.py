"""Shared fixtures: a small real reference dataset (EMT, Cu) and a model trained on it once."""

from __future__ import annotations

from pathlib import Path

import pytest
from ase.io import write

from ridgeline.reference.emt_dataset import emt_dataset

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

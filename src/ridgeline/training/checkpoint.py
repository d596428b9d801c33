"""Training checkpoints: a plain dict of tensors and numbers, written atomically after every
epoch and read with ``weights_only=True`` (no pickled code)."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ..errors import ModelFileError
from ..files import atomic_write_bytes


def save_checkpoint(state: dict, path) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: checkpoint not found (nothing to resume)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelFileError(f"{path}: checkpoint is corrupted or truncated: {err}") from None

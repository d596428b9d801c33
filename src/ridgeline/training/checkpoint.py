"""Training checkpoints: a plain dict of tensors and numbers, written atomically after every
epoch and read with ``weights_only=True`` (no pickled code); older layouts are brought to the
current one on reading (``models.upgrade.upgrade_checkpoint``)."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ..errors import ModelFileError
from ..files import atomic_write_bytes
from ..models.upgrade import FORMAT_VERSION, upgrade_checkpoint


def save_checkpoint(state: dict, path) -> None:
    buffer = io.BytesIO()
    torch.save({**state, "format_version": FORMAT_VERSION}, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


def load_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: checkpoint not found (nothing to resume)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelFileError(f"{path}: checkpoint is corrupted or truncated: {err}") from None
    return upgrade_checkpoint(state)

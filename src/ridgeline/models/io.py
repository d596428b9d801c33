"""Model files: one safetensors file holding the weights and, in its header, a JSON description
(architecture, hyperparameters, elements, cutoff, units, element references, format version).
Nothing is pickled, so loading a file never runs code from it."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from .. import __version__
from ..errors import ModelFileError
from . import EnergyModel, build_model

FORMAT_VERSION = 1
FORMAT_NAME = "ridgeline-model"


def describe(model: EnergyModel, extra: dict | None = None) -> dict:
    hp = model.hyperparameters()
    elements = hp.pop("elements")
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "ridgeline_version": __version__,
        "architecture": model.architecture,
        "hyperparameters": hp,
        "elements": elements,
        "cutoff": model.cutoff,
        "units": {"energy": "eV", "length": "Angstrom", "forces": "eV/Angstrom", "stress": "eV/Angstrom^3"},
        "atomic_energies": dict(zip(map(str, elements), model.scale_shift.atomic_energies.tolist())),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        **(extra or {}),
    }


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary sibling then rename: a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model: EnergyModel, path, extra: dict | None = None) -> Path:
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"ridgeline": json.dumps(describe(model, extra))}
    atomic_write_bytes(Path(path), save(tensors, metadata=meta))
    return Path(path)


def read_description(path) -> dict:
    """The JSON description of a model file, validated."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as err:  # safetensors raises several types for corrupt headers
        raise ModelFileError(f"{path}: not a readable ridgeline model file (corrupted or truncated?): {err}") from None
    if "ridgeline" not in meta:
        raise ModelFileError(f"{path}: safetensors file without a ridgeline model description")
    try:
        desc = json.loads(meta["ridgeline"])
    except json.JSONDecodeError as err:
        raise ModelFileError(f"{path}: model description is not valid JSON: {err}") from None
    if desc.get("format") != FORMAT_NAME or not isinstance(desc.get("format_version"), int):
        raise ModelFileError(f"{path}: not a ridgeline model description")
    if desc["format_version"] > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {desc['format_version']} is newer than this ridgeline "
            f"({__version__}) reads (<= {FORMAT_VERSION}); upgrade ridgeline"
        )
    return desc


def load_model(path, device="cpu", dtype: torch.dtype | str | None = None) -> tuple[EnergyModel, dict]:
    """Rebuild a model from its file: returns ``(model, description)``, model in eval mode."""
    from safetensors.torch import load_file

    desc = read_description(path)
    try:
        model = build_model(desc["architecture"], desc["elements"], **desc["hyperparameters"])
    except Exception as err:
        raise ModelFileError(f"{path}: cannot rebuild the model it describes: {err}") from None
    try:
        tensors = load_file(str(path))
    except Exception as err:
        raise ModelFileError(f"{path}: cannot read the weights (corrupted or truncated?): {err}") from None
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    dtype = dtype or getattr(torch, desc.get("dtype", "float64"))
    model = model.to(dtype)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match the described model: {err}") from None
    return model.to(device).eval(), desc

"""Model files: one safetensors file holding the weights and, in its header, a JSON description
(architecture, hyperparameters, energy terms, elements, cutoff, units, element references, format
version). Nothing is pickled, so loading a file never runs code from it. Files of earlier format
versions are brought to the current layout on load by ``upgrade.upgrade``, the one place that
knows them.

An ensemble is one file too: members' weights under ``members.<k>.`` and ``ensemble_size`` in the
description. Tensors under ``uq.`` (uncertainty and domain-of-applicability data, described by
the description's ``uncertainty`` entry) travel with the weights but are not part of the model.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .._version import __version__
from ..files import atomic_write_bytes
from ..errors import ModelFileError
from . import EnergyModel, build_model
from .ensemble import Ensemble
from .upgrade import FORMAT_VERSION, upgrade, upgrade_description

FORMAT_NAME = "ridgeline-model"
EXTRA_PREFIX = "uq."


def describe(model: EnergyModel | Ensemble, extra: dict | None = None) -> dict:
    """The JSON description of ``model`` (a committee: its first member's, and its size)."""
    members = getattr(model, "members", None)
    if members is not None:
        return {**describe(members[0], extra), "ensemble_size": len(members)}
    hp = model.hyperparameters()
    elements = hp.pop("elements")
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "ridgeline_version": __version__,
        "architecture": model.architecture,
        "hyperparameters": hp,
        "terms": model.terms.params(),
        "elements": elements,
        "cutoff": model.cutoff,
        "units": {"energy": "eV", "length": "Angstrom", "forces": "eV/Angstrom", "stress": "eV/Angstrom^3"},
        "atomic_energies": dict(zip(map(str, elements), model.scale_shift.atomic_energies.tolist())),
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        **(extra or {}),
    }


def save_model(model: EnergyModel | Ensemble, path, extra: dict | None = None, tensors: dict | None = None) -> Path:
    """Write ``model`` (weights + description + ``extra`` description entries) to one file;
    ``tensors``: further named arrays, each name starting with ``uq.``."""
    from safetensors.torch import save

    extra_tensors = {}
    for name, value in (tensors or {}).items():
        if not name.startswith(EXTRA_PREFIX):
            raise ValueError(f"extra tensor names must start with {EXTRA_PREFIX!r}: {name!r}")
        extra_tensors[name] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update(extra_tensors)
    meta = {"ridgeline": json.dumps(describe(model, extra))}
    atomic_write_bytes(Path(path), save(tensors, metadata=meta))
    return Path(path)


def read_description(path) -> dict:
    """The JSON description of a model file, validated, in the current layout."""
    return upgrade_description(*_stored_description(path))


def _stored_description(path) -> tuple[dict, list[str]]:
    """The description as the file stores it, validated, and the names of its tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta, names = fh.metadata() or {}, list(fh.keys())
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
    return desc, names


def load_model(path, device="cpu", dtype: torch.dtype | str | None = None) -> tuple[EnergyModel | Ensemble, dict]:
    """Rebuild a model (or ensemble) from its file: returns ``(model, description)``, in eval mode;
    the description in the current layout."""
    from safetensors.torch import load_file

    stored, _ = _stored_description(path)
    try:
        tensors = {k: v for k, v in load_file(str(path)).items() if not k.startswith(EXTRA_PREFIX)}
    except Exception as err:
        raise ModelFileError(f"{path}: cannot read the weights (corrupted or truncated?): {err}") from None
    try:
        desc, tensors = upgrade(stored, tensors)
        members = [build_model(desc["architecture"], desc["elements"], terms=desc["terms"], **desc["hyperparameters"])
                   for _ in range(int(desc.get("ensemble_size", 1)))]
        model = Ensemble(members) if "ensemble_size" in desc else members[0]
    except Exception as err:
        raise ModelFileError(f"{path}: cannot rebuild the model it describes: {err}") from None
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    dtype = dtype or getattr(torch, desc.get("dtype", "float64"))
    model = model.to(dtype)
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise ModelFileError(f"{path}: weights do not match the described model: {err}") from None
    return model.to(device).eval(), desc


def load_extra_tensors(path) -> dict[str, torch.Tensor]:
    """The ``uq.``-prefixed tensors of a model file, prefix removed."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return {k[len(EXTRA_PREFIX):]: fh.get_tensor(k) for k in fh.keys() if k.startswith(EXTRA_PREFIX)}

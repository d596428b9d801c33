"""The one place that knows the layouts of older files: ``upgrade`` brings a model file's
description and tensors (and ``upgrade_checkpoint`` a training checkpoint) to the current layout,
so the models themselves carry no compatibility code.

Model file format versions:

- 1: the ZBL core is part of the moment network: ``zbl`` and ``zbl_switch`` among its
  hyperparameters, weights under ``zbl.``. Within version 1, older files lack
  - ``zbl.switch_radius`` (they kept ``zbl.radii``; their core was switched off at the sum of
    covalent radii) and the ``zbl_switch`` hyperparameter (covalent),
  - a message layer's own ``layers.<k>.avg_num_neighbors`` and ``layers.<k>.basis.frequencies``
    (their message cutoff was the model's: the model's values),
  - a Laplace posterior's ``force_variance`` (the proxy variance, no force observations).
- 2: a model is a network plus energy terms (``models.sum``): the description's ``terms``
  ({name: params}), the terms' weights under ``terms.<name>.``.

Every layout is kept as a small test fixture (``tests/models/fixtures/``) made by a script
beside it, with the energies the code of its time gave.
"""

from __future__ import annotations

import copy
import json
import re

FORMAT_VERSION = 2

# training-config keys added after checkpoints were first written, with the value that reproduces
# how such a run trained: a checkpoint without the key resumes only with that value
_CHECKPOINT_CONFIG_DEFAULTS = {"training": {"final_stage_ramp": 0.0, "amsgrad": False, "stress_components": "full"}}


def upgrade(description: dict, tensors: dict) -> tuple[dict, dict]:
    """(description, tensors) of any earlier layout in the current one; the inputs are not changed.
    Tensors under ``uq.`` (uncertainty data) pass through."""
    version = int(description.get("format_version", 1))
    description = upgrade_description(description, list(tensors))
    tensors = dict(tensors)
    if version < 2:
        for prefix in _model_prefixes(tensors):
            _message_layer_buffers(tensors, prefix)
            _core_to_term(tensors, prefix)
    return description, tensors


def upgrade_description(description: dict, tensor_names) -> dict:
    """The description of any earlier layout in the current one (a copy); ``tensor_names``: the
    names of the file's tensors, which tell what older descriptions left unsaid."""
    version = int(description.get("format_version", 1))
    description = copy.deepcopy(description)
    if version < 2:
        hp = description.get("hyperparameters", {})
        zbl_switch = hp.pop("zbl_switch", None)
        hp.pop("zbl", None)
        names = set(tensor_names)
        core = [p for p in _model_prefixes(names) if f"{p}zbl.z" in names]
        if core and f"{core[0]}zbl.switch_radius" not in names:  # it kept the radii: a covalent switch
            zbl_switch = "covalent"
        # a file without the zbl_switch hyperparameter predates the fitted switch: its core was covalent
        description["terms"] = {"zbl": {"switch": zbl_switch or "covalent"}} if core else {}
        uq = description.get("uncertainty") or {}
        if "laplace" in uq:
            uq["laplace"].setdefault("force_variance", "proxy")
    description["format_version"] = FORMAT_VERSION
    return description


def upgrade_tensors(tensors: dict) -> dict:
    """A version-1 state dict (of a model or of each member of an ensemble) in the current key
    layout: what a checkpoint holds, without a description."""
    return upgrade({"format_version": 1, "hyperparameters": {}}, tensors)[1]


def upgrade_checkpoint(state: dict) -> dict:
    """A training checkpoint (``Trainer._state_dict``) in the current layout: its config with
    the keys added since (at the values such runs trained with) and its weights' key layout."""
    state = dict(state)
    if int(state.get("format_version", 1)) < 2:
        config = json.loads(state["config"])
        for section, defaults in _CHECKPOINT_CONFIG_DEFAULTS.items():
            for key, value in defaults.items():
                config.setdefault(section, {}).setdefault(key, value)
        state["config"] = json.dumps(config)
        state["model"] = upgrade_tensors(state["model"])
        if state.get("best_state") is not None:
            state["best_state"] = upgrade_tensors(state["best_state"])
        state["ema"] = {**state["ema"], "shadow": upgrade_tensors(state["ema"]["shadow"])}
    state["format_version"] = FORMAT_VERSION
    return state


def _model_prefixes(tensors: dict) -> list[str]:
    """'' for one model, 'members.<k>.' for each member of an ensemble."""
    members = sorted({m.group(0) for k in tensors if (m := re.match(r"members\.\d+\.", k))})
    return members or [""]


def _core_to_term(tensors: dict, prefix: str) -> None:
    """The core's weights under ``terms.zbl.``, with a switch radius (the covalent sums where the
    file kept the radii)."""
    core = f"{prefix}zbl."
    radii = tensors.pop(f"{core}radii", None)
    if radii is not None and f"{core}switch_radius" not in tensors:
        tensors[f"{core}switch_radius"] = radii[:, None] + radii[None, :]
    for key in [k for k in tensors if k.startswith(core)]:
        tensors[f"{prefix}terms.zbl.{key[len(core):]}"] = tensors.pop(key)


def _message_layer_buffers(tensors: dict, prefix: str) -> None:
    """Message layers saved before they had their own cutoff: theirs was the model's."""
    k = 1
    while f"{prefix}layers.{k}.radial_weights" in tensors:
        for name in ("avg_num_neighbors", "basis.frequencies"):
            tensors.setdefault(f"{prefix}layers.{k}.{name}", tensors[f"{prefix}{name}"])
        k += 1

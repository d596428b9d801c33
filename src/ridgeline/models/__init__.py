"""Complete energy models, the derivative wrapper, and their files.

``ARCHITECTURES`` maps each architecture name to its class and size presets; ``build_model``
is the one way a model is made from a config or a file: the architecture's network plus its
physical energy terms (``models.sum``).
"""

from __future__ import annotations

import inspect

from ..errors import ConfigError
from .base import EnergyModel
from .bpnn import PRESETS as BPNN_PRESETS
from .bpnn import BehlerParrinello
from .derivatives import ForceStressOutput, hessian
from .ensemble import Ensemble
from .moment import PRESETS as MOMENT_PRESETS
from .moment import MomentNetwork
from .sum import TERM_OPTIONS, TERMS, build_terms, term_specs

ARCHITECTURES = {
    "bpnn": (BehlerParrinello, BPNN_PRESETS),
    "moment": (MomentNetwork, MOMENT_PRESETS),
}


def default_cutoff(architecture: str, preset: str) -> float:
    """The cutoff (Å) a config gets when it names none: the preset's, else the architecture's default."""
    cls, presets = ARCHITECTURES[architecture]
    return float(presets[preset].get("cutoff", inspect.signature(cls.__init__).parameters["cutoff"].default))


def hyperparameter_names(architecture: str) -> list[str]:
    """The keys a config's model section may set beside name, preset and cutoff: the
    architecture's hyperparameters and the energy terms' shortcuts (``sum.TERM_OPTIONS``)."""
    cls, _ = ARCHITECTURES[architecture]
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "elements", "cutoff")] + list(TERM_OPTIONS)


def build_model(architecture: str, elements: list[int], preset: str | None = None, terms: dict | None = None,
                **hyperparameters) -> EnergyModel:
    """Build a model by architecture name; ``preset`` fills sizes, explicit hyperparameters win.
    ``terms``: the physical energy terms ({name: params}, as a model file describes them); else
    the architecture's default terms, changed by the shortcuts ``zbl`` and ``zbl_switch``."""
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown model architecture {architecture!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    cls, presets = ARCHITECTURES[architecture]
    shortcuts = {k: hyperparameters.pop(k, None) for k in TERM_OPTIONS}
    if terms is None:
        terms = term_specs(cls.default_terms, **shortcuts)
    elif any(v is not None for v in shortcuts.values()):
        raise ConfigError(f"give the energy terms either as terms or as {', '.join(TERM_OPTIONS)}, not both")
    kwargs = {}
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r} for {architecture}; available: {', '.join(presets)}")
        kwargs.update(presets[preset])
    kwargs.update({k: v for k, v in hyperparameters.items() if v is not None})
    try:
        model = cls(elements=elements, **kwargs)
    except TypeError as err:
        raise ConfigError(f"bad hyperparameters for {architecture}: {err}") from None
    model.terms.update(build_terms(model.elements, terms))
    return model


__all__ = ["ARCHITECTURES", "TERMS", "default_cutoff", "hyperparameter_names", "EnergyModel", "Ensemble", "BehlerParrinello", "MomentNetwork", "ForceStressOutput", "hessian", "build_model"]

"""Complete energy models, the derivative wrapper, and their files.

``ARCHITECTURES`` maps each architecture name to its class and size presets; ``build_model``
is the one way a model is made from a config or a file.
"""

from __future__ import annotations

from ..errors import ConfigError
from .base import EnergyModel
from .bpnn import PRESETS as BPNN_PRESETS
from .bpnn import BehlerParrinello
from .derivatives import ForceStressOutput, hessian
from .ensemble import Ensemble
from .moment import PRESETS as MOMENT_PRESETS
from .moment import MomentNetwork

ARCHITECTURES = {
    "bpnn": (BehlerParrinello, BPNN_PRESETS),
    "moment": (MomentNetwork, MOMENT_PRESETS),
}


def default_cutoff(architecture: str, preset: str) -> float:
    """The cutoff (Å) a config gets when it names none: the preset's, else the architecture's default."""
    import inspect

    cls, presets = ARCHITECTURES[architecture]
    return float(presets[preset].get("cutoff", inspect.signature(cls.__init__).parameters["cutoff"].default))


def build_model(architecture: str, elements: list[int], preset: str | None = None, **hyperparameters) -> EnergyModel:
    """Build a model by architecture name; ``preset`` fills sizes, explicit hyperparameters win."""
    if architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown model architecture {architecture!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    cls, presets = ARCHITECTURES[architecture]
    kwargs = {}
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r} for {architecture}; available: {', '.join(presets)}")
        kwargs.update(presets[preset])
    kwargs.update({k: v for k, v in hyperparameters.items() if v is not None})
    try:
        return cls(elements=elements, **kwargs)
    except TypeError as err:
        raise ConfigError(f"bad hyperparameters for {architecture}: {err}") from None


__all__ = ["ARCHITECTURES", "default_cutoff", "EnergyModel", "Ensemble", "BehlerParrinello", "MomentNetwork", "ForceStressOutput", "hessian", "build_model"]

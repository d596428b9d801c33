"""ridgeline: machine-learned interatomic potentials."""

import importlib

from ._version import __version__

# names served lazily (PEP 562): the calculator pulls in ASE and torch, so it is imported only when
# asked for, and importing a light module such as ``ridgeline.keys`` never loads the models
_LAZY = {"Calculator": "ridgeline.simulate.calculator"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ridgeline' has no attribute {name!r}")


__all__ = ["Calculator", "__version__"]

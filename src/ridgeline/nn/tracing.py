"""Whether the model is being traced for export (``integrations.lammps``): then no shape may
depend on the data (no ``nonzero``, no per-size blocking), so that one compiled program serves
every number of atoms and edges. ``torch.export`` says so itself; ``make_fx``, which the export
uses to write the forces' backward pass into the graph, does not, hence the flag."""

from __future__ import annotations

import contextlib

import torch

_TRACING = [False]


def tracing() -> bool:
    """True while exporting (``torch.export``) or inside ``for_export()``."""
    return _TRACING[0] or torch.compiler.is_exporting()


@contextlib.contextmanager
def for_export():
    """Trace the model's shape-independent path (see the module docstring)."""
    before = _TRACING[0]
    _TRACING[0] = True
    try:
        yield
    finally:
        _TRACING[0] = before

"""What every analysis result shares: JSON through ``to_dict``/``to_json``, and plots written atomically."""

from __future__ import annotations

import io
import json
from dataclasses import asdict

import numpy as np

from ..files import atomic_write_bytes


def jsonable(value):
    """``value`` with arrays as lists and numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class Result:
    """Base of the result dataclasses: their fields as plain JSON types."""

    def to_dict(self) -> dict:
        return jsonable(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, dpi: int = 120) -> None:
    """``fig`` as a PNG at ``path``, written atomically; the figure is closed."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())

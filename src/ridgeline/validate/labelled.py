"""Errors of a model on a labelled file, overall and by config_type, with a parity plot."""

from __future__ import annotations


def errors_by_config_type(model, data, key_map=None, plot=None, batch_size: int = 8) -> dict:
    """``training.metrics.compute_metrics`` of ``model`` (a loaded model) on the labelled frames
    of ``data`` (a data file or a converted dataset directory; energies and forces required):
    MAE and RMSE of energies (meV/atom) and forces (eV/Å), overall, ``per_config_type`` and
    ``per_element``. ``plot``: a parity plot's path."""
    from pathlib import Path

    from ..data import load_frames
    from ..training.metrics import compute_metrics, predict
    from ..training.report import parity_plot

    frames = load_frames(data, key_map, require=("energy", "forces"), elements=model.elements)
    p = predict(model, frames, batch_size=batch_size, device=next(model.parameters()).device)
    if plot is not None:
        parity_plot(p, plot, title=Path(str(data)).name)
    return {"file": str(data), **compute_metrics(p)}


__all__ = ["errors_by_config_type"]

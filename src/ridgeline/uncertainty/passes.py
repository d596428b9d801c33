"""Passes of a model over frames, batch by batch, for fitting posteriors and domain models and for
scoring candidates."""

from __future__ import annotations

import torch

from .. import keys
from ..data.dataset import GraphDataset, make_loader


def frame_batches(model, frames, batch_size: int = 8):
    """Batches of ``frames`` (in order, graphs not cached) in the model's dtype, on its device."""
    parameter = next(model.parameters())
    for batch in make_loader(GraphDataset(frames, model.cutoff, cache=False), batch_size, shuffle=False, dtype=parameter.dtype):
        yield {k: v.to(parameter.device) for k, v in batch.items()}


def readout_passes(model, frames, batch_size: int = 8):
    """(descriptors, last hidden layer, species) of every atom of ``frames``, batch by batch."""
    for batch in frame_batches(model, frames, batch_size):
        with torch.no_grad():
            out = model(batch, readout=True)
        yield out[keys.DESCRIPTORS], out[keys.READOUT_FEATURES], model.species(batch[keys.NUMBERS])


def feature_graphs(model, frames, batch_size: int = 8):
    """(last hidden layer with its graph to the positions, positions, species), batch by batch."""
    for batch in frame_batches(model, frames, batch_size):
        pos = batch[keys.POSITIONS].detach().requires_grad_(True)
        batch[keys.POSITIONS] = pos
        yield model({**batch}, readout=True)[keys.READOUT_FEATURES], pos, model.species(batch[keys.NUMBERS])

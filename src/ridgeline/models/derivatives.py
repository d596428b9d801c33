"""Forces, stress and Hessians as exact derivatives of the energy (NequIP ``ForceStressOutput``,
SchNetPack ``Strain``): forces are conservative by construction.

Stress uses a symmetric strain eps applied to positions and cell, r -> r (1 + eps), so
    virial = -dE/deps,   stress = (1/V) dE/deps   (ASE's sign: positive = tensile).
"""

from __future__ import annotations

import torch

from .. import keys
from ..errors import ConfigError
from .base import EnergyModel


def strained(batch: dict, forces: bool = True, stress: bool = False) -> tuple[dict, list[torch.Tensor]]:
    """The batch with positions (and, for stress, a zero strain applied to positions and cell)
    that a scalar of the batch is differentiated by, and those inputs: the gradient by
    ``inputs[0]`` is dX/dr, by ``inputs[1]`` (G, 3, 3) dX/deps."""
    batch = dict(batch)
    pos = batch[keys.POSITIONS]
    if not pos.requires_grad:
        pos = pos.detach().requires_grad_(forces or stress)
    inputs = [pos]
    if stress:
        n_graphs = len(batch[keys.N_ATOMS])
        strain = torch.zeros(n_graphs, 3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
        sym = 0.5 * (strain + strain.transpose(1, 2))
        pos = pos + torch.einsum("ni,nij->nj", pos, sym[batch[keys.BATCH]])
        batch[keys.CELL] = batch[keys.CELL] + torch.bmm(batch[keys.CELL], sym)
        inputs.append(strain)
    batch[keys.POSITIONS] = pos
    return batch, inputs


class ForceStressOutput(torch.nn.Module):
    def __init__(self, model: EnergyModel):
        super().__init__()
        self.model = model

    def forward(self, batch: dict, forces: bool = True, stress: bool = False, training: bool = False,
                readout: bool = False, retain_graph: bool = False) -> dict:
        """Model outputs plus forces (N, 3) and, if asked, virial and stress (G, 3, 3).

        ``training=True`` keeps the graph of the derivatives so that a loss on forces can be
        back-propagated to the weights; ``readout=True`` adds the model's readout features;
        ``retain_graph=True`` keeps the model's graph after the forces' backward pass (for more
        derivatives of the outputs, e.g. of the readout features).
        """
        batch, inputs = self._strained(batch, forces, stress)
        out = self.model(batch, readout=readout)
        if forces or stress:
            self._derivatives(out, batch, inputs, forces, stress, create_graph=training, retain_graph=training or retain_graph)
        return out

    def members(self, batch: dict, stress: bool = False, readout: bool = False) -> list[dict]:
        """Each member's outputs, forces (and stress) of an ``Ensemble`` model, from one forward
        pass whose weight-free part the members share (``Ensemble.member_outputs``) and one
        backward pass per member."""
        batch, inputs = self._strained(batch, True, stress)
        outs = self.model.member_outputs(batch, readout=readout)
        for k, out in enumerate(outs):
            self._derivatives(out, batch, inputs, True, stress, create_graph=False, retain_graph=k < len(outs) - 1)
        return outs

    @staticmethod
    def _strained(batch: dict, forces: bool, stress: bool) -> tuple[dict, list[torch.Tensor]]:
        return strained(batch, forces, stress)

    @staticmethod
    def _derivatives(out: dict, batch: dict, inputs: list[torch.Tensor], forces: bool, stress: bool,
                     create_graph: bool, retain_graph: bool) -> None:
        """Adds forces (and virial, stress) to ``out``: the gradient of its energy by ``inputs``."""
        grads = torch.autograd.grad(out[keys.ENERGY].sum(), inputs, create_graph=create_graph, retain_graph=retain_graph)
        if forces:
            out[keys.FORCES] = -grads[0]
        if stress:
            volume = torch.linalg.det(batch[keys.CELL]).abs()
            periodic = volume > 0
            safe = torch.where(periodic, volume, torch.ones_like(volume))
            out[keys.VIRIAL] = -grads[1]
            out[keys.STRESS] = torch.where(periodic[:, None, None], grads[1] / safe[:, None, None], torch.nan)


def hessian(model: EnergyModel, batch: dict, chunk_size: int = 48) -> torch.Tensor:
    """d^2E / dr dr of one small structure, (3N, 3N) in the model's units (eV/Å^2).

    The gradient is taken once with its graph; the rows are then vector-Jacobian products of the
    gradient with blocks of ``chunk_size`` unit vectors, each block one batched backward pass
    (``is_grads_batched``: ``vmap`` over the backward graph), so memory grows with
    ``chunk_size`` times one backward pass, not with 3N. An ``Ensemble``'s Hessian is that of its
    mean energy.
    """
    if chunk_size < 1:
        raise ConfigError(f"hessian: chunk_size must be >= 1, got {chunk_size}")
    batch = dict(batch)
    pos = batch[keys.POSITIONS].detach().requires_grad_(True)
    batch[keys.POSITIONS] = pos
    energy = model(batch)[keys.ENERGY].sum()
    (grad,) = torch.autograd.grad(energy, pos, create_graph=True)
    grad = grad.reshape(-1)
    n = grad.numel()
    blocks = []
    for start in range(0, n, chunk_size):
        count = min(chunk_size, n - start)
        vectors = torch.zeros(count, n, dtype=grad.dtype, device=grad.device)  # unit vectors start .. start + count
        vectors[torch.arange(count), torch.arange(start, start + count)] = 1
        (rows,) = torch.autograd.grad(grad, pos, vectors, retain_graph=True, is_grads_batched=True)
        blocks.append(rows.reshape(len(vectors), n))
    return torch.cat(blocks)

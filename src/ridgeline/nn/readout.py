"""Per-element networks and per-element energy references, scales and shifts."""

from __future__ import annotations

import torch


def mlp(n_in: int, hidden: list[int], n_out: int = 1) -> torch.nn.Sequential:
    """A smooth (SiLU) multilayer perceptron: smooth activations keep forces smooth."""
    layers, width = [], n_in
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.SiLU()]
        width = h
    layers.append(torch.nn.Linear(width, n_out))
    return torch.nn.Sequential(*layers)


class ElementMLPs(torch.nn.Module):
    """One network per element (Behler-Parrinello): atom i's output is mlp_{Z_i}(x_i)."""

    def __init__(self, n_elements: int, n_in: int, hidden: list[int]):
        super().__init__()
        self.networks = torch.nn.ModuleList(mlp(n_in, hidden) for _ in range(n_elements))

    def forward(self, features: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        if len(self.networks) == 1:
            return self.networks[0](features).squeeze(-1)
        out = features.new_zeros(features.shape[0])
        for e, net in enumerate(self.networks):
            mask = species == e
            out = out.index_put((mask,), net(features[mask]).squeeze(-1))
        return out


class PerElementScaleShift(torch.nn.Module):
    """E_i = scale_Z * y_i + shift_Z + E0_Z: the network learns a unit-scale residual.

    E0 (``atomic_energies``) are the per-element reference energies fitted by least squares on
    the training set; ``scale`` is set from the force RMS and ``shift`` from the residual mean, so
    the network output starts near zero mean and unit variance (MACE ``AtomicEnergiesBlock`` and
    ``ScaleShiftBlock``, NequIP ``PerTypeScaleShift``). All three are fixed during training.
    """

    def __init__(self, n_elements: int):
        super().__init__()
        self.register_buffer("atomic_energies", torch.zeros(n_elements))
        self.register_buffer("scale", torch.ones(n_elements))
        self.register_buffer("shift", torch.zeros(n_elements))

    def forward(self, y: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return self.scale[species] * y + self.shift[species] + self.atomic_energies[species]


class Standardize(torch.nn.Module):
    """(x - mean_Z) / std_Z per element of the centre, with statistics from the training set."""

    def __init__(self, n_elements: int, n_features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_elements, n_features))
        self.register_buffer("std", torch.ones(n_elements, n_features))

    def forward(self, x: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[species]) / self.std[species]

    @torch.no_grad()
    def fit(self, features: torch.Tensor, species: torch.Tensor) -> None:
        for e in range(self.mean.shape[0]):
            x = features[species == e]
            if len(x) == 0:
                continue
            self.mean[e] = x.mean(0)
            # features that never vary (e.g. an absent neighbour element) keep unit scale
            std = x.std(0, unbiased=False) if len(x) > 1 else torch.ones_like(x[0])
            self.std[e] = torch.where(std > 1e-8 * (1 + x.abs().mean(0)), std, torch.ones_like(std))

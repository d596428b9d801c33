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
    """One network per element (Behler-Parrinello): atom i's output is mlp_{Z_i}(x_i).

    ``hidden`` gives the last hidden layer's activations h_i, ``last`` the final linear map
    y_i = w_Z . h_i + b_Z: the last-layer features used by uncertainty estimates.
    ``linear_path``: the inputs join the last hidden layer, h_i = [mlp hidden(x_i), x_i], so the
    output has a linear part in the features beside the network's (as MTP's linear model, or the
    linear readout of MACE's first layer), which extrapolates more tamely.
    """

    def __init__(self, n_elements: int, n_in: int, hidden: list[int], linear_path: bool = False):
        super().__init__()
        self.linear_path = bool(linear_path) and len(hidden) > 0  # a linear network is all linear path
        self.networks = torch.nn.ModuleList(mlp(n_in, hidden) for _ in range(n_elements))
        if self.linear_path:
            for net in self.networks:
                last = net[-1]
                net[-1] = torch.nn.Linear(last.in_features + n_in, 1)
                with torch.no_grad():  # the network's weights are kept (a fresh bias); the linear part starts small
                    net[-1].weight[:, : last.in_features] = last.weight
                    net[-1].weight[:, last.in_features:].mul_(0.1)

    @property
    def n_hidden(self) -> int:
        return self.networks[0][-1].in_features

    def _per_element(self, x: torch.Tensor, species: torch.Tensor, layers, width: int) -> torch.Tensor:
        if len(self.networks) == 1:
            return layers(self.networks[0])(x)
        out = x.new_zeros(x.shape[0], width)
        for e, net in enumerate(self.networks):
            mask = species == e
            out = out.index_put((mask,), layers(net)(x[mask]))
        return out

    def hidden(self, features: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        if self.linear_path:
            h = self._per_element(features, species, lambda net: net[:-1], self.n_hidden - features.shape[1])
            return torch.cat([h, features], dim=1)
        return self._per_element(features, species, lambda net: net[:-1], self.n_hidden)

    def last(self, hidden: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return self._per_element(hidden, species, lambda net: net[-1], 1).squeeze(-1)

    def forward(self, features: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        return self.last(self.hidden(features, species), species)


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


# a feature whose spread over the training set is below this fraction of its size is constant
# (float32 rounding of identical environments differs by ~1e-7 of the value)
CONSTANT_FEATURE_RTOL = 1e-5
# a feature whose spread is below this fraction of the largest spread among its element's
# features is negligible (the moment network's 5-body invariants sit at 1e-9 to 1e-5 of its
# 2-body ones; a symmetry function's far Gaussian tail at 1e-18)
NEGLIGIBLE_FEATURE_RTOL = 1e-13


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
            # features that never vary (e.g. an absent neighbour element) keep unit scale. The test
            # is relative to the feature's own size: high body-order invariants are products of
            # small moments (raw values ~1e-8) that vary as much as any other feature, and an
            # absolute threshold left them unscaled, i.e. dead (docs/results_log.md)
            x64 = x.double()
            std = x64.std(0, unbiased=False) if len(x) > 1 else torch.zeros_like(x64[0])
            rms = x64.pow(2).mean(0).sqrt()
            # ... and tails far below every other feature (a symmetry function's Gaussian tail at
            # 1e-18) are left unscaled too: scaled up, they would be noise with steep gradients
            varies = (std > CONSTANT_FEATURE_RTOL * rms) & (std > NEGLIGIBLE_FEATURE_RTOL * std.max())
            self.std[e] = torch.where(varies, std, torch.ones_like(std)).to(self.std.dtype)

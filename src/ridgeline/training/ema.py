"""Exponential moving average of the weights: the averaged weights are evaluated and saved."""

from __future__ import annotations

import torch


class EMA:
    """Averages the model's parameters; its buffers (feature statistics, neighbour averages, the
    core's switch radius) are copied, not averaged: they are set from the data, not trained, and
    an average of a constant drifts from it by float rounding."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.averaged = {k for k, _ in model.named_parameters()}
        self.n_updates = 0

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.n_updates += 1
        # warm-up (as in TensorFlow's ExponentialMovingAverage): early averages do not hold on to the init
        decay = min(self.decay, (1 + self.n_updates) / (10 + self.n_updates))
        for k, v in model.state_dict().items():
            if k in self.averaged:  # parameters are floating point
                self.shadow[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict:
        return {"shadow": self.shadow, "n_updates": self.n_updates}

    def load_state_dict(self, state: dict) -> None:
        self.shadow = {k: v.clone() for k, v in state["shadow"].items()}
        self.n_updates = int(state["n_updates"])

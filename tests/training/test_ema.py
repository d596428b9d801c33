"""The EMA averages parameters and copies buffers."""

import torch

from ridgeline.training.ema import EMA


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.register_buffer("statistics", torch.rand(7) * 3.0 + 0.1)  # set from data, never trained


def test_parameters_are_averaged_and_buffers_copied_exactly():
    torch.manual_seed(0)
    net = _Net()
    ema = EMA(net, decay=0.9)
    start = net.linear.weight.detach().clone()
    for step in range(40):
        with torch.no_grad():
            net.linear.weight.add_(0.1)
        ema.update(net)
    # a constant buffer stays bit for bit what the model holds (an average drifts by rounding)
    assert torch.equal(ema.shadow["statistics"], net.statistics)
    # parameters lag behind the model: between the start and the current weights
    shadow = ema.shadow["linear.weight"]
    assert torch.all(shadow > start + 1.0) and torch.all(shadow < net.linear.weight - 0.1)
    # a buffer changed by the data (a refit) is taken over at the next update
    net.statistics.mul_(2.0)
    ema.update(net)
    assert torch.equal(ema.shadow["statistics"], net.statistics)

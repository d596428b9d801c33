"""A committee's side of the ``variances.Variances`` protocol: the spread of an ensemble's members.

Variances are the members' sample variances (ddof 1; 0 for a committee of one); means are the
members' means, so a committee predicts what ``Ensemble.forward`` does. One forward pass serves
every member (``Ensemble.member_outputs`` shares the weight-free part) and one backward pass per
member gives its forces (``ForceStressOutput.members``).
"""

from __future__ import annotations

import numpy as np
import torch

from .. import keys
from ..models import ForceStressOutput
from ..models.ensemble import Ensemble
from .passes import readout_passes
from .variances import observable_gradient, training_descriptors


class CommitteeVariances:
    method = "ensemble"
    posterior = None  # the members are the posterior
    available = True

    def __init__(self, ensemble: Ensemble):
        self.ensemble = ensemble

    @property
    def readout_model(self):
        return self.ensemble.members[0]

    def _ddof(self, n_members: int) -> int:
        return 1 if n_members > 1 else 0

    def fit(self, frames, options, progress: bool = False):
        return training_descriptors(readout_passes(self.ensemble, frames, options.batch_size))

    def outputs(self, batch: dict, stress: bool = False) -> dict:
        outs = ForceStressOutput(self.ensemble).members(batch, stress=stress, readout=True)
        ddof = self._ddof(len(outs))
        stack = lambda key: torch.stack([o[key].detach() for o in outs])  # noqa: E731
        e, ei, f = stack(keys.ENERGY), stack(keys.ATOMIC_ENERGIES), stack(keys.FORCES)
        res = {
            keys.ENERGY: e.mean(0), "energy_var": e.var(0, correction=ddof),
            keys.ATOMIC_ENERGIES: ei.mean(0), "energies_var": ei.var(0, correction=ddof),
            keys.FORCES: f.mean(0), "forces_var": f.var(0, correction=ddof).mean(-1),
            "member_energy": e, "member_forces": f,
        }
        if stress:
            res[keys.STRESS] = stack(keys.STRESS).mean(0)
        res[keys.DESCRIPTORS] = outs[0][keys.DESCRIPTORS].detach()
        return res

    def energy_variance(self, batch: dict) -> torch.Tensor:
        energies = torch.stack([out[keys.ENERGY] for out in self.ensemble.member_outputs(batch)])  # (M, G)
        return energies.var(0, correction=self._ddof(len(energies)))

    def posterior_models(self, n: int, seed: int = 0) -> list:
        return list(self.ensemble.members)

    @torch.no_grad()
    def energy_covariance(self, batch: dict) -> tuple[np.ndarray, np.ndarray]:
        energies = torch.stack([out[keys.ENERGY] for out in self.ensemble.member_outputs(batch)]).double().numpy()
        if len(energies) < 2:
            return energies.mean(0), np.zeros((energies.shape[1],) * 2)
        return energies.mean(0), np.atleast_2d(np.cov(energies, rowvar=False, ddof=1))

    @torch.no_grad()
    def propagate(self, batch: dict, observable):
        energies = torch.stack([out[keys.ENERGY] for out in self.ensemble.member_outputs(batch)]).double()  # (M, S)
        value, g = observable_gradient(observable, energies.mean(0))
        dev = (energies - energies.mean(0)).numpy() @ g  # (M,)
        var = float(dev @ dev) / max(len(dev) - 1, 1)
        return value, var, [float(observable(e)) for e in energies]


__all__ = ["CommitteeVariances"]

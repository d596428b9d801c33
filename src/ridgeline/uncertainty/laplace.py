"""Last-layer Laplace approximation: a single-model uncertainty at almost no extra cost.

Each atomic energy is linear in the last layer of its element's readout network,
E_i = s_Z (w_Z . h_i + b_Z) + const, with h_i the last hidden layer. Treating (w_Z, b_Z) as a
Bayesian linear regression on the training environments phi_i = [h_i, 1] (a Gaussian posterior
with precision A_Z = sum_i phi_i phi_i^T + lambda_Z I; the linearised Laplace / GGN posterior of
the last layer, Daxberger et al. 2021, with one observation per training environment) gives

    var(E_i)  = s_Z^2 phi_i^T A_Z^-1 phi_i                    (per atom)
    var(E)    = sum_Z s_Z^2 Phi_Z^T A_Z^-1 Phi_Z,  Phi_Z = sum over atoms of Z of phi_i  (per structure)

up to the noise variance, which calibration (alpha) supplies. The force on atom k depends on the
energies of k and its neighbours; its variance is taken as the cutoff-weighted mean of theirs
(the exact linearised force variance needs one backward pass per last-layer weight, ~65x the
cost of a force call; this keeps the method at the cost of one model evaluation).
"""

from __future__ import annotations

import torch

from .. import keys
from ..nn.cutoff import PolynomialCutoff


class LastLayerLaplace:
    def __init__(self, n_elements: int, n_hidden: int, relative_prior: float = 1e-4):
        self.n_elements, self.n_hidden, self.relative_prior = n_elements, n_hidden, relative_prior
        self.gram = torch.zeros(n_elements, n_hidden + 1, n_hidden + 1, dtype=torch.float64)
        self.counts = torch.zeros(n_elements, dtype=torch.float64)
        self.covariance = None  # (K, H+1, H+1): A_Z^-1

    @staticmethod
    def design(hidden: torch.Tensor) -> torch.Tensor:
        return torch.cat([hidden, torch.ones_like(hidden[:, :1])], dim=1).double()

    def accumulate(self, hidden: torch.Tensor, species: torch.Tensor) -> None:
        phi = self.design(hidden.detach())
        for e in range(self.n_elements):
            p = phi[species == e]
            self.gram[e] += p.T @ p
            self.counts[e] += len(p)

    def finalize(self) -> "LastLayerLaplace":
        eye = torch.eye(self.n_hidden + 1, dtype=torch.float64)
        cov = []
        for e in range(self.n_elements):
            g = self.gram[e]
            prior = self.relative_prior * max(float(torch.trace(g)) / len(g), 1e-12)
            cov.append(torch.cholesky_inverse(torch.linalg.cholesky(g + prior * eye)))
        self.covariance = torch.stack(cov)
        return self

    def atomic_variance(self, hidden: torch.Tensor, species: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """s_Z^2 phi_i^T A_Z^-1 phi_i per atom (N,), in eV^2 before calibration."""
        phi = self.design(hidden.detach())
        lev = phi.new_zeros(len(phi))
        for e in range(self.n_elements):  # one (n_e, H+1) x (H+1, H+1) product per element
            mask = species == e
            lev[mask] = ((phi[mask] @ self.covariance[e].to(phi.device)) * phi[mask]).sum(1)
        return scale.double()[species] ** 2 * lev

    def energy_variance(self, hidden, species, structure, n_structures: int, scale) -> torch.Tensor:
        """Variance of each structure's energy (G,): the last layer's posterior, exactly."""
        phi = self.design(hidden.detach()) * scale.double()[species][:, None]
        var = phi.new_zeros(n_structures)
        for e in range(self.n_elements):
            mask = species == e
            big_phi = phi.new_zeros(n_structures, phi.shape[1]).index_add_(0, structure[mask], phi[mask])
            var += torch.einsum("gi,ij,gj->g", big_phi, self.covariance[e].to(phi.device), big_phi)
        return var

    @staticmethod
    def force_variance(atomic_var: torch.Tensor, batch: dict, lengths: torch.Tensor, cutoff: float) -> torch.Tensor:
        """Per-atom force variance (N,): mean of the atomic-energy variances of atom k and its
        neighbours, neighbours weighted by the smooth cutoff function of their distance."""
        i, j = batch[keys.EDGE_INDEX]
        w = PolynomialCutoff(cutoff)(lengths.detach().double())
        num = atomic_var.clone().index_add_(0, i, w * atomic_var[j])
        den = torch.ones_like(atomic_var).index_add_(0, i, w)
        return num / den

    def to_arrays(self) -> dict:
        return {"gram": self.gram, "counts": self.counts, "covariance": self.covariance}

    def params(self) -> dict:
        return {"n_elements": self.n_elements, "n_hidden": self.n_hidden, "relative_prior": self.relative_prior}

    @classmethod
    def from_arrays(cls, arrays: dict, params: dict) -> "LastLayerLaplace":
        obj = cls(**params)
        obj.gram, obj.counts, obj.covariance = arrays["gram"].double(), arrays["counts"].double(), arrays["covariance"].double()
        return obj

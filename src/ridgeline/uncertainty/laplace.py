"""Last-layer Laplace approximation: a single-model uncertainty at almost no extra cost.

Each atomic energy is linear in the last layer of its element's readout network,
E_i = s_Z (w_Z . h_i + b_Z) + const, with h_i the last hidden layer. Treating (w_Z, b_Z) as a
Bayesian linear regression on the training environments phi_i = [h_i, 1] (a Gaussian posterior
with precision A_Z = sum_i phi_i phi_i^T + lambda_Z I; the linearised Laplace / GGN posterior of
the last layer, Daxberger et al. 2021, with one observation per training environment) gives

    var(E_i)  = s_Z^2 phi_i^T A_Z^-1 phi_i                    (per atom)
    var(E)    = sum_Z s_Z^2 Phi_Z^T A_Z^-1 Phi_Z,  Phi_Z = sum over atoms of Z of phi_i  (per structure)

up to the noise variance, which calibration (alpha) supplies.

Forces are linear in the last layer too: F_a = -sum_Z s_Z w_Z . g_Za with g_Za = d(sum_{i of Z} h_i)/dr_a,
so the force components are observations of w as well. ``force_weight`` > 0 adds them to the
precision (the GGN of an energy + force loss): A_Z += force_weight * sum_{a,c} g g^T over the
training atoms and components (one vector-Jacobian product per hidden unit and element at fit time).
Without that, directions that only forces constrain stay as wide as the prior, and structures
the model has fitted closely (forces included) look as uncertain as new ones.

Force variance, three ways (``force_variance``):

- ``"linearised"``: the exact variance of the linear model, var(F_ac) = sum_Z s_Z^2 g^T Sigma_ww g,
  with Sigma_ww the weight block of the posterior covariance, truncated to its ``force_rank``
  leading eigenvectors (Sigma_ww ~ sum_k lambda_k u_k u_k^T): one backward pass per eigenvector and
  element present. It knows symmetry: where forces vanish for any weights (a strained perfect
  crystal), so does their variance.
- ``"directional"`` (default): a bond-resolved proxy at no extra cost. The force on atom a is a
  sum of contributions along its bonds; if the error of each bond's contribution is proportional
  to the uncertainty of the two atomic energies it joins, u_ab = (s_a + s_b) / 2 with
  s = sqrt(var(E_i)), and shares one sign over a neighbourhood (a systematic error of the fitted
  interaction, not noise), the force error is a random multiple of
  d_a = sum_b w(r_ab) u_ab r_ab/|r_ab|, and var(F_ac) ~ |d_a|^2 / 3, with w(r) = f_c(r) / r^2 the
  fall-off of a bond's share of the force (f_c, the smooth cutoff; the exponent 2 gave the best
  calibration on the validation split of docs/uncertainty.md's benchmark among 0, 2, 4, 6, 8;
  the scale is calibration's). Like the forces, d_a is an
  equivariant vector of the environment: it vanishes wherever symmetry makes the forces vanish
  (strained perfect crystals), and it is large where an environment is one-sided (surfaces).
- ``"proxy"`` (retired; read from older files only): the cutoff-weighted mean of
  the atomic-energy variances of the atom and its neighbours; blind to symmetry (a perfect
  crystal gets the same sigma as a disordered structure with the same environments' novelty),
  and worse ranked and calibrated than ``"directional"`` at the same cost.

:class:`LaplaceVariances` binds a posterior to its model and answers the ``variances.Variances``
protocol with it.
"""

from __future__ import annotations

import copy

import numpy as np

import torch
from tqdm.auto import tqdm

from .. import keys
from ..errors import ModelFileError
from ..models import ForceStressOutput
from ..names import FORCE_VARIANCES, LEGACY_FORCE_VARIANCES
from ..nn.cutoff import PolynomialCutoff
from .passes import feature_graphs, readout_passes
from .variances import observable_gradient, training_descriptors


class LastLayerLaplace:
    def __init__(self, n_elements: int, n_hidden: int, relative_prior: float = 1e-4, force_variance: str = "directional",
                 force_rank: int = 4, force_weight: float = 0.0):
        if force_variance not in FORCE_VARIANCES + LEGACY_FORCE_VARIANCES:
            raise ValueError(f"force_variance must be one of {', '.join(FORCE_VARIANCES)}, got {force_variance!r}")
        if int(force_rank) < 1:
            raise ValueError(f"force_rank must be >= 1, got {force_rank}")
        if not float(force_weight) >= 0:
            raise ValueError(f"force_weight must be >= 0, got {force_weight}")
        self.n_elements, self.n_hidden, self.relative_prior = n_elements, n_hidden, relative_prior
        self.force_variance, self.force_rank, self.force_weight = force_variance, int(force_rank), float(force_weight)
        self.gram = torch.zeros(n_elements, n_hidden + 1, n_hidden + 1, dtype=torch.float64)
        self.force_gram = torch.zeros(n_elements, n_hidden, n_hidden, dtype=torch.float64)
        self.counts = torch.zeros(n_elements, dtype=torch.float64)
        self.covariance = None  # (K, H+1, H+1): A_Z^-1
        self.directions = None  # (K, force_rank, H): sqrt(lambda_k) u_k of each element's Sigma_ww

    @staticmethod
    def design(hidden: torch.Tensor) -> torch.Tensor:
        return torch.cat([hidden, torch.ones_like(hidden[:, :1])], dim=1).double()

    def accumulate(self, hidden: torch.Tensor, species: torch.Tensor) -> None:
        phi = self.design(hidden.detach())
        for e in range(self.n_elements):
            p = phi[species == e]
            self.gram[e] += p.T @ p
            self.counts[e] += len(p)

    @staticmethod
    def feature_jacobians(hidden: torch.Tensor, positions: torch.Tensor, species: torch.Tensor, element: int) -> torch.Tensor:
        """d(sum_{i of element} h_i)/dr, (H, N, 3), one backward pass per hidden unit (on CPU a loop
        is faster than ``is_grads_batched``); ``hidden`` must carry the graph to ``positions``,
        which is kept for further calls."""
        mask = (species == element).to(hidden.dtype)
        rows = []
        for k in range(hidden.shape[1]):
            cot = torch.zeros_like(hidden)
            cot[:, k] = mask
            (g,) = torch.autograd.grad(hidden, positions, cot, retain_graph=True)
            rows.append(g.detach().double())
        return torch.stack(rows)

    def accumulate_forces(self, hidden: torch.Tensor, positions: torch.Tensor, species: torch.Tensor) -> None:
        """Add one batch's force observations, sum over atoms and components of g g^T, to the
        force Gram (``hidden``: the last hidden layer with its graph to ``positions``)."""
        for e in range(self.n_elements):
            if bool((species == e).any()):
                g = self.feature_jacobians(hidden, positions, species, e).reshape(self.n_hidden, -1)
                self.force_gram[e] += g @ g.T

    def finalize(self) -> "LastLayerLaplace":
        eye = torch.eye(self.n_hidden + 1, dtype=torch.float64)
        cov = []
        for e in range(self.n_elements):
            g = self.gram[e].clone()
            g[: self.n_hidden, : self.n_hidden] += self.force_weight * self.force_gram[e]
            prior = self.relative_prior * max(float(torch.trace(g)) / len(g), 1e-12)
            cov.append(torch.cholesky_inverse(torch.linalg.cholesky(g + prior * eye)))
        self.covariance = torch.stack(cov)
        self._directions()
        return self

    def _directions(self) -> None:
        """The leading eigenvectors of each element's Sigma_ww, scaled by sqrt(eigenvalue)."""
        k = min(self.force_rank, self.n_hidden)
        lam, u = torch.linalg.eigh(self.covariance[:, : self.n_hidden, : self.n_hidden])  # ascending
        lam, u = lam.flip(-1)[:, :k].clamp(min=0), u.flip(-1)[:, :, :k]
        self.directions = (u * lam.sqrt()[:, None, :]).transpose(1, 2).contiguous()  # (K, k, H)

    def atomic_variance(self, hidden: torch.Tensor, species: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """s_Z^2 phi_i^T A_Z^-1 phi_i per atom (N,), in eV^2 before calibration."""
        phi = self.design(hidden.detach())
        lev = phi.new_zeros(len(phi))
        for e in range(self.n_elements):  # one (n_e, H+1) x (H+1, H+1) product per element
            mask = species == e
            lev[mask] = ((phi[mask] @ self.covariance[e].to(phi.device)) * phi[mask]).sum(1)
        return scale.double()[species] ** 2 * lev

    def energy_variance(self, hidden, species, structure, n_structures: int, scale) -> torch.Tensor:
        """Variance of each structure's energy (G,): the last layer's posterior, exactly;
        differentiable in ``hidden`` (detach it unless a gradient is wanted)."""
        phi = self.design(hidden) * scale.double()[species][:, None]
        var = phi.new_zeros(n_structures)
        for e in range(self.n_elements):
            mask = species == e
            big_phi = phi.new_zeros(n_structures, phi.shape[1]).index_add_(0, structure[mask], phi[mask])
            var += torch.einsum("gi,ij,gj->g", big_phi, self.covariance[e].to(phi.device), big_phi)
        return var

    @staticmethod
    def force_variance_proxy(atomic_var: torch.Tensor, batch: dict, lengths: torch.Tensor, cutoff: float) -> torch.Tensor:
        """Per-atom force variance (N,): mean of the atomic-energy variances of atom k and its
        neighbours, neighbours weighted by the smooth cutoff function of their distance."""
        i, j = batch[keys.EDGE_INDEX]
        w = PolynomialCutoff(cutoff)(lengths.detach().double())
        num = atomic_var.clone().index_add_(0, i, w * atomic_var[j])
        den = torch.ones_like(atomic_var).index_add_(0, i, w)
        return num / den

    @staticmethod
    def force_variance_directional(atomic_var: torch.Tensor, batch: dict, vectors: torch.Tensor, lengths: torch.Tensor,
                                   cutoff: float) -> torch.Tensor:
        """Per-atom force variance (N,): |sum_b w(r_ab) (s_a + s_b)/2 r_ab/|r_ab||^2 / 3 with
        s = sqrt(atomic-energy variance), w(r) = f_c(r) / r^2, f_c the smooth cutoff function
        (``"directional"``)."""
        i, j = batch[keys.EDGE_INDEX]
        s = atomic_var.double().clamp(min=0).sqrt()
        lengths = lengths.double()
        weight = PolynomialCutoff(cutoff)(lengths) / lengths**2 * 0.5 * (s[i] + s[j])
        d = torch.zeros(len(s), 3, dtype=torch.float64, device=s.device)
        d.index_add_(0, i, weight[:, None] * vectors.double() / lengths[:, None])
        return (d**2).sum(1) / 3.0

    def linearised_force_variance(self, hidden: torch.Tensor, positions: torch.Tensor, species: torch.Tensor,
                                  scale: torch.Tensor, release: bool = True) -> torch.Tensor:
        """Per-atom force variance (N,), mean over the three components of s_Z^2 g^T Sigma_ww g,
        Sigma_ww truncated to ``force_rank`` directions: one vector-Jacobian product of ``hidden``
        (with its graph to ``positions``) per direction and element present. ``release``: free the
        graph with the last product."""
        work = [(e, d) for e in range(self.n_elements) if bool((species == e).any()) for d in self.directions[e]]
        var = torch.zeros(len(species), dtype=torch.float64, device=hidden.device)
        for n, (e, d) in enumerate(work):
            cot = torch.zeros_like(hidden)
            mask = species == e
            cot[mask] = (float(scale[e]) * d).to(device=hidden.device, dtype=hidden.dtype)
            (g,) = torch.autograd.grad(hidden, positions, cot, retain_graph=not (release and n == len(work) - 1))
            var += (g.detach().double() ** 2).sum(-1)
        return var / 3.0

    def to_arrays(self) -> dict:
        return {"gram": self.gram, "counts": self.counts, "covariance": self.covariance, "force_gram": self.force_gram}

    def params(self) -> dict:
        return {"n_elements": self.n_elements, "n_hidden": self.n_hidden, "relative_prior": self.relative_prior,
                "force_variance": self.force_variance, "force_rank": self.force_rank, "force_weight": self.force_weight}

    @classmethod
    def from_arrays(cls, arrays: dict, params: dict) -> "LastLayerLaplace":
        obj = cls(**params)  # older files' parameters are completed by models.upgrade
        obj.gram, obj.counts, obj.covariance = arrays["gram"].double(), arrays["counts"].double(), arrays["covariance"].double()
        if "force_gram" in arrays:
            obj.force_gram = arrays["force_gram"].double()
        obj._directions()
        return obj


class LaplaceVariances:
    """A single model's variances from its last-layer posterior (``posterior``: a fitted
    :class:`LastLayerLaplace`, or None until ``fit`` gives one)."""

    method = "laplace"

    def __init__(self, model, posterior: LastLayerLaplace | None = None):
        self.model, self.posterior = model, posterior

    @property
    def readout_model(self):
        return self.model

    @property
    def available(self) -> bool:
        return self.posterior is not None

    def _laplace(self) -> LastLayerLaplace:
        if self.posterior is None:
            raise ModelFileError("this model file has no uncertainty data: run `ridgeline uq calibrate` on it first")
        return self.posterior

    def fit(self, frames, options, progress: bool = False):
        """The posterior from ``frames`` (``options``: ``force_variance``, ``force_rank``, ``force_weight``,
        ``batch_size``): the training environments in one readout pass, the force observations
        (``force_weight`` > 0) in one more with the features' graphs."""
        laplace = LastLayerLaplace(len(self.model.elements), self.model.networks.n_hidden, force_variance=options.force_variance,
                                   force_rank=options.force_rank, force_weight=options.posterior_force_weight)
        arrays = training_descriptors(readout_passes(self.model, frames, options.batch_size), laplace.accumulate)
        if laplace.force_weight > 0:
            n_batches = -(-len(frames) // options.batch_size)
            for h, pos, s in tqdm(feature_graphs(self.model, frames, options.batch_size), total=n_batches, unit="batch",
                                  desc="posterior: force observations", leave=False, disable=not progress, dynamic_ncols=True):
                laplace.accumulate_forces(h, pos, s)
        laplace.finalize()
        self.posterior = laplace
        return arrays

    def outputs(self, batch: dict, stress: bool = False) -> dict:
        laplace, model = self._laplace(), self.model
        species = model.species(batch[keys.NUMBERS])
        n_graphs = len(batch[keys.N_ATOMS])
        linearised = laplace.force_variance == "linearised"
        if linearised:  # the features' graph to the positions is kept for the variance's backward passes
            batch = {**batch, keys.POSITIONS: batch[keys.POSITIONS].detach().requires_grad_(True)}
        out = ForceStressOutput(model)(batch, forces=True, stress=stress, readout=True, retain_graph=linearised)
        hidden, scale = out[keys.READOUT_FEATURES], model.scale_shift.scale
        ev = laplace.atomic_variance(hidden, species, scale)
        if linearised:
            fv = laplace.linearised_force_variance(hidden, batch[keys.POSITIONS], species, scale)
        else:
            vectors, lengths = model.edge_geometry(batch)
            if laplace.force_variance == "directional":
                fv = laplace.force_variance_directional(ev, batch, vectors.detach(), lengths.detach(), model.cutoff)
            else:
                fv = laplace.force_variance_proxy(ev, batch, lengths, model.cutoff)
        res = {
            keys.ENERGY: out[keys.ENERGY].detach(), keys.ATOMIC_ENERGIES: out[keys.ATOMIC_ENERGIES].detach(),
            keys.FORCES: out[keys.FORCES].detach(), keys.DESCRIPTORS: out[keys.DESCRIPTORS].detach(),
            "energy_var": laplace.energy_variance(hidden.detach(), species, batch[keys.BATCH], n_graphs, scale),
            "energies_var": ev,
            "forces_var": fv,
        }
        if stress:
            res[keys.STRESS] = out[keys.STRESS].detach()
        return res

    def energy_variance(self, batch: dict) -> torch.Tensor:
        laplace, model = self._laplace(), self.model
        hidden = model(batch, readout=True)[keys.READOUT_FEATURES]  # with its graph to the positions
        return laplace.energy_variance(hidden, model.species(batch[keys.NUMBERS]), batch[keys.BATCH],
                                       len(batch[keys.N_ATOMS]), model.scale_shift.scale)

    @torch.no_grad()
    def posterior_models(self, n: int, seed: int = 0) -> list:
        """``n`` deep copies of the model, each element's last layer (w_Z, b_Z) drawn from
        N(MAP, Sigma_Z) with one seeded generator; the rest of the network is the MAP's."""
        laplace = self._laplace()
        generator = torch.Generator().manual_seed(int(seed))
        factors = torch.linalg.cholesky(laplace.covariance)  # (K, H+1, H+1)
        models = []
        for _ in range(int(n)):
            model = copy.deepcopy(self.model)
            for e, net in enumerate(model.networks.networks):
                draw = factors[e] @ torch.randn(laplace.n_hidden + 1, generator=generator, dtype=torch.float64)
                last = net[-1]
                last.weight.add_(draw[:-1].to(last.weight)[None, :])
                last.bias.add_(draw[-1].to(last.bias))
            models.append(model)
        return models

    @torch.no_grad()
    def energy_covariance(self, batch: dict) -> tuple[np.ndarray, np.ndarray]:
        """C_st = sum_Z D_sZ Sigma_Z D_tZ^T, D_sZ = s_Z sum_{i in s, Z} phi_i (``propagate``'s
        Jacobian, one row per structure)."""
        laplace, model = self._laplace(), self.model
        species = model.species(batch[keys.NUMBERS])
        out = model(batch, readout=True)
        phi = laplace.design(out[keys.READOUT_FEATURES]) * model.scale_shift.scale.double()[species][:, None]
        n = len(batch[keys.N_ATOMS])
        covariance = torch.zeros(n, n, dtype=torch.float64)
        for e in range(laplace.n_elements):
            mine = species == e
            d = torch.zeros(n, phi.shape[1], dtype=torch.float64).index_add_(0, batch[keys.BATCH][mine], phi[mine])
            covariance += d @ laplace.covariance[e] @ d.T
        return out[keys.ENERGY].double().numpy(), covariance.numpy()

    @torch.no_grad()
    def propagate(self, batch: dict, observable):
        """var(f) = sum_Z (df/dw_Z)^T Sigma_Z (df/dw_Z), df/dw_Z = sum_s g_s s_Z sum_{i in s, Z} phi_i
        (g = df/dE): correlations between structures that share environments are kept."""
        laplace, model = self._laplace(), self.model
        species = model.species(batch[keys.NUMBERS])
        out = model(batch, readout=True)
        value, g = observable_gradient(observable, out[keys.ENERGY])
        phi = laplace.design(out[keys.READOUT_FEATURES]) * model.scale_shift.scale.double()[species][:, None]
        weight = torch.as_tensor(g)[batch[keys.BATCH]][:, None] * phi
        var = 0.0
        for e in range(laplace.n_elements):
            d = weight[species == e].sum(0)
            var += float(d @ laplace.covariance[e] @ d)
        return value, var, None

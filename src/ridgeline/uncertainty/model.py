"""A model that says how sure it is: predictions with calibrated sigmas and domain flags.

``UncertaintyModel`` wraps a model file. Its ``variances`` answer the ``variances.Variances``
protocol: for an ensemble file the members' spread (``committee.py``), for a single model the
last-layer Laplace variance (``laplace.py``); ``variances_for`` is the one place that picks.
``fit_uncertainty`` fits the posterior and the domain models on training frames and the variance
scales alpha on validation frames (``UncertaintyOptions``); ``save`` writes everything into one
model file (description entry ``uncertainty``, tensors under ``uq.``), which ``load``, the ASE
calculator and the CLI read back.

Sigmas are standard deviations: ``energy_sigma`` per structure (eV), ``energies_sigma`` per atom
(eV), ``forces_sigma`` per atom and Cartesian component (eV/Å, isotropic). Calibration multiplies
energy variances by ``alpha["energy"]``; force variances go through
sigma^2 = alpha["forces"] * var^alpha["forces_power"] + alpha["forces_floor"]^2 (power 1 and
floor 0 unless fitted, so a plain scale by default and in older files; ``calibration.fit_variance_map``);
``alpha["forces_nu"]``: the degrees of freedom of a Student-t predictive distribution of the force
errors (None: Gaussian), for intervals (``calibration.interval_half_width``) and likelihoods.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

from .. import keys
from ..errors import ConfigError, DataError, ModelFileError
from ..models.ensemble import Ensemble
from ..models.io import load_extra_tensors, load_model, save_model
from ..names import DEFAULT_DOMAINS
from .calibration import apply_variance_map, fit_variance_map, fit_variance_scale
from .committee import CommitteeVariances
from .domain import DOMAIN_MODELS
from .laplace import LaplaceVariances, LastLayerLaplace
from .options import UncertaintyOptions
from .passes import frame_batches
from .variances import Variances

# numpy's BLAS keeps threads of its own that spin after each call and take the cores from torch's
# next forward pass: through the calculator with both threads, a committee's calibrated call took
# 141 ms with them, 68 ms with the limit below (docs/results_log.md). The domain scores run with
# one BLAS thread (they are small products, n_atoms x n_features)
_BLAS = ThreadpoolController()

DOMAINS = DOMAIN_MODELS  # name -> domain model class, one per names.DOMAIN_METHODS
# energy variances * alpha["energy"]; force variances -> alpha["forces"] * var^forces_power + forces_floor^2
DEFAULT_ALPHA = {"energy": 1.0, "forces": 1.0, "forces_power": 1.0, "forces_floor": 0.0, "forces_nu": None}


@dataclass
class UQPredictions:
    """Predictions with sigmas over a set of frames (arrays concatenated over frames / atoms)."""

    n_atoms: np.ndarray  # (F,)
    config_type: np.ndarray  # (F,) str
    numbers: np.ndarray  # (N,)
    energy: np.ndarray  # (F,) eV
    energy_sigma: np.ndarray  # (F,) eV
    forces: np.ndarray  # (N, 3) eV/Å
    forces_sigma: np.ndarray  # (N,) eV/Å per component
    forces_sigma_raw: np.ndarray | None = None  # (N,) before calibration
    energy_ref: np.ndarray | None = None
    forces_ref: np.ndarray | None = None
    domain_scores: dict = field(default_factory=dict)  # name -> (N,)
    domain_flags: dict = field(default_factory=dict)  # name -> (N,) bool

    @property
    def frame_of_atom(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.n_atoms)), self.n_atoms)

    @property
    def config_type_of_atom(self) -> np.ndarray:
        return self.config_type[self.frame_of_atom]


def variances_for(model, laplace: LastLayerLaplace | None = None) -> Variances:
    """The variances that serve ``model``: an ensemble's spread, or a single model's last-layer
    posterior (``laplace``; None: none fitted yet)."""
    if isinstance(model, Ensemble):
        if laplace is not None:
            raise ModelFileError("an ensemble's uncertainty is its members' spread: it takes no last-layer posterior")
        return CommitteeVariances(model)
    return LaplaceVariances(model, laplace)


class UncertaintyModel:
    def __init__(self, model, laplace: LastLayerLaplace | None = None, alpha: dict | None = None,
                 domains: dict | None = None, description: dict | None = None):
        self.model = model
        self.variances = variances_for(model, laplace)
        self.alpha = {**DEFAULT_ALPHA, **(alpha or {})}
        self.domains = dict(domains or {})
        self.description = description or {}
        self.dtype = next(model.parameters()).dtype
        self.device = next(model.parameters()).device

    @property
    def method(self) -> str:
        return self.variances.method

    @property
    def laplace(self) -> LastLayerLaplace | None:
        """A single model's last-layer posterior (None for an ensemble, or before calibration)."""
        return self.variances.posterior

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    # ------------------------------------------------------------------ files
    @classmethod
    def load(cls, path, device="cpu", dtype=None) -> "UncertaintyModel":
        model, desc = load_model(path, device=device, dtype=dtype)
        uq = desc.get("uncertainty") or {}
        arrays = load_extra_tensors(path) if uq else {}

        def under(prefix):
            return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

        try:
            laplace = LastLayerLaplace.from_arrays(under("laplace."), uq["laplace"]) if "laplace" in uq else None
            domains = {name: DOMAINS[name].from_arrays({k: v.numpy() for k, v in under(f"domain.{name}.").items()}, params)
                       for name, params in uq.get("domain", {}).items()}
        except (KeyError, ValueError) as err:
            raise ModelFileError(f"{path}: uncertainty data are incomplete or inconsistent: {err}") from None
        return cls(model, laplace, uq.get("alpha"), domains, desc)

    def save(self, path) -> None:
        uq, tensors = {"method": self.method, "alpha": self.alpha}, {}
        if self.laplace is not None:
            uq["laplace"] = self.laplace.params()
            tensors.update({f"uq.laplace.{k}": v for k, v in self.laplace.to_arrays().items()})
        uq["domain"] = {}
        for name, dom in self.domains.items():
            uq["domain"][name] = dom.params()
            tensors.update({f"uq.domain.{name}.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in dom.to_arrays().items()})
        extra = {k: v for k, v in self.description.items() if k == "training"}
        save_model(self.model, path, extra={**extra, "uncertainty": uq}, tensors=tensors)

    # ------------------------------------------------------------- prediction
    def outputs(self, batch: dict, stress: bool = False) -> dict:
        """Uncalibrated variances and means for one batch (torch tensors, detached;
        ``variances.Variances.outputs``), plus the atoms' ``species``."""
        res = self.variances.outputs(batch, stress)
        res["species"] = self.model.species(batch[keys.NUMBERS])
        return res

    def forces_sigma(self, forces_var) -> np.ndarray:
        """Calibrated per-atom force sigma from the uncalibrated variance (``outputs()["forces_var"]``)."""
        a = self.alpha
        return np.sqrt(apply_variance_map(forces_var, a["forces"], a["forces_power"], a["forces_floor"]))

    def predict_batch(self, batch: dict, stress: bool = False, domain=DEFAULT_DOMAINS) -> dict:
        """Calibrated sigmas and domain scores/flags for one batch, as numpy arrays."""
        res = self.outputs(batch, stress)
        a_e = self.alpha["energy"]
        np_ = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
        fv = np_(res["forces_var"])
        out = {
            "energy": np_(res[keys.ENERGY]), "energy_sigma": np.sqrt(a_e * np_(res["energy_var"])),
            "energies": np_(res[keys.ATOMIC_ENERGIES]), "energies_sigma": np.sqrt(a_e * np_(res["energies_var"])),
            "forces": np_(res[keys.FORCES]), "forces_sigma": self.forces_sigma(fv), "forces_sigma_raw": np.sqrt(np.maximum(fv, 0.0)),
        }
        if stress:
            out["stress"] = np_(res[keys.STRESS])
        if "member_energy" in res:
            out["member_energy"], out["member_forces"] = np_(res["member_energy"]), np_(res["member_forces"])
        x, species = np_(res[keys.DESCRIPTORS]), res["species"].cpu().numpy()
        for name in domain or ():
            if name not in self.domains:
                raise ConfigError(f"domain model {name!r} not fitted for this model (fitted: {', '.join(self.domains) or 'none'})")
            with _BLAS.limit(limits=1, user_api="blas"):
                score = self.domains[name].score(x, species)
            out[f"domain_{name}"] = score
            # unknown threshold (element absent from training) or infinite score: out of domain
            out[f"out_of_domain_{name}"] = ~(score <= self.domains[name].threshold[species])
        return out

    def predict(self, frames, batch_size: int = 8, domain=DEFAULT_DOMAINS) -> UQPredictions:
        rows: dict[str, list] = {}
        for batch in frame_batches(self.model, frames, batch_size):
            for k, v in self.predict_batch(batch, domain=domain).items():
                rows.setdefault(k, []).append(v)
        cat = {k: np.concatenate(v) for k, v in rows.items() if not k.startswith("member_")}
        has_e = all(f.energy is not None for f in frames)
        has_f = all(f.forces is not None for f in frames)
        return UQPredictions(
            n_atoms=np.array([len(f) for f in frames]),
            config_type=np.array([f.config_type for f in frames], dtype=object),
            numbers=np.concatenate([f.numbers for f in frames]),
            energy=cat["energy"], energy_sigma=cat["energy_sigma"], forces=cat["forces"], forces_sigma=cat["forces_sigma"],
            forces_sigma_raw=cat["forces_sigma_raw"],
            energy_ref=np.array([f.energy for f in frames], dtype=float) if has_e else None,
            forces_ref=np.concatenate([f.forces for f in frames]) if has_f else None,
            domain_scores={n: cat[f"domain_{n}"] for n in domain or ()},
            domain_flags={n: cat[f"out_of_domain_{n}"] for n in domain or ()},
        )

    # ------------------------------------------------------------ calibration
    def calibrate(self, frames, batch_size: int = 8, criterion: str = "area", floor: bool = False,
                  power: bool = False, tails: bool = False, progress: bool = False) -> dict:
        """Fit the calibration on validation frames: alpha of the energies (a scale,
        ``calibration.fit_variance_scale``) and the force variance map (``fit_variance_map``: the
        scale alpha, and if asked a noise ``floor`` and a ``power``; ``"area"`` matches the
        calibration curve, ``"nll"`` maximises the likelihood). The floor serves forces at the
        round-off level (symmetric structures), but it also gives the area criterion a second
        parameter to match the validation set with: it helps only where that set resembles the
        data the model will see (``docs/uncertainty.md``), so it is not the default. ``tails``: fit
        the force errors' distribution too, a Student t (heavy tails) or the Gaussian, whichever
        fits the validation errors better (``alpha["forces_nu"]``). ``progress``: a progress bar
        over the force map's search."""
        self.alpha = dict(DEFAULT_ALPHA)
        p = self.predict(frames, batch_size, domain=())
        if p.energy_ref is None or p.forces_ref is None:
            raise DataError("calibration frames need reference energies and forces")
        fmap = fit_variance_map(p.forces - p.forces_ref, np.repeat(p.forces_sigma_raw[:, None], 3, axis=1), criterion,
                                floor=floor, power=power, tails=tails, progress=progress)
        self.alpha = {
            "energy": fit_variance_scale((p.energy - p.energy_ref) / p.n_atoms, p.energy_sigma / p.n_atoms, criterion),
            "forces": fmap["alpha"], "forces_power": fmap["power"], "forces_floor": fmap["floor"], "forces_nu": fmap["nu"],
            "criterion": criterion,
        }
        return self.alpha


def fit_uncertainty(model, train_frames, valid_frames, options: UncertaintyOptions | None = None,
                    description: dict | None = None, *, progress: bool = False) -> UncertaintyModel:
    """Posterior (single models) and domain models from ``train_frames``; the calibration from
    ``valid_frames`` (held out from training: calibrating on training frames is overconfident;
    None or empty: no calibration). ``options``: what is fitted (:class:`UncertaintyOptions`,
    its defaults if None). ``description``: the model file's, whose training record is kept.
    ``progress``: progress bars for the steps that take more than a few seconds."""
    options = UncertaintyOptions() if options is None else options
    variances = variances_for(model)
    x, s = variances.fit(train_frames, options, progress=progress)
    n_el = len(model.elements)
    fitted = {}
    for name in options.domains:
        kwargs = ({"quantile": options.confidence} if name == "nearest" else
                  {"confidence": options.confidence} if name == "mahalanobis" else {})
        fitted[name] = DOMAINS[name](**kwargs).fit(x, s, n_el)
    uq = UncertaintyModel(model, variances.posterior, None, fitted, description)
    if valid_frames is not None and len(valid_frames):
        uq.calibrate(valid_frames, options.batch_size, options.criterion, floor=options.floor, power=options.power,
                     tails=options.tails, progress=progress)
    return uq


__all__ = ["UncertaintyModel", "UQPredictions", "UncertaintyOptions", "fit_uncertainty", "variances_for",
           "DOMAINS", "DEFAULT_DOMAINS", "DEFAULT_ALPHA"]

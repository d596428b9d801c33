"""Predictions over a dataset and the error metrics users compare codes by.

Units: energy errors in meV/atom (|E_pred - E_ref| / N per frame), force errors in eV/Å over all
Cartesian components, stress errors in GPa over the 6 independent components.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ase.data import chemical_symbols

from .. import keys
from ..data.dataset import GraphDataset, make_loader
from ..models import ForceStressOutput

EV_PER_A3_IN_GPA = 160.21766208
_VOIGT = ([0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1])


@dataclass
class Predictions:
    """Per-frame and per-atom predictions next to the references (NaN where a label is absent)."""

    n_atoms: np.ndarray  # (F,)
    config_type: np.ndarray  # (F,) str
    energy_pred: np.ndarray  # (F,) eV
    energy_ref: np.ndarray
    numbers: np.ndarray  # (N,)
    forces_pred: np.ndarray  # (N, 3)
    forces_ref: np.ndarray
    stress_pred: np.ndarray  # (F, 6) eV/Å^3, Voigt
    stress_ref: np.ndarray

    @property
    def frame_of_atom(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.n_atoms)), self.n_atoms)

    def subset(self, frames: np.ndarray) -> "Predictions":
        atoms = np.isin(self.frame_of_atom, np.flatnonzero(frames))
        return Predictions(
            self.n_atoms[frames], self.config_type[frames], self.energy_pred[frames], self.energy_ref[frames],
            self.numbers[atoms], self.forces_pred[atoms], self.forces_ref[atoms],
            self.stress_pred[frames], self.stress_ref[frames],
        )


def predict(model, frames, batch_size: int = 8, stress: bool | None = None, device="cpu", dataset=None) -> Predictions:
    """Run ``model`` (an EnergyModel) over a sequence of frames (``dataset``: their cached graphs)."""
    dtype = next(model.parameters()).dtype
    if stress is None:
        stress = any(f.stress is not None for f in frames)
    wrapper = ForceStressOutput(model)
    out = {k: [] for k in ("e", "e_ref", "f", "f_ref", "s", "s_ref")}
    dataset = dataset if dataset is not None else GraphDataset(frames, model.cutoff, cache=False)
    for batch in make_loader(dataset, batch_size, shuffle=False, dtype=dtype):
        batch = {k: v.to(device) for k, v in batch.items()}
        pred = wrapper(batch, forces=True, stress=stress)
        nan_if = lambda x, has: torch.where(has.reshape(-1, *[1] * (x.dim() - 1)), x, torch.nan)  # noqa: E731
        out["e"].append(pred[keys.ENERGY].detach())
        out["e_ref"].append(nan_if(batch[keys.ENERGY], batch[keys.HAS_ENERGY]))
        out["f"].append(pred[keys.FORCES].detach())
        out["f_ref"].append(nan_if(batch[keys.FORCES], batch[keys.HAS_FORCES]))
        s = pred[keys.STRESS].detach() if stress else torch.full_like(batch[keys.STRESS], torch.nan)
        out["s"].append(s[:, _VOIGT[0], _VOIGT[1]])
        out["s_ref"].append(nan_if(batch[keys.STRESS], batch[keys.HAS_STRESS])[:, _VOIGT[0], _VOIGT[1]])
    cat = {k: torch.cat(v).cpu().double().numpy() for k, v in out.items()}
    return Predictions(
        n_atoms=np.array([len(f) for f in frames]),
        config_type=np.array([f.config_type for f in frames], dtype=object),
        energy_pred=cat["e"], energy_ref=cat["e_ref"],
        numbers=np.concatenate([f.numbers for f in frames]),
        forces_pred=cat["f"], forces_ref=cat["f_ref"],
        stress_pred=cat["s"], stress_ref=cat["s_ref"],
    )


def _errors(diff: np.ndarray) -> tuple[float, float]:
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return float("nan"), float("nan")
    return float(np.mean(np.abs(diff))), float(np.sqrt(np.mean(diff**2)))


def error_metrics(p: Predictions) -> dict:
    e_mae, e_rmse = _errors(1000.0 * (p.energy_pred - p.energy_ref) / p.n_atoms)
    f_mae, f_rmse = _errors(p.forces_pred - p.forces_ref)
    s_mae, s_rmse = _errors(EV_PER_A3_IN_GPA * (p.stress_pred - p.stress_ref))
    return {
        "n_frames": int(len(p.n_atoms)),
        "n_atoms": int(p.n_atoms.sum()),
        "energy_mae": e_mae, "energy_rmse": e_rmse,
        "forces_mae": f_mae, "forces_rmse": f_rmse,
        "stress_mae": s_mae, "stress_rmse": s_rmse,
    }


def compute_metrics(p: Predictions) -> dict:
    """Overall errors, then the same per ``config_type``; force errors also per element."""
    result = error_metrics(p)
    result["per_config_type"] = {ct: error_metrics(p.subset(p.config_type == ct)) for ct in sorted(set(p.config_type))}
    per_element = {}
    for z in sorted(set(p.numbers.tolist())):
        mask = p.numbers == z
        mae, rmse = _errors(p.forces_pred[mask] - p.forces_ref[mask])
        per_element[chemical_symbols[z]] = {"forces_mae": mae, "forces_rmse": rmse, "n_atoms": int(mask.sum())}
    result["per_element"] = per_element
    return result

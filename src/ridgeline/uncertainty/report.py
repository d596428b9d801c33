"""How good the uncertainties are on a labelled data set: calibration, ranking, domain flags.

Force figures are per atom: sigma is the predicted per-component standard deviation, the error
|dF| the norm of the atom's force error vector (ranked by Spearman's rho); calibration (NLL,
ECE, miscalibration area) uses the force components with their atom's sigma.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes
from .calibration import calibration_curve, calibration_summary, reliability_diagram, spearman
from .model import UQPredictions, UncertaintyModel


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for finding ``positive``: the Mann-Whitney U of the
    positives' scores against the negatives', over n_pos * n_neg (ties count 1/2)."""
    from scipy.stats import mannwhitneyu

    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    scores = np.where(np.isfinite(scores), scores, np.finfo(float).max)  # out of domain by any measure
    return float(mannwhitneyu(scores[positive], scores[~positive]).statistic / (n_pos * n_neg))


def force_statistics(p: UQPredictions, alpha: float, mask=None, nu: float | None = None) -> dict:
    """Calibration and ranking of force sigmas (already calibrated in ``p``; ``alpha`` the force
    scale, to recover the raw sigmas when ``p`` lacks ``forces_sigma_raw``; ``nu`` the calibrated
    predictive distribution's degrees of freedom, None: Gaussian)."""
    mask = np.ones(len(p.forces_sigma), bool) if mask is None else mask
    err = (p.forces - p.forces_ref)[mask]
    sigma = p.forces_sigma[mask]
    # "before" = the raw (uncalibrated) sigma, "after" = as predicted
    raw = sigma / np.sqrt(alpha) if p.forces_sigma_raw is None else p.forces_sigma_raw[mask]
    raw = np.maximum(raw, np.finfo(float).tiny)  # a linearised variance is exactly 0 on a lone atom
    rep = lambda x: np.repeat(x[:, None], 3, axis=1)  # noqa: E731
    summary = calibration_summary(err, rep(raw), alpha, calibrated=rep(sigma), nu=nu)
    summary["spearman"] = spearman(sigma, np.linalg.norm(err, axis=1))
    summary["forces_mae"] = float(np.abs(err).mean())
    summary["mean_sigma"] = float(sigma.mean())
    return summary


def uncertainty_report(uq: UncertaintyModel, frames, out_dir, domains=None, title: str = "") -> dict:
    """Figures, a reliability diagram and a sigma-vs-error plot for ``frames``; returns the table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    domains = tuple(uq.domains) if domains is None else tuple(domains)
    p = uq.predict(frames, domain=domains)
    if p.forces_ref is None or p.energy_ref is None:
        raise ValueError("an uncertainty report needs frames with reference energies and forces")
    result = {"method": uq.method, "alpha": uq.alpha, "n_frames": len(frames), "n_atoms": int(p.n_atoms.sum())}
    nu = uq.alpha.get("forces_nu")
    result["forces"] = force_statistics(p, uq.alpha["forces"], nu=nu)
    e_err, e_sig = (p.energy - p.energy_ref) / p.n_atoms, p.energy_sigma / p.n_atoms
    if len(e_err) > 1:
        result["energy"] = calibration_summary(e_err, e_sig / np.sqrt(uq.alpha["energy"]), uq.alpha["energy"])
    ct = p.config_type_of_atom
    result["per_config_type"] = {}
    for name in sorted(set(ct)):
        row = force_statistics(p, uq.alpha["forces"], ct == name, nu=nu)
        row["n_atoms"] = int((ct == name).sum())
        for d in domains:
            row[f"flagged_{d}"] = float(p.domain_flags[d][ct == name].mean())
        result["per_config_type"][name] = row
    big = np.abs(p.forces - p.forces_ref).mean(1) > 3 * result["forces"]["forces_mae"]
    result["domain"] = {d: {"flagged": float(p.domain_flags[d].mean()),
                            "auc_score": roc_auc(p.domain_scores[d], big), "auc_flag": roc_auc(p.domain_flags[d], big)}
                        for d in domains}
    curves = {"forces (raw)": calibration_curve(p.forces - p.forces_ref, np.repeat(np.maximum(p.forces_sigma_raw, np.finfo(float).tiny)[:, None], 3, 1)),
              "forces (calibrated)": calibration_curve(p.forces - p.forces_ref, np.repeat(p.forces_sigma[:, None], 3, 1), nu=nu)}
    reliability_diagram(curves, out / "reliability.png", title=title or f"{uq.method}: {len(frames)} frames")
    _scatter(p, out / "sigma_vs_error.png", title)
    atomic_write_bytes(out / "uq_report.json", json.dumps(result, indent=2, default=float).encode())
    atomic_write_bytes(out / "uq_report.md", markdown(result).encode())
    return result


def markdown(r: dict) -> str:
    f, a = r["forces"], r["alpha"]
    shape = "".join([f", power {a['forces_power']:.3g}" if a.get("forces_power", 1.0) != 1.0 else "",
                     f", floor {a['forces_floor']:.3g} eV/Å" if a.get("forces_floor", 0.0) else "",
                     f", Student t nu {a['forces_nu']:.3g}" if a.get("forces_nu") is not None else ""])
    lines = [f"# Uncertainty report ({r['method']}, alpha forces {a['forces']:.3g}{shape}, energy {a['energy']:.3g})", "",
             f"{r['n_frames']} frames, {r['n_atoms']} atoms.", "",
             "| set | atoms | F MAE (eV/Å) | mean sigma | Spearman rho | ECE raw | ECE calibrated | NLL raw | NLL calibrated |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = [("all", {**f, "n_atoms": r["n_atoms"]})] + list(r["per_config_type"].items())
    for name, s in rows:
        lines.append(f"| {name} | {s['n_atoms']} | {s['forces_mae']:.4f} | {s['mean_sigma']:.4f} | {s['spearman']:.3f} | "
                     f"{s['ece_before']:.3f} | {s['ece_after']:.3f} | {s['nll_before']:.3g} | {s['nll_after']:.3g} |")
    if r["domain"]:
        lines += ["", "| domain model | fraction flagged | ROC AUC (score) | ROC AUC (flag) |", "|---|---|---|---|"]
        for d, s in r["domain"].items():
            lines.append(f"| {d} | {s['flagged']:.3f} | {s['auc_score']:.3f} | {s['auc_flag']:.3f} |")
        lines += ["", "AUC: finding atoms whose mean absolute force-component error exceeds 3x the set's force MAE."]
    return "\n".join(lines) + "\n"


def _scatter(p: UQPredictions, path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.2))
    ax = fig.add_subplot()
    err = np.linalg.norm(p.forces - p.forces_ref, axis=1) / np.sqrt(3)
    for name in sorted(set(p.config_type_of_atom)):
        m = p.config_type_of_atom == name
        ax.loglog(p.forces_sigma[m], err[m], ".", ms=2, alpha=0.5, label=name)
    lo, hi = max(min(p.forces_sigma.min(), err[err > 0].min()), 1e-6), max(p.forces_sigma.max(), err.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("predicted force sigma (eV/Å)")
    ax.set_ylabel("|force error| / sqrt(3) (eV/Å)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, markerscale=4)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(path, buf.getvalue())

"""Checks of a data file's stress labels against a model's stresses (exact strain derivatives of
its energy): a shear order other than ASE's Voigt order, and an isotropic offset.

Stress files come through many converters (VASP's OUTCAR order is xx yy zz xy yz zx, ASE's Voigt
order xx yy zz yz xz xy; pymatgen and others have their own), and a shear order mixed up in
conversion is silent: the labels look like stresses, the fit just gets worse. A model trained on
energies and forces alone predicts shear stresses that are physical, so the order that agrees
with them best is the labels' true one. The mlearn Si/Mo files were found this way with yz and
xz swapped in every group but Si's Elastic one (docs/results_log.md).

An isotropic offset (the mean of reference minus model over the normal components) of a whole
group, such as a plane-wave code's Pulay stress, is reported beside it.

Use a model trained without stress (or on labels already checked): one fitted to mislabelled
stresses is biased towards them.
"""

from __future__ import annotations

import itertools

import numpy as np

from .metrics import EV_PER_A3_IN_GPA, Predictions

SHEAR = ("yz", "xz", "xy")  # ASE's Voigt order of the shear components (indices 3, 4, 5)
# frames whose shear labels differ less than this (GPa) cannot tell the orders apart
DECIDABLE_GPA = 0.3
# an order is flagged when it agrees with the model this many times better than the file's
FLAG_RATIO = 2.0


def _orders():
    """(name, permutation of the three shear components, sign): the file's own order first."""
    for perm in itertools.permutations(range(3)):
        for sign in (1.0, -1.0):
            yield " ".join(("-" if sign < 0 else "") + SHEAR[k] for k in perm), perm, sign


def check_stress_labels(p: Predictions) -> dict:
    """Per config_type (frames with a stress label): the shear MAE (GPa) of the labels as given
    and read in the best other order, which order that is, whether it is flagged, and the
    isotropic offset (mean and spread over the frames, GPa). Empty without stress labels.

    A group without a frame whose shear labels can tell the orders apart (all below
    ``DECIDABLE_GPA``: isotropic or unsheared cells) is ``undecidable``: its shear MAEs and best
    order are None, and it is never flagged."""
    has = np.isfinite(p.stress_ref).all(axis=1) & np.isfinite(p.stress_pred).all(axis=1)
    out = {}
    for ct in sorted(set(p.config_type[has])):
        m = has & (p.config_type == ct)
        pred, ref = EV_PER_A3_IN_GPA * p.stress_pred[m], EV_PER_A3_IN_GPA * p.stress_ref[m]
        shear_pred, shear_ref = pred[:, 3:], ref[:, 3:]
        # frames whose shear labels are large enough to tell the orders (and signs) apart
        decidable = np.abs(shear_ref).max(axis=1) > DECIDABLE_GPA
        given, best, errors = " ".join(SHEAR), None, {}
        if decidable.any():
            errors = {name: float(np.abs(shear_pred - sign * shear_ref[:, list(perm)])[decidable].mean())
                      for name, perm, sign in _orders()}
            best = min((n for n in errors if n != given), key=lambda n: errors[n])
        offset = (ref[:, :3] - pred[:, :3]).mean(axis=1)
        out[ct] = {
            "n_frames": int(m.sum()),
            "n_decidable": int(decidable.sum()),
            "undecidable": best is None,
            "shear_mae_as_given": errors.get(given),
            "best_other_order": best,
            "shear_mae_best_other": errors.get(best),
            "flagged": best is not None and errors[best] * FLAG_RATIO < errors[given],
            "isotropic_offset": float(offset.mean()),
            "isotropic_offset_std": float(offset.std()),
        }
    return out


def stress_label_warnings(check: dict, source: str) -> list[str]:
    """One line per flagged group, naming the file and group and the order its labels fit."""
    return [
        f"{source}: config_type {ct!r} ({c['n_decidable']} frames with shear stress): the shear labels agree with the model "
        f"{c['shear_mae_as_given'] / max(c['shear_mae_best_other'], 1e-12):.0f}x better read as ({c['best_other_order']}) than as "
        f"given ({c['shear_mae_best_other']:.3f} against {c['shear_mae_as_given']:.3f} GPa): the file's shear components are "
        f"probably not in ASE's Voigt order (xx yy zz yz xz xy)"
        for ct, c in check.items() if c["flagged"]
    ]


def _shear_columns(c: dict) -> str:
    if c["undecidable"]:
        return f"undecidable (no frame with shear labels above {DECIDABLE_GPA} GPa) | - | -"
    return f"{c['shear_mae_as_given']:.3f} | {c['best_other_order']} | {c['shear_mae_best_other']:.3f}"


def stress_check_table(check: dict) -> str:
    head = ("| config_type | frames | shear MAE as given (GPa) | best other order | its shear MAE | flagged | "
            "isotropic offset ref - model (GPa) |\n|---|---|---|---|---|---|---|")
    rows = [f"| {ct} | {c['n_frames']} | {_shear_columns(c)} | {'yes' if c['flagged'] else 'no'} | "
            f"{c['isotropic_offset']:+.2f} ± {c['isotropic_offset_std']:.2f} |" for ct, c in check.items()]
    return "\n".join([head, *rows])

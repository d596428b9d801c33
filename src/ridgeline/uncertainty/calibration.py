"""Calibration of Gaussian predictive uncertainties for regression.

A model predicts, for each target, a standard deviation ``sigma``; ``errors`` are
prediction minus reference. The predictive distribution is taken as N(0, alpha * sigma^2),
where ``alpha`` is a single variance scale (alpha = 1: the raw sigmas). The
maximum-likelihood alpha, mean(err^2 / sigma^2), is the variance-scaling recalibration of
Levi et al. 2022 ("Evaluating and calibrating uncertainty prediction in regression tasks").
Calibration curves, the expected calibration error and the miscalibration area use central
intervals of the Gaussian, following Kuleshov et al. 2018 ("Accurate uncertainties for deep
learning using calibrated regression") and the Uncertainty Toolbox (Tran et al. 2020).

A single scale cannot serve errors that sit at the numerical noise floor: forces that vanish
by symmetry (strained perfect crystals) are predicted to ~1e-6 eV/Å, and a model's spread there is
round-off too. ``fit_variance_map`` fits sigma^2 -> alpha * sigma^(2 b) + floor^2: the floor is the
additive noise variance of a Gaussian predictive distribution (label noise, numerical precision;
the sigma_n^2 of Bayesian linear regression), the power b an optional second shape parameter.

Force errors are heavy-tailed: even the best scale leaves a Gaussian's central intervals too wide
for the bulk and too narrow for the tails (ECE ~0.05 for a 5-member ensemble on mlearn Si, with
the scale fitted on the test set itself). ``nu`` (degrees of freedom, > 2) makes the predictive
distribution a Student t with standard deviation sigma, the posterior predictive of a Gaussian
whose variance is itself uncertain (inverse-gamma; the evidential / normal-inverse-gamma form of
Amini et al. 2020); ``nu=None`` is the Gaussian. Every function that uses intervals or likelihoods
takes ``nu``; ``fit_variance_map(tails=True)`` fits it.

All functions flatten their inputs and drop pairs where either value is not finite.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats
from tqdm.auto import tqdm

from ..files import atomic_write_bytes

__all__ = [
    "AreaObjective",
    "calibration_curve",
    "calibration_summary",
    "expected_calibration_error",
    "apply_variance_map",
    "fit_variance_map",
    "fit_variance_scale",
    "gaussian_nll",
    "interval_half_width",
    "standard_distribution",
    "miscalibration_area",
    "reliability_diagram",
    "spearman",
]


def _finite_pairs(a: ArrayLike, b: ArrayLike, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")
    a, b = a.ravel(), b.ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if a.size == 0:
        raise ValueError(f"empty input: no finite ({names[0]}, {names[1]}) pairs")
    return a, b


def _clean(errors: ArrayLike, sigmas: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    e, s = _finite_pairs(errors, sigmas, ("errors", "sigmas"))
    bad = int(np.count_nonzero(s <= 0))
    if bad:
        raise ValueError(f"sigmas must be positive, found {bad} value(s) <= 0")
    return e, s


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive finite number, got {alpha}")
    return alpha


def standard_distribution(nu: float | None = None):
    """The predictive distribution of unit standard deviation: N(0, 1) for ``nu=None``, else a
    Student t with ``nu`` > 2 degrees of freedom scaled to unit variance."""
    if nu is None or not np.isfinite(nu):
        return stats.norm
    if not float(nu) > 2.0:
        raise ValueError(f"nu (degrees of freedom) must be > 2 for a finite sigma, got {nu}")
    return stats.t(float(nu), scale=np.sqrt((float(nu) - 2.0) / float(nu)))


def interval_half_width(sigma: ArrayLike, level: float, nu: float | None = None) -> np.ndarray:
    """Half-width of the central ``level`` interval of the predictive distribution with standard
    deviation ``sigma`` (1.96 sigma at 0.95 for a Gaussian)."""
    return standard_distribution(nu).ppf((1.0 + float(level)) / 2.0) * np.asarray(sigma, dtype=float)


def _observed(e: np.ndarray, s: np.ndarray, alpha: float, levels: np.ndarray, nu: float | None = None) -> np.ndarray:
    """Fraction of |err| <= z_{(1+p)/2} sqrt(alpha) sigma at each central-interval level p."""
    return _observed_within(e, s, alpha, standard_distribution(nu).ppf((1.0 + levels) / 2.0))


def _observed_within(e: np.ndarray, s: np.ndarray, alpha: float, z: np.ndarray) -> np.ndarray:
    """Fraction of |err| <= z sqrt(alpha) sigma for each half-width ``z`` (in standard deviations)."""
    r = np.sort(np.abs(e) / (np.sqrt(alpha) * s))
    return np.searchsorted(r, z, side="right") / r.size


AREA_LEVELS = np.linspace(0.0, 1.0, 1001)  # the levels of the miscalibration area's trapezoid rule
AREA_LEVELS.setflags(write=False)


def _area(observed: np.ndarray) -> float:
    """Area between the calibration curve ``observed`` (at ``AREA_LEVELS``) and the diagonal."""
    observed[0], observed[-1] = 0.0, 1.0
    return float(np.trapezoid(np.abs(observed - AREA_LEVELS), AREA_LEVELS))


class AreaObjective:
    """``miscalibration_area(errors, sd, alpha, nu)`` as a function of ``sd`` and ``alpha`` for fixed
    errors and ``nu``, for the searches that evaluate it thousands of times: the distribution's
    quantiles at ``AREA_LEVELS`` are computed once (building a scipy distribution and its ppf took
    90% of a fit's time), the errors are checked once. Same operations on the same values as
    :func:`miscalibration_area`, so the same result, bit for bit. ``evaluations`` counts the calls."""

    def __init__(self, errors: np.ndarray, nu: float | None = None):
        self.errors, self.nu = np.asarray(errors, dtype=float), nu
        if not np.all(np.isfinite(self.errors)):
            raise ValueError("AreaObjective: errors must be finite")
        self.z = standard_distribution(nu).ppf((1.0 + AREA_LEVELS) / 2.0)
        self.evaluations = 0

    def __call__(self, sd: np.ndarray, alpha: float = 1.0) -> float:
        self.evaluations += 1
        if not (sd.min() > 0 and np.isfinite(sd.max())):  # NaN, inf or <= 0: what the general function drops or refuses
            return miscalibration_area(self.errors, sd, alpha, self.nu)
        return _area(_observed_within(self.errors, sd, _check_alpha(alpha), self.z))


CRITERIA = ("nll", "area")


def fit_variance_scale(errors: ArrayLike, sigmas: ArrayLike, criterion: str = "nll") -> float:
    """alpha of sigma^2 -> alpha * sigma^2.

    ``"nll"``: maximum likelihood, mean(err^2 / sigma^2) (Levi et al. 2022). ``"area"``: the alpha
    that minimises the miscalibration area (the Uncertainty Toolbox's std recalibration): with
    heavy-tailed normalised errors (force errors are) the likelihood is ruled by a few outliers
    and leaves the bulk of the intervals too wide; matching the calibration curve does not.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    e, s = _clean(errors, sigmas)
    mle = float(np.mean((e / s) ** 2))
    if criterion == "nll":
        return mle
    from scipy.optimize import minimize_scalar

    # the area is piecewise smooth in log alpha; search a wide bracket around the likelihood's alpha
    log_mle = np.log(mle)
    area = AreaObjective(e)
    res = minimize_scalar(lambda la: area(s, float(np.exp(la))),
                          bounds=(log_mle - 12.0, log_mle + 4.0), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def apply_variance_map(variances: ArrayLike, alpha: float = 1.0, power: float = 1.0, floor: float = 0.0) -> np.ndarray:
    """alpha * var**power + floor**2 (``floor``: a standard deviation, in the units of sigma)."""
    v = np.asarray(variances, dtype=float)
    return alpha * np.power(np.maximum(v, 0.0), power) + floor**2


NU_GRID = (2.5, 3.0, 4.0, 6.0, 10.0, 30.0, None)  # degrees of freedom tried by fit_variance_map(tails=True)
# the power may reshape the variances but never reverse their order (a negative power would turn
# the most uncertain atoms into the most certain ones to match a calibration curve)
POWER_RANGE = (0.25, 2.0)


def fit_variance_map(errors: ArrayLike, sigmas: ArrayLike, criterion: str = "area", floor: bool = True,
                     power: bool = False, max_points: int = 200_000, tails: bool = False, progress: bool = False) -> dict:
    """Fit sigma^2 -> alpha * sigma^(2 power) + floor^2 on held-out errors; returns
    ``{"alpha", "power", "floor", "nu"}`` (``power`` 1, ``floor`` 0 and ``nu`` None, a Gaussian,
    unless asked for). ``tails``: the map is fitted for each Student-t ``nu`` of ``NU_GRID`` (the
    Gaussian included) and the best by the criterion kept.

    ``criterion`` as for :func:`fit_variance_scale`. ``"area"``: for each candidate (power, floor)
    on a grid, the alpha of least miscalibration area by a bounded search, then the best candidate
    refined by Nelder-Mead; the plain scale (floor 0, power 1) is a candidate, so the fit is never
    worse than :func:`fit_variance_scale` on these errors. ``"nll"``: maximum likelihood from the
    plain scale's solution. Sigmas may be 0 where a floor is fitted. More than ``max_points``
    pairs: fitted on a fixed random subset of that many. ``progress``: a progress bar over the
    area criterion's grid (7 x 11 x 46 bounded searches with ``tails``, ``power`` and ``floor``:
    a few seconds for a few thousand errors).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    e, s = _finite_pairs(errors, sigmas, ("errors", "sigmas"))
    if np.any(s < 0) or (not floor and np.any(s == 0)):
        raise ValueError(f"sigmas must be {'non-negative' if floor else 'positive'}, found {int(np.count_nonzero(s < 0 if floor else s <= 0))} bad value(s)")
    if not np.any(s > 0):
        raise ValueError("every sigma is 0: nothing to scale")
    if e.size > max_points:  # the search evaluates the criterion ~10^3-10^4 times: a fixed subsample
        keep = np.random.default_rng(0).choice(e.size, max_points, replace=False)
        e, s = e[keep], s[keep]
    nus = NU_GRID if tails else (None,)
    floors, powers = _map_grid(1.0, floor, power)  # for the grid's size
    bar = tqdm(total=len(nus) * len(floors) * len(powers), desc="calibrating forces", unit="shape", leave=False,
               disable=not progress or criterion != "area", dynamic_ncols=True)
    with bar:
        fits = [_fit_map(e, s, criterion, floor, power, nu, bar.update) for nu in nus]
    best = min(fits, key=lambda f: f[0])
    return best[1]


def _map_grid(e2: float, floor: bool, power: bool) -> tuple[list, list]:
    """The area criterion's grid of shapes: log floor^2 (None: no floor) around the median squared
    error ``e2``, and powers."""
    floors = [None] + (list(np.log(max(e2, 1e-30)) + np.linspace(-30.0, 3.0, 45)) if floor else [])
    powers = list(np.linspace(0.5, 1.5, 11)) if power else [1.0]
    return floors, powers


def _fit_map(e: np.ndarray, s: np.ndarray, criterion: str, floor: bool, power: bool, nu: float | None,
             tick=lambda: None) -> tuple[float, dict]:
    """(criterion value, map) of the best map for one predictive distribution (``nu``); ``tick()``
    after each shape of the area criterion's grid."""
    from scipy.optimize import minimize, minimize_scalar

    dist = standard_distribution(nu)
    # work in units of a typical variance, so that alpha, power and floor are of order one
    ref = float(np.median(s[s > 0] ** 2))
    e, v = e / np.sqrt(ref), s**2 / ref
    e2 = float(np.median(e**2))
    tiny = 1e-300

    area = AreaObjective(e, nu) if criterion == "area" else None

    def loss(la, b, lc, vb=None):  # vb: v**b, where the caller holds it
        vb = np.power(v, b) if vb is None else vb
        sg = np.sqrt(np.maximum(np.exp(la) * vb + (np.exp(lc) if lc is not None else 0.0), tiny))
        if area is not None:
            return area(sg)
        return float(np.mean(np.log(sg) - dist.logpdf(e / sg)))

    def result(la, b, lc):
        a = float(np.exp(la)) * ref ** (1.0 - b)  # alpha * var^b in the original units
        return {"alpha": a, "power": float(b), "floor": float(np.sqrt(np.exp(lc) * ref)) if lc is not None else 0.0, "nu": nu}

    def scored(la, b, lc):  # the criterion in the original units (comparable across nu)
        return float(loss(la, b, lc)), result(la, b, lc)

    pos = v > 0
    la0 = float(np.log(np.mean(e[pos] ** 2 / v[pos])))  # the plain scale's likelihood solution
    if criterion == "nll":
        if not floor and not power and nu is None:
            return scored(la0, 1.0, None)
        if not floor and not power:
            r = minimize_scalar(lambda la: loss(la, 1.0, None), bounds=(la0 - 12.0, la0 + 4.0), method="bounded")
            return scored(r.x, 1.0, None)
        x0 = [la0] + ([1.0] if power else []) + ([np.log(max(e2, 1e-30)) - 6.0] if floor else [])

        def f(x):
            b = x[1] if power else 1.0
            if not POWER_RANGE[0] <= b <= POWER_RANGE[1]:
                return np.inf
            return loss(x[0], b, x[-1] if floor else None)

        best = minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-5, "fatol": 1e-10, "maxiter": 4000})
        x = best.x if best.fun <= f(np.array(x0)) else np.array(x0)
        return scored(x[0], x[1] if power else 1.0, x[-1] if floor else None)

    def inner(b, lc, vb):  # alpha of least area for this shape
        r = minimize_scalar(lambda la: loss(la, b, lc, vb), bounds=(la0 - 12.0, la0 + 4.0), method="bounded", options={"xatol": 1e-4})
        return r.fun, r.x

    floors, powers = _map_grid(e2, floor, power)
    best = None
    for b in powers:
        vb = np.power(v, b)
        for lc in floors:
            val, la = inner(b, lc, vb)
            tick()
            if best is None or val < best[0] - 1e-12:
                best = (val, la, b, lc)
    val, la, b, lc = best
    if power or lc is not None:  # polish the grid's best in all free parameters
        x0 = [la] + ([b] if power else []) + ([lc] if lc is not None else [])

        def f(x):
            if power and not POWER_RANGE[0] <= x[1] <= POWER_RANGE[1]:
                return np.inf
            return loss(x[0], x[1] if power else 1.0, x[-1] if lc is not None else None)

        r = minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-9, "maxiter": 2000})
        if r.fun < val:
            la, b, lc = r.x[0], (r.x[1] if power else 1.0), (r.x[-1] if lc is not None else None)
    return scored(la, b, lc)


def gaussian_nll(errors: ArrayLike, sigmas: ArrayLike, alpha: float = 1.0, nu: float | None = None) -> float:
    """Mean negative log-likelihood of the errors under N(0, alpha * sigma^2) (``nu``: under the
    Student t of that variance)."""
    e, s = _clean(errors, sigmas)
    sd = np.sqrt(_check_alpha(alpha)) * s
    return float(np.mean(np.log(sd) - standard_distribution(nu).logpdf(e / sd)))


def calibration_curve(
    errors: ArrayLike, sigmas: ArrayLike, alpha: float = 1.0, levels: ArrayLike | None = None, nu: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Expected confidence levels p and the observed fraction of errors inside each central interval."""
    e, s = _clean(errors, sigmas)
    alpha = _check_alpha(alpha)
    p = np.linspace(0.01, 0.99, 99) if levels is None else np.asarray(levels, dtype=float).ravel()
    if p.size == 0 or np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("levels must be a non-empty array of confidence levels in [0, 1]")
    return p, _observed(e, s, alpha, p, nu)


def expected_calibration_error(
    errors: ArrayLike, sigmas: ArrayLike, alpha: float = 1.0, n_bins: int = 20, nu: float | None = None
) -> float:
    """Mean |observed(p) - p| over the levels p = (k + 0.5) / n_bins, k = 0 .. n_bins - 1."""
    if int(n_bins) < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p = (np.arange(int(n_bins)) + 0.5) / int(n_bins)
    expected, observed = calibration_curve(errors, sigmas, alpha, levels=p, nu=nu)
    return float(np.mean(np.abs(observed - expected)))


def miscalibration_area(errors: ArrayLike, sigmas: ArrayLike, alpha: float = 1.0, nu: float | None = None) -> float:
    """Area between the calibration curve and the diagonal (trapezoid rule, levels 0 to 1)."""
    _, observed = calibration_curve(errors, sigmas, alpha, levels=AREA_LEVELS, nu=nu)
    return _area(observed)


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman rank correlation of two equally shaped arrays, ignoring non-finite pairs."""
    x, y = _finite_pairs(a, b, ("a", "b"))
    return float(stats.spearmanr(x, y).statistic)


def calibration_summary(errors: ArrayLike, sigmas: ArrayLike, alpha: float, calibrated: ArrayLike | None = None,
                        nu: float | None = None) -> dict:
    """NLL, ECE and miscalibration area with the raw sigmas ("before", alpha = 1, Gaussian) and
    with the given alpha ("after", with the calibrated distribution's ``nu``), plus the Spearman
    correlation of sigma with |error|. ``calibrated``: the calibrated sigmas themselves (any
    variance map, :func:`fit_variance_map`), used for "after" instead of sqrt(alpha) * sigmas."""
    if calibrated is not None:
        e, s, c = (np.asarray(a, dtype=float).ravel() for a in (errors, sigmas, calibrated))
        if not (e.shape == s.shape == c.shape):
            raise ValueError("errors, sigmas and calibrated sigmas must have the same shape")
        keep = np.isfinite(e) & np.isfinite(s) & np.isfinite(c)
        e, s, c = e[keep], s[keep], c[keep]
        _clean(e, c)
    e, s = _clean(errors if calibrated is None else e, sigmas if calibrated is None else s)
    alpha = _check_alpha(alpha)
    after, a_after = (s, alpha) if calibrated is None else (c, 1.0)
    return {
        "alpha": alpha,
        "n": int(e.size),
        "nll_before": gaussian_nll(e, s, 1.0),
        "nll_after": gaussian_nll(e, after, a_after, nu),
        "ece_before": expected_calibration_error(e, s, 1.0),
        "ece_after": expected_calibration_error(e, after, a_after, nu=nu),
        "area_before": miscalibration_area(e, s, 1.0),
        "area_after": miscalibration_area(e, after, a_after, nu),
        "spearman": spearman(s, np.abs(e)),
    }


def reliability_diagram(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]], path: str | os.PathLike, title: str = ""
) -> Path:
    """Plot calibration curves ``{label: (expected, observed)}`` against the diagonal; save a PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
    for label, (expected, observed) in curves.items():
        ax.plot(np.asarray(expected), np.asarray(observed), lw=1.5, label=str(label))
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", title=title,
           xlabel="expected confidence level", ylabel="observed fraction within interval")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path

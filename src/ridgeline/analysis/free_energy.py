"""Free-energy estimators on samples, through pymbar: the mean of a correlated time series with
its honest error, the free-energy profile of umbrella windows by MBAR, and the quadrature of
thermodynamic integration.

- ``timeseries_mean(x)``: mean, standard error and statistical inefficiency g (pymbar's
  ``timeseries.statistical_inefficiency``; the error is sqrt(g var / n)).
- ``umbrella_profile(samples, centers, k, temperature)``: the windows' CV samples, each window
  biased by 0.5 k (s - s_k)^2 (s - s_k wrapped where the CV is periodic), are decorrelated (every
  g-th sample), weighted by MBAR (Shirts and Chodera, J. Chem. Phys. 129, 124105 (2008)) and
  histogrammed by ``pymbar.FES`` into F(s) = -kT ln p(s) with its analytical error, zero at its
  lowest bin. MBAR on binned data is WHAM (Kumar et al., J. Comput. Chem. 13, 1011 (1992)); MBAR
  needs no bins for the weights. The overlap matrix O_ij (the probability that a sample of window i
  is assigned to window j) diagnoses the windows: neighbours with O < 0.03 do not overlap (pymbar's
  warning level), and the profile between them is not determined.
- ``quadrature(kind, points)`` nodes and weights on [0, 1] (Gauss-Legendre or trapezoid) and
  ``integrate(weights, means, errors)`` the integral of <dU/dλ> with its error, the weights'
  quadratic sum of the nodes' independent errors.

Energies in eV, temperatures in K; the CV in its own unit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import units
from scipy.special import logsumexp

from ..errors import ConfigError, DataError
from .results import Result, pyplot, save_figure

# pymbar logs a notice at import that JAX would make it faster; the numpy solver is what runs here
logging.getLogger("pymbar").setLevel(logging.ERROR)

QUADRATURES = ("gauss_legendre", "trapezoid")
MIN_OVERLAP = 0.03  # pymbar's level below which two states are considered not to overlap


def timeseries_mean(x) -> tuple[float, float, float]:
    """(mean, standard error, statistical inefficiency g >= 1) of a correlated series."""
    from pymbar import timeseries

    x = np.asarray(x, dtype=float).ravel()
    if x.size < 2:
        raise DataError(f"a time series needs at least 2 samples, got {x.size}")
    if np.ptp(x) == 0:
        return float(x[0]), 0.0, 1.0
    g = float(timeseries.statistical_inefficiency(x))
    return float(x.mean()), float(np.sqrt(g * x.var(ddof=1) / x.size)), g


def decorrelated(x, g: float | None = None) -> np.ndarray:
    """Every ceil(g)-th sample of ``x`` (g: its statistical inefficiency, computed if None)."""
    x = np.asarray(x, dtype=float).ravel()
    if g is None:
        g = timeseries_mean(x)[2] if x.size > 1 else 1.0
    return x[:: max(1, int(np.ceil(g)))]


# ------------------------------------------------------------------------------- umbrella sampling
@dataclass
class FreeEnergyProfile(Result):
    """F(s) along a CV from umbrella windows (module docstring); energies in eV."""

    bin_centers: np.ndarray  # (B,) the CV at the bins' centres
    free_energy: np.ndarray  # (B,) eV, zero at the lowest bin; nan where no sample fell
    error: np.ndarray  # (B,) eV, one sigma of F(s) - F(lowest)
    centers: np.ndarray  # (K,) the windows' centres
    k: np.ndarray  # (K,) the windows' spring constants, eV per CV unit squared
    temperature: float  # K
    samples: np.ndarray  # (K,) samples used per window after decorrelation
    inefficiency: np.ndarray  # (K,) statistical inefficiency of each window's CV series
    overlap: np.ndarray  # (K, K) MBAR's overlap matrix
    neighbour_overlap: np.ndarray  # (K-1,) O[i, i+1] of the windows in the order of their centres
    window_free_energies: np.ndarray  # (K,) eV, the biased windows' free energies (MBAR's f_k kT)
    cv_unit: str = ""
    period: float | None = None
    bin_edges: np.ndarray | None = None  # (B + 1,)

    @property
    def gaps(self) -> list[tuple[float, float]]:
        """Neighbouring windows (by centre) whose overlap is below :data:`MIN_OVERLAP`."""
        order = np.argsort(self.centers)
        return [(float(self.centers[order[i]]), float(self.centers[order[i + 1]]))
                for i, o in enumerate(self.neighbour_overlap) if o < MIN_OVERLAP]

    def barrier(self, lower: float, upper: float) -> tuple[float, float]:
        """(F_max - F_min, its error) over the bins with lower <= s <= upper: the highest bin
        against the lowest (the errors of the two differences from the global minimum add in
        quadrature, an upper bound where they are correlated)."""
        mask = (self.bin_centers >= lower) & (self.bin_centers <= upper) & np.isfinite(self.free_energy)
        if not mask.any():
            raise DataError(f"no sampled bin between {lower} and {upper}")
        f, e = self.free_energy[mask], self.error[mask]
        hi, lo = int(np.argmax(f)), int(np.argmin(f))
        return float(f[hi] - f[lo]), float(np.hypot(e[hi], e[lo]))

    def plot(self, path, title: str = "", reference: tuple[np.ndarray, np.ndarray, str] | None = None,
             model_band: tuple[np.ndarray, np.ndarray, str] | None = None) -> None:
        """F(s) with its statistical error band, and below it each window's neighbour overlap;
        ``reference``: (s, F, label) drawn over it; ``model_band``: (lower, upper, label) per bin,
        the model's own uncertainty."""
        plt = pyplot()
        fig, (ax, ax_o) = plt.subplots(2, 1, figsize=(5.5, 5.5), height_ratios=[3, 1.2], sharex=False)
        ok = np.isfinite(self.free_energy)
        s, f, e = self.bin_centers[ok], self.free_energy[ok], self.error[ok]
        ax.plot(s, f, "-", color="C0", label="MBAR")
        ax.fill_between(s, f - 2 * e, f + 2 * e, color="C0", alpha=0.25, label="2 sigma (sampling)")
        if model_band is not None:
            ax.fill_between(s, np.asarray(model_band[0])[ok], np.asarray(model_band[1])[ok], color="C1", alpha=0.25,
                            label=model_band[2])
        if reference is not None:
            ax.plot(reference[0], reference[1], "--", color="C3", label=reference[2])
        for c in self.centers:
            ax.axvline(c, color="0.85", lw=0.6, zorder=0)
        unit = f" ({self.cv_unit})" if self.cv_unit else ""
        ax.set_xlabel(f"collective variable{unit}")
        ax.set_ylabel("free energy (eV)")
        ax.set_title(title or f"umbrella sampling, {len(self.centers)} windows, {self.temperature:g} K")
        ax.legend(fontsize=8)
        order = np.argsort(self.centers)
        mids = 0.5 * (self.centers[order][1:] + self.centers[order][:-1])
        ax_o.bar(mids, self.neighbour_overlap, width=0.6 * np.min(np.diff(self.centers[order])))
        ax_o.axhline(MIN_OVERLAP, color="C3", lw=0.8, ls="--")
        ax_o.set_ylabel("overlap")
        ax_o.set_xlabel(f"between windows{unit}")
        fig.tight_layout()
        save_figure(fig, path)


def _biased_states(samples, centers, k, temperature: float, period):
    """(x_n all samples in order, wrapped into one period; u_kn = beta 0.5 k_k (x_n - c_k)^2 with the
    difference wrapped; N_k samples per window): MBAR's input for umbrella windows."""
    def wrapped(d):
        return (d + 0.5 * period) % period - 0.5 * period if period is not None else d

    k = np.broadcast_to(np.asarray(k, dtype=float), centers.shape)
    x_n = wrapped(np.concatenate(samples))
    beta = 1.0 / (units.kB * temperature)
    u_kn = beta * 0.5 * k[:, None] * wrapped(x_n[None, :] - centers[:, None]) ** 2
    return x_n, u_kn, np.array([x.size for x in samples])


def umbrella_profile(samples, centers, k, temperature: float, bins: int | np.ndarray = 50,
                     period: float | None = None, cv_unit: str = "", decorrelate: bool = True) -> FreeEnergyProfile:
    """The free-energy profile of umbrella windows by MBAR (module docstring).

    ``samples``: one 1-D array of CV values per window (equilibrated); ``centers``, ``k``: each
    window's centre and spring constant (``k`` one number for all); ``bins``: a count over the
    sampled range (or the period), or the bin edges; ``period``: the CV's period (2π for a
    dihedral in rad), so that biases act on the wrapped difference and bins cover one period.
    """
    from pymbar import FES

    samples = [np.asarray(x, dtype=float).ravel() for x in samples]
    centers = np.asarray(centers, dtype=float).ravel()
    k = np.broadcast_to(np.asarray(k, dtype=float), centers.shape).copy()
    if len(samples) != len(centers) or len(centers) < 2:
        raise ConfigError(f"umbrella_profile needs one sample array per window and at least 2 windows, got "
                          f"{len(samples)} arrays for {len(centers)} centres")
    if np.any(k <= 0) or temperature <= 0:
        raise ConfigError("umbrella spring constants and the temperature must be positive")
    for w, x in enumerate(samples):
        if x.size < 2 or not np.all(np.isfinite(x)):
            raise DataError(f"umbrella window {w} (centre {centers[w]:g}): needs at least 2 finite samples, "
                            f"got {x.size}")

    inefficiency = np.array([timeseries_mean(x)[2] for x in samples])
    used = [decorrelated(x, g) if decorrelate else x for x, g in zip(samples, inefficiency)]
    x_n, u_kn, n_k = _biased_states(used, centers, k, temperature, period)
    fes = FES(u_kn, n_k, verbose=False)
    if np.ndim(bins) == 0:
        lo, hi = (-0.5 * period, 0.5 * period) if period is not None else (x_n.min(), x_n.max())
        edges = np.linspace(lo, hi + (0.0 if period is not None else 1e-12 * max(1.0, abs(hi))), int(bins) + 1)
    else:
        edges = np.asarray(bins, dtype=float)
    fes.generate_fes(np.zeros_like(x_n), x_n, fes_type="histogram", histogram_parameters={"bin_edges": edges})
    mids = 0.5 * (edges[1:] + edges[:-1])
    counts = np.histogram(x_n, edges)[0]
    sampled = counts > 0
    f = np.full(mids.shape, np.nan)
    df = np.full(mids.shape, np.nan)
    result = fes.get_fes(mids[sampled], reference_point="from-lowest", uncertainty_method="analytical")
    kt = units.kB * temperature
    f[sampled], df[sampled] = kt * result["f_i"], kt * result["df_i"]
    mbar = fes.get_mbar()
    overlap = np.asarray(mbar.compute_overlap()["matrix"])
    order = np.argsort(centers)
    neighbour = np.array([overlap[order[i], order[i + 1]] for i in range(len(order) - 1)])
    return FreeEnergyProfile(mids, f, df, centers, k, float(temperature), n_k, inefficiency, overlap, neighbour,
                             kt * np.asarray(mbar.f_k), cv_unit, period, edges)


def reweighted_profiles(samples, centers, k, temperature: float, edges, perturbations, reference: float,
                        period: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F(s) of the Hamiltonian perturbed by each row of ``perturbations`` (D, S) eV (one energy per
    sample, the samples of all windows in order), by MBAR reweighting of the same umbrella samples:
    each row is the unbiased state's reduced potential beta dU_n. Returns (F_0 (B,), F_d (D, B), the
    effective sample fraction (D, B): Kish's (sum w)^2 / sum w^2 of each bin's samples under the
    row's weights over the same under the unperturbed ones), F in eV relative to the bin holding
    ``reference``; nan where no sample fell. Where a row's energies spread over many kT within a
    bin, a few samples take all the weight and the fraction falls towards 0: the reweighted F there
    is not an estimate."""
    from pymbar import FES

    x_n, u_kn, n_k = _biased_states([np.asarray(x, dtype=float).ravel() for x in samples],
                                    np.asarray(centers, dtype=float).ravel(), k, temperature, period)
    perturbations = np.atleast_2d(np.asarray(perturbations, dtype=float))
    if perturbations.shape[1] != x_n.size:
        raise ConfigError(f"reweighted_profiles: {perturbations.shape[1]} energies per row for {x_n.size} samples")
    beta = 1.0 / (units.kB * temperature)
    fes = FES(u_kn, n_k, verbose=False)
    edges = np.asarray(edges, dtype=float)
    mids = 0.5 * (edges[1:] + edges[:-1])
    sampled = np.histogram(x_n, edges)[0] > 0
    ref = mids[sampled][np.argmin(np.abs(mids[sampled] - reference))]
    mbar = fes.get_mbar()
    # the unbiased state's MBAR log weights, log w_n = -log sum_k N_k exp(f_k - u_kn)
    log_w = -logsumexp(np.asarray(mbar.f_k)[:, None] - u_kn, b=n_k[:, None], axis=0)

    bin_of = np.digitize(x_n, edges) - 1
    inside = (bin_of >= 0) & (bin_of < len(mids))

    def kish(lw):
        """Kish's effective sample size (sum w)^2 / sum w^2 of the samples in each bin."""
        w = np.exp(lw - lw.max())
        sums = np.bincount(bin_of[inside], w[inside], minlength=len(mids))
        squares = np.bincount(bin_of[inside], w[inside] ** 2, minlength=len(mids))
        return np.divide(sums**2, squares, out=np.zeros(len(mids)), where=squares > 0)

    def profile(u_n):
        fes.generate_fes(u_n, x_n, fes_type="histogram", histogram_parameters={"bin_edges": edges})
        f = np.full(mids.shape, np.nan)
        f[sampled] = fes.get_fes(mids[sampled], reference_point="from-specified", fes_reference=float(ref))["f_i"] / beta
        return f

    f0 = profile(np.zeros(x_n.size))
    rows = [profile(beta * du) for du in perturbations]
    own = kish(log_w)
    ess = [np.divide(kish(log_w - beta * du), own, out=np.zeros(len(mids)), where=own > 0) for du in perturbations]
    return f0, np.array(rows), np.array(ess)


# ----------------------------------------------------------------------- thermodynamic integration
def quadrature(kind: str, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on [0, 1]: ``gauss_legendre`` (exact for polynomials of degree 2n - 1,
    no end points) or ``trapezoid`` (evenly spaced, end points included)."""
    if kind not in QUADRATURES:
        raise ConfigError(f"unknown quadrature {kind!r}; valid: {list(QUADRATURES)}")
    if points < (1 if kind == "gauss_legendre" else 2):
        raise ConfigError(f"{kind} quadrature needs at least {1 if kind == 'gauss_legendre' else 2} points, got {points}")
    if kind == "gauss_legendre":
        x, w = np.polynomial.legendre.leggauss(points)
        return 0.5 * (x + 1.0), 0.5 * w
    x = np.linspace(0.0, 1.0, points)
    w = np.full(points, 1.0 / (points - 1))
    w[[0, -1]] *= 0.5
    return x, w


def integrate(weights, means, errors) -> tuple[float, float]:
    """(sum w_i m_i, sqrt(sum w_i^2 e_i^2)): the quadrature of independent node estimates."""
    w, m, e = (np.asarray(a, dtype=float).ravel() for a in (weights, means, errors))
    if not (w.shape == m.shape == e.shape):
        raise ConfigError(f"integrate: weights, means and errors differ in length ({w.size}, {m.size}, {e.size})")
    return float(w @ m), float(np.sqrt(np.sum((w * e) ** 2)))


__all__ = ["FreeEnergyProfile", "MIN_OVERLAP", "QUADRATURES", "decorrelated", "integrate", "quadrature",
           "reweighted_profiles", "timeseries_mean", "umbrella_profile"]

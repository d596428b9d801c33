"""Butler-Volmer kinetics from barriers computed at several electrode potentials (or fields).

``butler_volmer(potentials, barriers, sigmas, temperature)`` fits the barrier's linear response

    dG‡(U) = dG‡0 - alpha e (U - U0)        (an oxidation, ``process="anodic"``)
    dG‡(U) = dG‡0 + alpha e (U - U0)        (a reduction, ``process="cathodic"``)

by weighted least squares, weights 1 / sigma_i^2: the barriers' errors independent and their sigmas
taken as known, so the parameters' covariance is (X^T W X)^-1, not rescaled by the scatter; chi^2
against its degrees of freedom says whether the barriers lie on a line within their sigmas (a
warning where p < 0.01). From the fit:

- the transfer coefficient alpha (the symmetry factor of a one-electron step) and its standard error;
- the rate at U0, k0 = A exp(-dG‡0 / kT) (A the ``prefactor`` or Eyring's kT / h): the exchange
  rate when U0 is the step's equilibrium potential;
- the Tafel slope b = ln(10) kT / (alpha e) (mV/decade) with the interval of alpha mapped through it
  (b falls monotonically with alpha; unbounded above where alpha's interval reaches zero);
- k(U) with its interval: ln k = ln A - (dG‡0 -+ alpha e (U - U0)) / kT is linear in the fitted
  parameters, so for Gaussian barrier errors ln k is Gaussian with the fit's variance and the rate's
  interval is log-normal (``rates.lognormal_interval``), never negative. The current per site is e k.

A field F (V/Å) in place of the potential is the same maths (``variable="field"``): the barrier's
linear Stark response dG‡(F) = dG‡0 - dmu F, the slope dmu being the difference of the dipole
moments (along F) of the transition and initial states, in e Å; there is no Tafel slope then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
from scipy.stats import chi2, norm

from ..analysis.results import Result, jsonable, pyplot, save_figure
from ..errors import ConfigError
from .estimates import Estimate, make_estimate
from .rates import KB, PLANCK, lognormal_interval

PROCESSES = {"anodic": -1.0, "cathodic": 1.0}  # the sign of alpha e (U - U0) in the barrier
VARIABLES = {"potential": ("U", "V", "1"), "field": ("F", "V/Å", "e Å")}  # symbol, unit, the slope's unit
FIT_P_VALUE = 0.01  # chi^2 of the fit less likely than this: a warning


@dataclass
class ButlerVolmerResult(Result):
    """The fit of the barriers against the potential (module docstring)."""

    variable: str  # "potential" (V) or "field" (V/Å)
    process: str  # "anodic" or "cathodic"
    temperature: float  # K
    reference: float  # U0 (V) or F0 (V/Å)
    potentials: np.ndarray  # (n,) V or V/Å
    barriers: np.ndarray  # (n,) eV
    sigmas: np.ndarray  # (n,) eV
    alpha: Estimate  # the transfer coefficient (1), or the dipole difference (e Å) for a field
    barrier_at_reference: Estimate  # dG‡0, eV
    rate_at_reference: Estimate  # k0, Hz; its sigma is that of ln k0
    tafel_slope: Estimate | None  # mV/decade (None for a field or alpha <= 0)
    covariance: np.ndarray  # (2, 2) of (dG‡0 eV, the slope d dG‡ / dU eV/V)
    prefactor: float  # Hz
    chi_squared: float
    degrees_of_freedom: int
    confidence: float
    warnings: list = field(default_factory=list)

    def estimates(self) -> dict[str, Estimate]:
        name = "transfer_coefficient" if self.variable == "potential" else "dipole_difference"
        out = {name: self.alpha, "barrier_at_reference": self.barrier_at_reference,
               "rate_at_reference": self.rate_at_reference}
        if self.tafel_slope is not None:
            out["tafel_slope"] = self.tafel_slope
        return out

    def to_dict(self) -> dict:
        return {f.name: (v.to_dict() if isinstance(v, Estimate) else jsonable(v))
                for f in fields(self) for v in [getattr(self, f.name)]}

    def rate(self, potentials) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k, lower, upper) in Hz at ``potentials``: the fitted rate and its log-normal interval."""
        d = np.atleast_1d(np.asarray(potentials, float)) - self.reference
        kt = KB * self.temperature
        c0, c1 = self.barrier_at_reference.value, self._slope()
        log_k = np.log(self.prefactor) - (c0 + c1 * d) / kt
        design = np.stack([np.ones_like(d), d], axis=1)
        sigma = np.sqrt(np.einsum("ni,ij,nj->n", design, self.covariance, design)) / kt
        k = np.exp(log_k)
        return (k, *lognormal_interval(k, sigma, self.confidence))

    def _slope(self) -> float:
        return PROCESSES[self.process] * self.alpha.value

    def plot(self, path, title: str = "") -> None:
        """Left: the barriers with their sigmas and the fitted line; right: the Tafel plot, log10 k
        against the potential with the rate's interval band."""
        plt = pyplot()
        symbol, unit, _ = VARIABLES[self.variable]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        grid = np.linspace(self.potentials.min(), self.potentials.max(), 100)
        z = float(norm.ppf(0.5 * (1 + self.confidence)))
        left.errorbar(self.potentials, self.barriers, yerr=z * self.sigmas, fmt="o", capsize=3,
                      label=f"barriers ({100 * self.confidence:g}%)")
        slope_unit = "" if self.alpha.unit == "1" else f" {self.alpha.unit}"
        left.plot(grid, self.barrier_at_reference.value + self._slope() * (grid - self.reference), "-",
                  label=f"fit: {'alpha' if self.variable == 'potential' else 'dmu'} = {self.alpha.value:.3f} "
                        f"± {self.alpha.sigma:.3f}{slope_unit}")
        left.set_xlabel(f"{symbol} ({unit})")
        left.set_ylabel("barrier (eV)")
        left.legend()
        k, lower, upper = self.rate(grid)
        right.semilogy(grid, k, "-", label="rate")
        right.fill_between(grid, lower, upper, alpha=0.25, label=f"{100 * self.confidence:g}% interval")
        right.set_xlabel(f"{symbol} ({unit})")
        right.set_ylabel("rate (1/s per site)")
        right.set_title(title or (f"Tafel slope {self.tafel_slope.value:.1f} mV/dec" if self.tafel_slope else ""))
        right.legend()
        fig.tight_layout()
        save_figure(fig, path)


def weighted_line(x, y, sigmas) -> tuple[np.ndarray, np.ndarray, float]:
    """(intercept, slope), their covariance (X^T W X)^-1 and chi^2 of y = c0 + c1 x, weights 1 / sigma^2."""
    design = np.stack([np.ones_like(x), x], axis=1)
    weights = 1.0 / sigmas**2
    normal = design.T @ (weights[:, None] * design)
    covariance = np.linalg.inv(normal)
    coefficients = covariance @ (design.T @ (weights * y))
    return coefficients, covariance, float(np.sum(weights * (y - design @ coefficients) ** 2))


def butler_volmer(potentials, barriers, sigmas, temperature: float = 298.15, reference: float = 0.0,
                  process: str = "anodic", variable: str = "potential", prefactor: float | None = None,
                  confidence: float = 0.95) -> ButlerVolmerResult:
    """The transfer coefficient, exchange rate and Tafel slope from barriers (eV, each with its
    sigma) at ``potentials`` (V vs the electrode's reference; V/Å for a field) (module docstring)."""
    x, y, s = (np.atleast_1d(np.asarray(v, float)) for v in (potentials, barriers, sigmas))
    if process not in PROCESSES:
        raise ConfigError(f"process must be one of {', '.join(PROCESSES)}, got {process!r}")
    if variable not in VARIABLES:
        raise ConfigError(f"variable must be one of {', '.join(VARIABLES)}, got {variable!r}")
    if not (x.shape == y.shape == s.shape) or x.ndim != 1:
        raise ConfigError(f"potentials, barriers and sigmas need one entry each per point, got {x.size}, {y.size}, {s.size}")
    if len(np.unique(x)) < 2 or not np.all(np.isfinite(np.concatenate([x, y, s]))):
        raise ConfigError(f"barriers at two or more different {variable}s (finite numbers) are needed, got {x.tolist()}")
    if np.any(s <= 0):
        raise ConfigError(f"every barrier needs a positive sigma (eV) to weigh the fit, got {s.tolist()}")
    if not temperature > 0 or not 0 < confidence < 1:
        raise ConfigError(f"temperature must be positive (K) and confidence in (0, 1), got {temperature}, {confidence}")
    kt, sign = KB * float(temperature), PROCESSES[process]
    (c0, c1), covariance, chi_squared = weighted_line(x - reference, y, s)
    alpha_value, alpha_sigma = sign * c1, float(np.sqrt(covariance[1, 1]))
    dof, warnings = len(x) - 2, []
    if dof > 0 and chi2.sf(chi_squared, dof) < FIT_P_VALUE:
        warnings.append(f"chi^2 = {chi_squared:.3g} for {dof} degrees of freedom (p < {FIT_P_VALUE:g}): the barriers do "
                        f"not lie on a line in the {variable} within their sigmas (a response that is not linear, or "
                        "sigmas too small); alpha's standard error takes the sigmas as given")
    alpha = make_estimate(alpha_value, VARIABLES[variable][2], alpha_sigma, confidence, "weighted least squares")
    a = KB * float(temperature) / PLANCK if prefactor is None else float(prefactor)
    if not a > 0:
        raise ConfigError(f"prefactor must be a positive frequency (Hz), got {prefactor}")
    k0, sigma_ln = a * np.exp(-c0 / kt), float(np.sqrt(covariance[0, 0])) / kt
    low, high = lognormal_interval(k0, sigma_ln, confidence)
    rate = Estimate(float(k0), "Hz", sigma_ln, float(low), float(high), confidence, "log-normal")
    tafel = None
    if variable == "potential":
        if alpha_value > 0:
            b = np.log(10) * kt / alpha_value * 1000.0  # kT / e in V, so mV per decade
            high_b = np.log(10) * kt / alpha.lower * 1000.0 if alpha.lower > 0 else float("inf")
            tafel = Estimate(float(b), "mV/decade", float(b * alpha_sigma / alpha_value),
                             float(np.log(10) * kt / alpha.upper * 1000.0), float(high_b), confidence, "alpha's interval")
        else:
            warnings.append(f"alpha = {alpha_value:.3g} is not positive: the barrier does not fall with the {process} "
                            "overpotential, so there is no Tafel slope (is the process right?)")
    return ButlerVolmerResult(variable, process, float(temperature), float(reference), x, y, s, alpha,
                              make_estimate(c0, "eV", float(np.sqrt(covariance[0, 0])), confidence, "weighted least squares"),
                              rate, tafel, covariance, a, chi_squared, dof, float(confidence), warnings)


__all__ = ["ButlerVolmerResult", "PROCESSES", "VARIABLES", "butler_volmer", "weighted_line"]

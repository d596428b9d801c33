"""The turnover frequency of a microkinetic network (:mod:`ridgeline.properties.microkinetics`)
over temperatures, with its degrees of rate control, apparent activation energy and intervals.

A step's ``sigma`` (eV) is that of its transition state's energy, the reaction energy
held, so d ln TOF / d Ea_i = -X_i / kT and the linearised sigma of ln TOF is sqrt(X^T C X) / kT.
The sampled interval draws the barrier shifts from N(0, C) (the same draws at every temperature),
solves the steady state for each (Newton from the nominal steady state, the whole integration where
that fails), and takes the draws' central quantiles of ln TOF: a log-space interval, never
negative, that keeps what the linearisation misses (a step that controls the rate in some draws only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..analysis.results import Result, pyplot, save_figure
from ..errors import ConfigError
from .estimates import Estimate
from .microkinetics import SITE, MicrokineticModel
from .rates import KB, _temperatures, arrhenius_fit

PRECISION_WARNING = 1e-8  # |TOF| below this fraction of the gross rate it is summed over: float64 limits it


@dataclass
class MicrokineticResult(Result):
    """The steady state, TOF and degree of rate control at each temperature, and the TOF's
    intervals (module docstring). TOF and rates in 1/s per site; arrays (T, ...) by temperature."""

    temperatures: np.ndarray  # (T,) K
    product: str
    steps: list  # the steps' names
    species: list  # the adsorbates, then "*"
    tof: np.ndarray  # (T,) 1/s
    coverages: np.ndarray  # (T, adsorbates + 1)
    net_rates: np.ndarray  # (T, steps) 1/s
    degree_of_rate_control: np.ndarray | None  # (T, steps); None where a TOF is not positive
    apparent_activation_energy: float | None  # eV, Arrhenius fit of the TOF (two or more temperatures)
    sigma_ln_tof: np.ndarray | None = None  # (T,) linearised, sqrt(X^T C X) / kT
    sampled_sigma_ln_tof: np.ndarray | None = None  # (T,) the draws' standard deviation of ln TOF
    lower: np.ndarray | None = None  # (T,) 1/s, the draws' central quantiles
    upper: np.ndarray | None = None
    confidence: float | None = None
    samples: int = 0
    warnings: list = field(default_factory=list)

    def estimates(self) -> dict[str, Estimate]:
        """``tof_<T>K``: the TOF with its sampled interval; sigma is that of ln TOF (as for rates)."""
        out = {}
        for k, t in enumerate(self.temperatures):
            sigma = None if self.sampled_sigma_ln_tof is None else float(self.sampled_sigma_ln_tof[k])
            lower, upper = (None, None) if self.lower is None else (float(self.lower[k]), float(self.upper[k]))
            out[f"tof_{t:g}K"] = Estimate(float(self.tof[k]), "1/s", sigma, lower, upper, self.confidence,
                                          None if sigma is None else "sampled")
        return out

    def plot(self, path, title: str = "") -> None:
        """Left: the TOF against 1000 / T with the sampled band; right: each step's degree of rate control."""
        plt = pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        x = 1000.0 / self.temperatures
        order = np.argsort(x)
        left.semilogy(x[order], np.abs(self.tof[order]), "o-", label=f"TOF ({self.product})")
        if self.lower is not None:
            left.fill_between(x[order], self.lower[order], self.upper[order], alpha=0.25,
                              label=f"{100 * self.confidence:g}% interval ({self.samples} draws)")
        left.set_xlabel("1000 / T (1/K)")
        left.set_ylabel("TOF (1/s per site)")
        left.set_title(title or (f"apparent Ea {self.apparent_activation_energy:.3f} eV"
                                 if self.apparent_activation_energy is not None else "turnover frequency"))
        left.legend()
        if self.degree_of_rate_control is not None:
            for j, name in enumerate(self.steps):
                right.plot(self.temperatures[order[::-1]], self.degree_of_rate_control[order[::-1], j], "o-", label=name)
            right.legend(fontsize="small")
        right.set_xlabel("T (K)")
        right.set_ylabel("degree of rate control X_i")
        fig.tight_layout()
        save_figure(fig, path)


def microkinetic_analysis(model: MicrokineticModel, temperatures, confidence: float = 0.95, samples: int = 200,
                          seed: int = 0) -> MicrokineticResult:
    """Steady states, TOF, degrees of rate control and, where the barriers have a covariance, the
    TOF's linearised and sampled (``samples`` draws, ``seed``) intervals at ``temperatures`` (K)."""
    t = _temperatures(temperatures)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    if int(samples) < 20:
        raise ConfigError(f"samples must be at least 20 for a quantile interval, got {samples}")
    states = [model.steady_state(temp) for temp in t]
    tof = np.array([s.tof for s in states])
    warnings = []
    for temp, state in zip(t, states):
        if abs(state.tof) < PRECISION_WARNING * state.tof_gross_rate:
            warnings.append(f"{temp:g} K: the TOF ({state.tof:.3g} 1/s) is below {PRECISION_WARNING:g} of the gross rate "
                            f"of the steps it is summed over ({state.tof_gross_rate:.3g} 1/s): near equilibrium, its "
                            "digits are limited by float64")
    drc = None
    if np.all(tof > 0):
        drc = np.array([model.degree_of_rate_control(temp, state) for temp, state in zip(t, states)])
    else:
        warnings.append(f"the TOF of {model.product} is not positive at every temperature: no degree of rate control "
                        "and no log-space interval")
    fit = arrhenius_fit(t, tof)["activation_energy"] if len(t) > 1 and np.all(tof > 0) else None
    result = MicrokineticResult(t, model.product, [s.name for s in model.steps], [*model.adsorbates, SITE], tof,
                                np.array([list(s.coverages.values()) for s in states]),
                                np.array([list(s.net_rates.values()) for s in states]), drc, fit, warnings=warnings)
    if drc is None or not np.any(model.covariance):
        return result
    result.sigma_ln_tof = np.sqrt(np.einsum("ti,ij,tj->t", drc, model.covariance, drc)) / (KB * t)
    values, vectors = np.linalg.eigh(model.covariance)
    root = vectors * np.sqrt(np.clip(values, 0.0, None))
    shifts = np.random.default_rng(seed).standard_normal((int(samples), len(model.steps))) @ root.T
    quantiles = [0.5 * (1 - confidence), 0.5 * (1 + confidence)]
    lower, upper, spread = [], [], []
    for temp, state in zip(t, states):
        draws = model.sampled_tofs(temp, shifts, state)
        good = draws[np.isfinite(draws) & (draws > 0)]
        if len(good) < len(draws):
            warnings.append(f"{temp:g} K: {len(draws) - len(good)} of {len(draws)} draws gave no positive steady-state "
                            "TOF and are left out of the interval")
        if len(good) < 2:
            raise ConfigError(f"{temp:g} K: fewer than two draws gave a positive TOF; no interval")
        logs = np.log(good)
        lo, hi = np.quantile(logs, quantiles)
        lower.append(np.exp(lo))
        upper.append(np.exp(hi))
        spread.append(np.std(logs, ddof=1))
    result.lower, result.upper, result.sampled_sigma_ln_tof = np.array(lower), np.array(upper), np.array(spread)
    result.confidence, result.samples = float(confidence), int(samples)
    return result


__all__ = ["MicrokineticResult", "PRECISION_WARNING", "microkinetic_analysis"]

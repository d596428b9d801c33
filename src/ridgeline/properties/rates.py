"""Rates from a barrier: harmonic transition-state theory, Eyring, Arrhenius, and the rate's
uncertainty carried through the exponential in log space.

``harmonic_rate(minimum, saddle, calculator, temperatures)``: the rate of leaving ``minimum``
through ``saddle`` (a relaxed structure and a first-order saddle point, e.g. a NEB's climbing
image) in harmonic transition-state theory, from the two Hessians (``vibrations.harmonic_modes``:
rigid motions projected out, so M = 3N - 3 modes in a periodic cell, 3N - 6 in a molecule):

- classical (Vineyard, J. Phys. Chem. Solids 3, 121 (1957)):
  k = nu* exp(-dE / kT), nu* = prod_M nu_i(minimum) / prod_{M-1} nu_i(saddle), the saddle's
  imaginary mode left out; dE = E(saddle) - E(minimum);
- quantum harmonic (Eyring's form with harmonic vibrational partition functions, zero-point
  energies included): k = (kT / h) prod_{M-1} q(saddle) / prod_M q(minimum) exp(-dE / kT),
  q = 1 / (2 sinh(h nu / 2kT)); it tends to the classical rate at high temperature.

The minimum must have no imaginary mode and the saddle exactly one (a band that is not converged,
or a second-order saddle, gives another count): anything else is an error that names the counts.

Uncertainty, in log space (issue 31): ln k = ln nu* - dE / kT is linear in the barrier, so a
Gaussian barrier gives a log-normal rate, exactly, and its interval [k e^(-z s), k e^(z s)] is
never negative (a linear interval of k itself is, for a wide enough sigma). s^2 = (sigma_dE /
kT)^2 + sigma_ln(nu*)^2, with sigma_dE the barrier's calibrated sigma (the linearised difference of
two correlated energies: ``Uncertainty.energies``) and, with ``prefactor_draws``, sigma_ln(nu*) from
the posterior draws' Hessians (a committee's members or Laplace draws: two Hessians per draw).

``eyring(free_energy_barrier, temperatures)``: k = (kT / h) exp(-dG / kT);
``arrhenius_fit(temperatures, rates)``: A and Ea from ln k = ln A - Ea / kT by least squares;
``lognormal_interval(rate, sigma_ln, confidence)``: the interval above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import units
from scipy.stats import norm

from ..analysis.results import Result, pyplot, save_figure
from ..errors import ConfigError
from .estimates import DRAWS, LINEARISED, Estimate, Uncertainty
from .vibrations import harmonic_modes

PLANCK = units._hplanck / units._e  # eV s
KB = units.kB  # eV/K


def _temperatures(temperatures) -> np.ndarray:
    t = np.atleast_1d(np.asarray(temperatures, dtype=float))
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ConfigError(f"temperatures must be positive numbers (K), got {np.asarray(temperatures).tolist()}")
    return t


def log_vineyard_prefactor(minimum_energies, saddle_energies) -> float:
    """ln(nu* / Hz) from the real modes' quanta h nu (eV) at the minimum (M) and the saddle (M - 1)."""
    e_min, e_sad = np.asarray(minimum_energies, float), np.asarray(saddle_energies, float)
    if len(e_min) != len(e_sad) + 1:
        raise ConfigError(f"the minimum needs one real mode more than the saddle, got {len(e_min)} and {len(e_sad)}")
    return float(np.sum(np.log(e_min)) - np.sum(np.log(e_sad)) - np.log(PLANCK))


def _log_partition(quanta: np.ndarray, kt: float) -> float:
    """ln prod 1 / (2 sinh(x / 2)), x = h nu / kT, computed without overflow."""
    y = np.asarray(quanta, float) / (2.0 * kt)
    return float(-np.sum(y + np.log1p(-np.exp(-2.0 * y))))


def log_quantum_rate(minimum_energies, saddle_energies, barrier: float, temperature: float) -> float:
    """ln(k / Hz) of quantum harmonic TST at ``temperature`` (module docstring)."""
    kt = KB * temperature
    return float(np.log(kt / PLANCK) + _log_partition(saddle_energies, kt) - _log_partition(minimum_energies, kt)
                 - barrier / kt)


def eyring(free_energy_barrier: float, temperatures) -> np.ndarray:
    """k = (kT / h) exp(-dG / kT) in Hz, for a free-energy barrier dG (eV)."""
    t = _temperatures(temperatures)
    return KB * t / PLANCK * np.exp(-float(free_energy_barrier) / (KB * t))


def arrhenius_fit(temperatures, rates) -> dict[str, float]:
    """``prefactor`` A (the rates' unit) and ``activation_energy`` Ea (eV) of ln k = ln A - Ea / kT,
    least squares in ln k against 1 / kT (at least two temperatures)."""
    t, k = _temperatures(temperatures), np.asarray(rates, float)
    if len(t) < 2 or k.shape != t.shape or np.any(k <= 0):
        raise ConfigError("arrhenius_fit needs positive rates at two or more temperatures")
    slope, intercept = np.polyfit(1.0 / (KB * t), np.log(k), 1)
    return {"prefactor": float(np.exp(intercept)), "activation_energy": float(-slope)}


def lognormal_interval(rate, sigma_ln, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The central interval of a log-normal rate: [k e^(-z s), k e^(z s)] (module docstring)."""
    z = float(norm.ppf(0.5 * (1 + confidence)))
    rate, sigma_ln = np.asarray(rate, float), np.asarray(sigma_ln, float)
    return rate * np.exp(-z * sigma_ln), rate * np.exp(z * sigma_ln)


@dataclass
class RateResult(Result):
    """Harmonic TST rates (module docstring); rates in Hz, one entry per temperature."""

    temperatures: np.ndarray  # (T,) K
    barrier: Estimate  # dE = E(saddle) - E(minimum), eV
    prefactor: float  # nu*, Hz (classical)
    classical: np.ndarray  # (T,) Hz
    quantum: np.ndarray  # (T,) Hz
    minimum_frequencies_cm: np.ndarray  # (M,) cm^-1
    saddle_frequencies_cm: np.ndarray  # (M,) cm^-1, the imaginary one negative
    sigma_ln_rate: np.ndarray | None = None  # (T,) the calibrated sigma of ln k
    sigma_ln_prefactor: float | None = None  # from the posterior draws' Hessians (prefactor_draws)
    lower: np.ndarray | None = None  # (T,) Hz, the classical rate's log-normal interval
    upper: np.ndarray | None = None
    confidence: float | None = None

    def estimates(self) -> dict[str, Estimate]:
        out = {"barrier": self.barrier}
        for k, t in enumerate(self.temperatures):
            lower = None if self.lower is None else float(self.lower[k])
            upper = None if self.upper is None else float(self.upper[k])
            sigma = None if self.sigma_ln_rate is None else float(self.sigma_ln_rate[k])
            out[f"rate_{t:g}K"] = Estimate(float(self.classical[k]), "Hz", sigma, lower, upper, self.confidence,
                                           self.barrier.method, self.barrier.out_of_domain)
        return out

    def plot(self, path, title: str = "") -> None:
        """Arrhenius plot: ln k against 1000 / T, classical and quantum, with the interval's band."""
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5, 4))
        x = 1000.0 / self.temperatures
        order = np.argsort(x)
        ax.semilogy(x[order], self.classical[order], "o-", label="harmonic TST (classical)")
        ax.semilogy(x[order], self.quantum[order], "s--", label="harmonic TST (quantum)")
        if self.lower is not None:
            ax.fill_between(x[order], self.lower[order], self.upper[order], alpha=0.25,
                            label=f"{100 * self.confidence:g}% interval")
        ax.set_xlabel("1000 / T (1/K)")
        ax.set_ylabel("rate (1/s)")
        ax.set_title(title or f"barrier {self.barrier.value:.3f} eV")
        ax.legend()
        save_figure(fig, path)


def harmonic_rate(minimum, saddle, calculator, temperatures, method: str = "auto", delta: float = 0.01,
                  prefactor_draws: bool = False, uncertainty: Uncertainty | None = None) -> RateResult:
    """Harmonic TST rates of leaving ``minimum`` through ``saddle`` at ``temperatures`` (K), with
    the calculator's Hessians (``method``, ``delta``: ``vibrations.hessian_of``) and, where it has
    uncertainties, the log-normal interval (module docstring)."""
    t = _temperatures(temperatures)
    if len(minimum) != len(saddle) or list(minimum.numbers) != list(saddle.numbers):
        raise ConfigError("the minimum and the saddle must hold the same atoms in the same order")
    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    e_min, e_sad, modes_min, modes_sad, m_min, m_sad = _modes(minimum, saddle, calculator, method, delta)
    dE = e_sad - e_min
    log_nu = log_vineyard_prefactor(m_min, m_sad)
    classical = np.exp(log_nu - dE / (KB * t))
    quantum = np.exp([log_quantum_rate(m_min, m_sad, dE, float(temp)) for temp in t])
    barrier = unc.energies(lambda E: E[1] - E[0], [minimum, saddle], "eV", value=dE,
                           out_of_domain=unc.out_of_domain([minimum, saddle]))
    result = RateResult(t, barrier, float(np.exp(log_nu)), classical, quantum, modes_min.frequencies_cm,
                        modes_sad.frequencies_cm)
    if barrier.sigma is None:
        return result
    sigma_ln_nu = 0.0
    if prefactor_draws:
        def log_prefactor(calc):
            return {"ln_prefactor": log_vineyard_prefactor(*_modes(minimum, saddle, calc, method, delta)[4:])}

        sigma_ln_nu = unc.draw_sigmas(log_prefactor)["ln_prefactor"]
        result.sigma_ln_prefactor = float(sigma_ln_nu)
    result.sigma_ln_rate = np.sqrt((barrier.sigma / (KB * t)) ** 2 + sigma_ln_nu**2)
    result.lower, result.upper = lognormal_interval(classical, result.sigma_ln_rate, unc.confidence)
    result.confidence = unc.confidence
    if prefactor_draws:
        result.barrier.method = f"{LINEARISED} barrier, {DRAWS} prefactor"
    return result


def _modes(minimum, saddle, calculator, method, delta):
    """(E_min, E_saddle (eV), the two ``VibrationalModes``, the minimum's real quanta h nu (M), the
    saddle's real quanta (M - 1), eV)."""
    energies, analyses, quanta = [], [], []
    for name, atoms, imaginary in (("minimum", minimum, 0), ("saddle", saddle, 1)):
        probe = atoms.copy()
        probe.calc = calculator
        energies.append(float(probe.get_potential_energy()))
        modes = harmonic_modes(atoms, calculator, method, delta)
        if modes.n_imaginary != imaginary:
            raise ConfigError(f"the {name} has {modes.n_imaginary} imaginary mode(s), harmonic TST needs {imaginary} "
                              f"(lowest frequencies {modes.frequencies_cm[:3].round(1).tolist()} cm^-1): "
                              + ("relax it" if imaginary == 0 else "converge the band (climbing image) to a first-order saddle"))
        e = modes.energies_meV / 1000.0
        analyses.append(modes)
        quanta.append(e[e > 0])
    return energies[0], energies[1], analyses[0], analyses[1], quanta[0], quanta[1]


__all__ = ["KB", "PLANCK", "RateResult", "arrhenius_fit", "eyring", "harmonic_rate", "log_quantum_rate",
           "log_vineyard_prefactor", "lognormal_interval"]

"""A property's value with its confidence interval and domain flag, and how a workflow gets them.

Every workflow takes any ASE calculator. Where it is ridgeline's with uncertainties (an ensemble
file, or a model file calibrated by ``ridgeline uq calibrate``), :class:`Uncertainty` gives

- :meth:`Uncertainty.energies`: for a property that is a function of the energies of a few
  structures (a formation or surface energy, a barrier, an equation-of-state fit), the linearised
  interval of ``uncertainty.confidence_interval``, which keeps the correlations between
  structures that share environments (so a difference of alike structures is sharper than either);
- :meth:`Uncertainty.draw_sigmas`: for anything else (stress-strain slopes, force constants,
  phonon frequencies), the same computation repeated with each posterior draw
  (``Calculator.posterior_calculators``: a committee's members, or last-layer Laplace draws);
  sigma = sqrt(alpha_energy) x the draws' standard deviation, and a Gaussian interval about the
  model's own value;
- :meth:`Uncertainty.out_of_domain`: whether any atom of the structures lies outside the fitted
  domain model(s).

With any other calculator (EMT, xTB, a DFT code, a model without uncertainty data) the intervals
and the domain flag are ``None``: unknown, never zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from scipy.stats import norm

from ..analysis.results import Result, jsonable
from ..errors import ConfigError, RelaxationError

LINEARISED = "linearised"
DRAWS = "posterior draws"


@dataclass
class Estimate:
    """``value`` (``unit``) and, where the calculator has uncertainties, its calibrated ``sigma``
    and central interval [``lower``, ``upper``] at ``confidence``; ``out_of_domain``: any structure
    it was computed from has atoms outside the domain model (None: no domain model)."""

    value: float
    unit: str
    sigma: float | None = None
    lower: float | None = None
    upper: float | None = None
    confidence: float | None = None
    method: str | None = None  # LINEARISED | DRAWS | None
    out_of_domain: bool | None = None

    @property
    def ci(self) -> list[float] | None:
        return None if self.lower is None else [self.lower, self.upper]

    def contains(self, reference: float) -> bool | None:
        """Whether ``reference`` lies in the interval (None without one)."""
        return None if self.lower is None else bool(self.lower <= reference <= self.upper)

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        text = f"{self.value:.6g} {self.unit}"
        if self.sigma is not None:
            text += f" [{self.lower:.6g}, {self.upper:.6g}]"
        return text + (" (out of domain)" if self.out_of_domain else "")


class SummaryResult(Result):
    """A workflow result whose headline estimates sit in its ``summary`` field (name -> Estimate)."""

    def estimates(self) -> dict[str, Estimate]:
        return dict(self.summary)

    def to_dict(self) -> dict:
        data = jsonable({k: v for k, v in self.__dict__.items() if k != "summary"})
        data["summary"] = {k: e.to_dict() for k, e in self.summary.items()}
        return data


def make_estimate(value: float, unit: str, sigma: float | None = None, confidence: float = 0.95,
                  method: str | None = None, out_of_domain: bool | None = None) -> Estimate:
    """An :class:`Estimate` of ``value`` with the central Gaussian interval of ``sigma`` at
    ``confidence`` (no interval where ``sigma`` is None or not finite)."""
    value = float(value)
    if sigma is None or not math.isfinite(sigma):
        return Estimate(value, unit, out_of_domain=out_of_domain)
    sigma, z = float(sigma), float(norm.ppf(0.5 * (1 + confidence)))
    return Estimate(value, unit, sigma, value - z * sigma, value + z * sigma, confidence, method, out_of_domain)


def is_uncertain(calculator) -> bool:
    """Whether ``calculator`` is ridgeline's with an uncertainty model that can give variances."""
    uq = getattr(calculator, "uq", None)
    return uq is not None and uq.variances.available


class Uncertainty:
    """What a workflow asks of its calculator's uncertainty (module docstring). ``draws``: the
    number of Laplace posterior draws (a committee uses its members); ``seed`` fixes them."""

    def __init__(self, calculator, confidence: float = 0.95, draws: int = 8, seed: int = 0):
        if not 0 < confidence < 1:
            raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
        if int(draws) < 2:
            raise ConfigError(f"draws must be at least 2, got {draws}")
        self.calculator, self.confidence, self.draws, self.seed = calculator, float(confidence), int(draws), int(seed)
        self.available = is_uncertain(calculator)
        self._draws = None

    def estimate(self, value: float, unit: str, sigma: float | None = None, method: str | None = None,
                 out_of_domain: bool | None = None) -> Estimate:
        """:func:`make_estimate` at this uncertainty's confidence."""
        return make_estimate(value, unit, sigma, self.confidence, method, out_of_domain)

    def energies(self, observable: Callable, structures, unit: str, value: float | None = None,
                 out_of_domain: bool | None = None) -> Estimate:
        """``observable(E)`` of the structures' energies E (a torch tensor (S,), eV; ordinary
        arithmetic), with its linearised interval. ``value``: the property as the workflow
        computed it (e.g. from relaxed structures with any calculator); default: the observable of
        the model's energies. Without uncertainties, ``value`` must be given."""
        if not self.available:
            if value is None:
                raise ConfigError("Uncertainty.energies needs the value when the calculator has no uncertainty")
            return self.estimate(value, unit, out_of_domain=out_of_domain)
        from ..uncertainty.propagation import confidence_interval

        interval = confidence_interval(self.calculator.uq, observable, structures, self.confidence)
        return self.estimate(interval.value if value is None else value, unit, interval.sigma, LINEARISED, out_of_domain)

    def posterior_calculators(self) -> list:
        """The calculators of the posterior draws (made once, then reused)."""
        if self._draws is None:
            self._draws = self.calculator.posterior_calculators(self.draws, self.seed)
        return self._draws

    def draw_sigmas(self, function: Callable, progress: bool = False) -> dict[str, float] | None:
        """``function(calculator) -> {name: number}`` with each posterior draw; the calibrated
        sigma of each name (None without uncertainties). A draw whose computation fails (a
        relaxation that breaks down, numerics) is skipped; fewer than two left gives NaN sigmas."""
        if not self.available:
            return None
        from tqdm.auto import tqdm

        rows = []
        for calc in tqdm(self.posterior_calculators(), desc="posterior draws", unit="draw", leave=False,
                         disable=not progress, dynamic_ncols=True):
            try:
                rows.append({k: float(v) for k, v in function(calc).items()})
            except (RelaxationError, ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError):
                continue
        names = rows[0].keys() if rows else ()
        scale = math.sqrt(float(self.calculator.uq.alpha["energy"]))
        return {k: (scale * float(np.std([r[k] for r in rows], ddof=1)) if len(rows) > 1 else float("nan")) for k in names}

    def out_of_domain(self, structures) -> bool | None:
        """Whether any atom of ``structures`` is flagged by the calculator's domain model(s)
        (None: the calculator has none)."""
        if not getattr(self.calculator, "domain", None):
            return None
        flagged = False
        for atoms in structures:
            probe = atoms.copy()
            probe.calc = self.calculator
            probe.get_potential_energy()
            flagged |= bool(np.any(self.calculator.results.get("out_of_domain", False)))
        return flagged


__all__ = ["DRAWS", "LINEARISED", "Estimate", "SummaryResult", "Uncertainty", "is_uncertain", "make_estimate"]

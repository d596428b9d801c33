"""Mean-field microkinetics: the steady state of a network of elementary steps on one kind of site,
its turnover frequency (TOF), Campbell's degree of rate control, and the TOF for draws of the
barriers (``turnover`` makes the TOF's intervals of them).

The network (:meth:`MicrokineticModel.from_dict`, the ``microkinetics`` section of ``ridgeline
rates``)::

    gas: {CO: 1.0, O2: 0.5, CO2: 0.0}    # partial pressures, bar (activities p / 1 bar)
    adsorbates: [CO*, O*]                 # each on one site; "*" is the free site
    product: CO2                          # the TOF is its net production per site
    steps:
      - {name: CO_adsorption, reaction: "CO + * -> CO*", barrier: 0.0, reaction_energy: -1.4}
      - {name: O2_dissociation, reaction: "O2 + 2* -> 2O*", barrier: 0.3, backward_barrier: 2.3}
      - {name: oxidation, reaction: "CO* + O* -> CO2 + 2*", barrier: 0.9, reaction_energy: -0.5, sigma: 0.15}
    covariance: [[...]]                   # optional, steps x steps, eV^2: in place of the sigmas

Terms are separated by " + " (spaces around the plus, so names such as H+ stay whole) and may
carry an integer coefficient (``2O*``). Every step is reversible: forward barrier Ea, backward
barrier Ea - dG (``reaction_energy`` dG, or ``backward_barrier`` given), free energies in eV taken
as independent of temperature; k = A exp(-Ea / kT) with A the step's ``prefactor`` (Hz;
``backward_prefactor`` defaults to it) or Eyring's kT / h. Rates follow mass action in the
coverages and gas activities, r = k_f prod a^nu - k_b prod a^nu, and every step conserves sites,
so sum(theta) + theta_* = 1 holds throughout.

Steady state: the rate equations of all surface species (the free site too, so that a surface
nearly full keeps the precision of its few free sites) are integrated in ln theta from the clean
surface (theta_* = 1) with a stiff solver (scipy's BDF, then LSODA where that fails) and the
analytic Jacobian, until every species' net rate is below ``NEAR_STEADY`` of its gross rate (the
rates forming and consuming it added), then polished by Newton's method. The solution is accepted
when each net rate is below ``RESIDUAL_TOLERANCE`` of its gross rate and the coverages sum to
one, else an error says so. Where several steady states exist, this is the one the clean surface
relaxes to. The TOF is summed over the slow steps where the product's own steps are in
quasi-equilibrium (``MicrokineticModel.tof_coefficients``): the same number at steady state,
without the float64 cancellation of two nearly equal rates.

Degree of rate control (Campbell, J. Catal. 204, 520 (2001); Stegelmann, Andreasen & Campbell,
J. Am. Chem. Soc. 131, 8077 (2009)): X_i = d ln TOF / d ln k_i at constant K_i (k_f and k_b of
step i scaled together: its transition state moved), by central differences; sum_i X_i = 1, since
scaling every rate constant alike scales the TOF.

Uncertainty: a step's ``sigma`` (eV) is that of its transition state's energy, the reaction energy
held; ``sampled_tofs`` solves the steady state for draws of those shifts, and
:mod:`ridgeline.properties.turnover` turns them into the TOF's interval.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ..errors import ConfigError
from .rates import KB, PLANCK, _temperatures

SITE = "*"  # the free site
RESIDUAL_TOLERANCE = 1e-8  # largest net rate of a surface species accepted, as a fraction of its gross rate
NEWTON_TOLERANCE = 1e-12  # Newton stops here
NEAR_STEADY = 1e-4  # the integration stops here and Newton takes over
MAX_TIME = 1e40  # s, the longest integration
ODE_METHODS = ("BDF", "LSODA")  # stiff integrators, the second where the first's end does not polish
CLEAN = 1e-20  # the clean surface's adsorbate coverages (ln theta needs them positive)
DRC_STEP = 1e-3  # the step in ln k of the central differences
NETWORK_KEYS = ("gas", "adsorbates", "product", "steps", "covariance")
STEP_KEYS = ("name", "reaction", "barrier", "reaction_energy", "backward_barrier", "prefactor", "backward_prefactor",
             "sigma")
_ARROW = re.compile(r"\s*(?:<->|->)\s*")
_PLUS = re.compile(r"\s+\+\s+")
_TERM = re.compile(r"(\d+)\s*(\S.*)")


@dataclass
class Step:
    """An elementary step (module docstring): ``reactants`` and ``products`` map species to
    coefficients; barriers in eV, prefactors in Hz (None: kT / h), ``sigma`` in eV."""

    name: str
    reactants: dict
    products: dict
    barrier: float
    reaction_energy: float
    prefactor: float | None = None
    backward_prefactor: float | None = None
    sigma: float | None = None

    @property
    def backward_barrier(self) -> float:
        return self.barrier - self.reaction_energy


@dataclass
class SteadyState:
    """The steady state at one temperature: coverages of the adsorbates and the free site, each
    step's net rate and the TOF (1/s per site), the gross rate of the steps the TOF is summed over
    (forward and backward added: the scale of its float64 rounding), and the largest relative
    residual."""

    coverages: dict
    net_rates: dict
    tof: float
    tof_gross_rate: float
    residual: float
    tof_coefficients: np.ndarray  # (steps,) TOF = c . net rates (MicrokineticModel.tof_coefficients)


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _side(text: str, known: set, where: str) -> dict:
    out = {}
    for term in _PLUS.split(text.strip()):
        match = _TERM.fullmatch(term)
        name, count = (term, 1) if term in known or match is None else (match.group(2), int(match.group(1)))
        if name not in known:
            raise ConfigError(f"{where}: unknown species {name!r}; known: {', '.join(sorted(known))} "
                              "(terms are separated by ' + ')")
        out[name] = out.get(name, 0) + count
    return out


def parse_step(data, known: set, where: str) -> Step:
    """A :class:`Step` from its mapping (module docstring); ``where`` names it in errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a step is a mapping with keys {', '.join(STEP_KEYS)}, got {data!r}")
    unknown = sorted(set(data) - set(STEP_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(STEP_KEYS)}")
    for key in ("reaction", "barrier"):
        if key not in data:
            raise ConfigError(f"{where}: missing key {key!r}")
    name = str(data.get("name", where))
    where = f"{where} ({name})" if "name" in data else where
    sides = _ARROW.split(str(data["reaction"]).strip())
    if len(sides) != 2 or not all(sides):
        raise ConfigError(f"{where}: reaction {data['reaction']!r} is not of the form 'A + * -> A*'")
    reactants, products = (_side(s, known, where) for s in sides)
    barrier = _number(data["barrier"], f"{where}.barrier")
    if ("reaction_energy" in data) == ("backward_barrier" in data):
        raise ConfigError(f"{where}: give one of reaction_energy and backward_barrier")
    dG = (_number(data["reaction_energy"], f"{where}.reaction_energy") if "reaction_energy" in data
          else barrier - _number(data["backward_barrier"], f"{where}.backward_barrier"))
    if barrier < 0 or barrier - dG < 0:
        raise ConfigError(f"{where}: barriers must not be negative, got forward {barrier:g} eV and backward "
                          f"{barrier - dG:g} eV (reaction energy {dG:g} eV)")
    prefactors = []
    for key in ("prefactor", "backward_prefactor"):
        value = data.get(key)
        if value is not None and _number(value, f"{where}.{key}") <= 0:
            raise ConfigError(f"{where}.{key}: a prefactor is a positive frequency (Hz), got {value!r}")
        prefactors.append(None if value is None else float(value))
    sigma = data.get("sigma")
    if sigma is not None and _number(sigma, f"{where}.sigma") < 0:
        raise ConfigError(f"{where}.sigma: must not be negative, got {sigma!r}")
    return Step(name, reactants, products, barrier, dG, prefactors[0], prefactors[1] or prefactors[0],
                None if sigma is None else float(sigma))


class MicrokineticModel:
    """A mean-field network (module docstring): ``gas`` maps gas species to pressures (bar),
    ``adsorbates`` names the surface species, ``steps`` are :class:`Step`, ``product`` the gas
    species whose net production is the TOF, ``covariance`` (steps x steps, eV^2) the barriers'
    covariance in place of the steps' sigmas."""

    def __init__(self, gas: dict, adsorbates, steps: list, product: str, covariance=None):
        self.gas, self.adsorbates, self.steps, self.product = dict(gas), list(adsorbates), list(steps), product
        self.species = [*self.adsorbates, SITE, *self.gas]
        self._check()
        index = {s: k for k, s in enumerate(self.species)}
        self.reactant_matrix = np.zeros((len(steps), len(self.species)))
        self.product_matrix = np.zeros_like(self.reactant_matrix)
        for j, step in enumerate(steps):
            for matrix, side in ((self.reactant_matrix, step.reactants), (self.product_matrix, step.products)):
                for name, count in side.items():
                    matrix[j, index[name]] = count
        n = len(self.adsorbates)
        self.stoichiometry = (self.product_matrix - self.reactant_matrix)[:, :n + 1]  # (steps, adsorbates + "*")
        self.production = (self.product_matrix - self.reactant_matrix)[:, index[product]]  # (steps,)
        self.pressures = np.array([self.gas[g] for g in self.gas], float)
        self.covariance = self._covariance(covariance)

    @classmethod
    def from_dict(cls, data, where: str = "microkinetics") -> "MicrokineticModel":
        """The network from its YAML mapping (module docstring); errors name ``where``'s keys."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: a network is a mapping with keys {', '.join(NETWORK_KEYS)}")
        unknown = sorted(set(data) - set(NETWORK_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(NETWORK_KEYS)}")
        gas, adsorbates, steps = data.get("gas") or {}, data.get("adsorbates") or [], data.get("steps") or []
        if not isinstance(gas, dict) or not isinstance(adsorbates, list) or not isinstance(steps, list) or not steps:
            raise ConfigError(f"{where}: gas is a mapping of species to pressures (bar), adsorbates a list of names, "
                              "steps a non-empty list of steps")
        gas = {str(k): _number(v, f"{where}.gas.{k}") for k, v in gas.items()}
        known = {SITE, *gas, *map(str, adsorbates)}
        parsed = [parse_step(s, known, f"{where}.steps[{k}]") for k, s in enumerate(steps)]
        if "product" not in data:
            raise ConfigError(f"{where}: missing key 'product' (the gas species whose net production is the TOF)")
        return cls(gas, [str(a) for a in adsorbates], parsed, str(data["product"]), data.get("covariance"))

    def _check(self) -> None:
        names = [s.name for s in self.steps]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"step name(s) {', '.join(repeated)} given more than once")
        clash = sorted(set(self.gas) & set(self.adsorbates)) + [SITE] * (SITE in self.gas or SITE in self.adsorbates)
        if clash or len(set(self.adsorbates)) != len(self.adsorbates):
            raise ConfigError(f"species named twice (or '*', the free site, used as a name): {clash or self.adsorbates}")
        for name, p in self.gas.items():
            if not p >= 0:
                raise ConfigError(f"gas {name!r}: the pressure must be zero or positive (bar), got {p}")
        surface = {SITE, *self.adsorbates}
        for step in self.steps:
            sites = [sum(c for s, c in side.items() if s in surface) for side in (step.reactants, step.products)]
            if sites[0] != sites[1]:
                raise ConfigError(f"step {step.name!r}: unbalanced sites, {sites[0]} on the left and {sites[1]} on the "
                                  "right (count the free sites '*')")
            if sites[0] == 0:
                raise ConfigError(f"step {step.name!r}: no surface species, not a step of the surface network")
        used = {s for step in self.steps for s in (*step.reactants, *step.products)}
        for name in self.adsorbates:
            if name not in used:
                raise ConfigError(f"adsorbate {name!r} appears in no step: its coverage is undetermined")
        if self.product not in self.gas or self.product not in used:
            raise ConfigError(f"product {self.product!r}: must be a gas species that a step forms; gas species: "
                              f"{', '.join(self.gas) or 'none'}")

    def _covariance(self, covariance) -> np.ndarray:
        n = len(self.steps)
        if covariance is None:
            return np.diag([(s.sigma or 0.0) ** 2 for s in self.steps])
        if any(s.sigma is not None for s in self.steps):
            raise ConfigError("covariance: give either the steps' sigmas or the covariance, not both")
        try:
            c = np.array(covariance, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError(f"covariance: expected a {n} x {n} matrix of numbers (eV^2)") from None
        if c.shape != (n, n) or not np.all(np.isfinite(c)) or not np.allclose(c, c.T):
            raise ConfigError(f"covariance: expected a symmetric {n} x {n} matrix (one row per step), got shape {c.shape}")
        if np.linalg.eigvalsh(c).min() < -1e-12 * max(1.0, np.abs(c).max()):
            raise ConfigError("covariance: not positive semi-definite")
        return c

    # ------------------------------------------------------------------ rates
    def rate_constants(self, temperature: float, shifts=None) -> tuple[np.ndarray, np.ndarray]:
        """(k_f, k_b) of every step in Hz at ``temperature`` (K), each transition state moved by
        ``shifts`` (eV)."""
        kt = KB * float(temperature)
        eyring = kt / PLANCK
        a_f = np.array([s.prefactor or eyring for s in self.steps])
        a_b = np.array([s.backward_prefactor or eyring for s in self.steps])
        d = np.zeros(len(self.steps)) if shifts is None else np.asarray(shifts, float)
        return (a_f * np.exp(-(np.array([s.barrier for s in self.steps]) + d) / kt),
                a_b * np.exp(-(np.array([s.backward_barrier for s in self.steps]) + d) / kt))

    def _rates(self, theta, kf, kb):
        """Forward and backward rates (1/s per site) at the coverages ``theta`` (adsorbates, then "*")."""
        a = np.concatenate([theta, self.pressures])
        return kf * np.prod(a ** self.reactant_matrix, axis=1), kb * np.prod(a ** self.product_matrix, axis=1)

    def _residual(self, theta, kf, kb):
        """(d theta / dt of the adsorbates and the free site, their gross rates)."""
        rf, rb = self._rates(theta, kf, kb)
        return self.stoichiometry.T @ (rf - rb), np.abs(self.stoichiometry).T @ (rf + rb)

    def _jacobian(self, theta, kf, kb) -> np.ndarray:
        a, n = np.concatenate([theta, self.pressures]), len(theta)
        drate = np.zeros((len(self.steps), n))  # d r_net / d theta
        for sign, k, nu in ((1.0, kf, self.reactant_matrix), (-1.0, kb, self.product_matrix)):
            powers = a ** nu
            for s in range(n):
                others = np.prod(np.delete(powers, s, axis=1), axis=1)
                drate[:, s] += sign * k * others * np.where(nu[:, s] > 0, nu[:, s] * a[s] ** np.maximum(nu[:, s] - 1, 0), 0.0)
        return self.stoichiometry.T @ drate

    def _scaled_residual(self, theta, kf, kb) -> np.ndarray:
        """Each species' net rate over its gross rate (0 where it has neither)."""
        f, gross = self._residual(theta, kf, kb)
        return f / np.maximum(gross, 1e-300)

    def _relative_residual(self, theta, kf, kb) -> float:
        return max(float(np.max(np.abs(self._scaled_residual(theta, kf, kb)))), abs(float(theta.sum()) - 1.0))

    def _newton(self, theta, kf, kb, iterations: int = 100):
        """Newton's method from ``theta``: rows scaled by the gross rates, the unknowns by the
        coverages (so a coverage of 1e-30 is found to its own relative precision), the balance of
        the most covered species replaced by the site balance, the step damped to keep coverages
        non-negative and to lower the residual. None where it does not converge."""
        theta = np.asarray(theta, float)
        residual = self._scaled_residual(theta, kf, kb)
        for _ in range(iterations):
            worst = max(float(np.max(np.abs(residual))), abs(float(theta.sum()) - 1.0))
            if worst < NEWTON_TOLERANCE:
                return theta
            f, gross = self._residual(theta, kf, kb)
            jacobian = self._jacobian(theta, kf, kb) / np.maximum(gross, 1e-300)[:, None]
            k = int(np.argmax(theta))
            equations = f / np.maximum(gross, 1e-300)
            equations[k], jacobian[k] = theta.sum() - 1.0, 1.0
            relative = np.linalg.lstsq(jacobian * theta[None, :], -equations, rcond=None)[0]  # d theta / theta
            norm, lam = np.sum(equations**2), 1.0
            while lam > 1e-10:
                trial = theta * np.maximum(1.0 + lam * relative, 0.0)
                trial_residual = self._scaled_residual(trial, kf, kb)
                trial_equations = trial_residual.copy()
                trial_equations[k] = trial.sum() - 1.0
                if np.sum(trial_equations**2) < norm:
                    theta, residual = trial, trial_residual
                    break
                lam /= 2
            else:
                break
        return theta if self._relative_residual(theta, kf, kb) < RESIDUAL_TOLERANCE else None

    def _solve(self, kf, kb, start=None) -> np.ndarray:
        """The steady-state coverages (adsorbates, then "*"): Newton from ``start`` where given and
        it converges, else the stiff integration from the clean surface (in ln theta, so sparse
        species keep their relative precision), stopped once every species' net rate is below
        ``NEAR_STEADY`` of its gross rate, then Newton (module docstring)."""
        if start is not None:
            theta = self._newton(np.asarray(start, float), kf, kb)
            if theta is not None:
                return theta
        n = len(self.adsorbates)
        clean = np.log(np.concatenate([np.full(n, CLEAN), [1.0 - n * CLEAN]]))
        gas = np.prod(self.pressures ** self.reactant_matrix[:, n + 1:], axis=1)
        first_order = np.concatenate([kf * gas, kb])
        t_end = min(MAX_TIME, 1e3 / first_order[first_order > 0].min())

        def rate(t, u):
            theta = np.exp(u)
            return self._residual(theta, kf, kb)[0] / theta

        def jacobian(t, u):  # d (f / theta) / d ln theta
            theta = np.exp(u)
            return self._jacobian(theta, kf, kb) * theta[None, :] / theta[:, None] - np.diag(rate(t, u))

        def near_steady(t, u):
            return self._relative_residual(np.exp(u), kf, kb) - NEAR_STEADY

        near_steady.terminal = True
        reasons = []
        for method in ODE_METHODS:
            with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
                solution = solve_ivp(rate, (0.0, t_end), clean, method=method, jac=jacobian, rtol=1e-6, atol=1e-6,
                                     events=near_steady)
            theta = np.exp(solution.y[:, -1])
            theta /= theta.sum()
            polished = self._newton(theta, kf, kb)
            if polished is not None:
                return polished
            reasons.append(f"{method}: {solution.message} at t = {solution.t[-1]:.3g} s, largest net rate "
                           f"{self._relative_residual(theta, kf, kb):.2g} of its gross rate")
        raise ConfigError(f"network: no steady state found from the clean surface ({'; '.join(reasons)})")

    def tof_coefficients(self, theta, kf, kb) -> np.ndarray:
        """c (steps,) with TOF = c . r_net at any steady state: the product's production plus a
        combination y of the surface species' balances (each zero at steady state), y chosen by a
        linear program that keeps c off the fast steps (weights 1 + log10 of each step's gross
        rate over the slowest's). The TOF is then not a small difference of large, nearly equal
        rates (a product desorbing in quasi-equilibrium) but the net rate of the slow steps,
        whose coverages are known to their own relative precision."""
        from scipy.optimize import linprog

        rf, rb = self._rates(theta, kf, kb)
        gross = rf + rb
        slowest = gross[gross > 0].min(initial=1.0)
        weights = 1.0 + np.log10(np.maximum(gross, slowest) / slowest)
        m, n = self.stoichiometry.shape
        eye = np.eye(m)
        program = linprog(np.concatenate([np.zeros(n), weights]),
                          A_ub=np.block([[self.stoichiometry, -eye], [-self.stoichiometry, -eye]]),
                          b_ub=np.concatenate([-self.production, self.production]),
                          bounds=[(None, None)] * n + [(0, None)] * m, method="highs")
        if not program.success:
            return self.production.copy()
        return self.production + self.stoichiometry @ np.round(program.x[:n], 6)  # exact cancellations stay exact

    def _tof(self, theta, kf, kb, coefficients) -> float:
        rf, rb = self._rates(theta, kf, kb)
        return float(coefficients @ (rf - rb))

    def steady_state(self, temperature: float, shifts=None) -> SteadyState:
        """The steady state at ``temperature`` (K), transition states moved by ``shifts`` (eV)."""
        kf, kb = self.rate_constants(_temperatures(temperature)[0], shifts)
        theta = self._solve(kf, kb)
        rf, rb = self._rates(theta, kf, kb)
        c = self.tof_coefficients(theta, kf, kb)
        return SteadyState(dict(zip([*self.adsorbates, SITE], theta.tolist())),
                           {s.name: float(r) for s, r in zip(self.steps, rf - rb)}, float(c @ (rf - rb)),
                           float(np.abs(c) @ (rf + rb)), self._relative_residual(theta, kf, kb), c)

    def degree_of_rate_control(self, temperature: float, state=None) -> np.ndarray:
        """Campbell's X_i of every step at ``temperature`` (module docstring); the TOF must be
        positive. ``state``: the steady state at this temperature, where already solved."""
        kf, kb = self.rate_constants(_temperatures(temperature)[0])
        state = self.steady_state(temperature) if state is None else state
        theta, c = np.array(list(state.coverages.values())), state.tof_coefficients
        if not self._tof(theta, kf, kb, c) > 0:
            raise ConfigError(f"degree of rate control at {temperature:g} K: the TOF of {self.product} is not positive")
        out = np.zeros(len(self.steps))
        for i in range(len(self.steps)):
            scale = np.ones(len(self.steps))
            logs = []
            for h in (DRC_STEP, -DRC_STEP):
                scale[i] = np.exp(h)
                logs.append(np.log(self._tof(self._solve(kf * scale, kb * scale, theta), kf * scale, kb * scale, c)))
            out[i] = (logs[0] - logs[1]) / (2 * DRC_STEP)
        return out

    def sampled_tofs(self, temperature: float, shifts: np.ndarray, state: SteadyState) -> np.ndarray:
        """The TOF for each row of ``shifts`` (draws x steps, eV: each step's transition state
        moved), starting from ``state``, the nominal steady state at this temperature; NaN where
        no steady state is found."""
        kf, kb = self.rate_constants(_temperatures(temperature)[0])
        start, c = np.array(list(state.coverages.values())), state.tof_coefficients
        kt, out = KB * float(temperature), np.full(len(shifts), np.nan)
        for k, d in enumerate(shifts):
            factor = np.exp(-d / kt)
            try:
                out[k] = self._tof(self._solve(kf * factor, kb * factor, start), kf * factor, kb * factor, c)
            except (ConfigError, ArithmeticError, ValueError, np.linalg.LinAlgError):
                continue
        return out


__all__ = ["DRC_STEP", "MicrokineticModel", "RESIDUAL_TOLERANCE", "SITE", "SteadyState", "Step", "parse_step"]

"""What i-PI's output files mean: their columns read by name, means with statistical errors, and
the isotope substitution's free energy from the scaled-mass kinetic energy estimators.

Errors of means: :func:`ridgeline.analysis.free_energy.timeseries_mean` (pymbar's statistical
inefficiency g, the standard error sqrt(g var / n), n / g the independent samples).

Isotopes (Ceriotti and Markland, J. Chem. Phys. 138, 014112 (2013)): i-PI's ``isotope_tdfep`` /
``isotope_scfep`` give, each step, seven numbers per mass ratio alpha = m'/m; the kinetic energy an
atom would have with mass alpha m is sum_t exp(LTW_t) STW_t / sum_t exp(LW_t) over the steps
(a reweighted average, in Hartree). The free energy of the substitution m -> m' follows from
dF/dm = -<K>/m: dF = -integral of <K(alpha)> d ln(alpha) from 1 to m'/m (Simpson on the geometric
grid of ratios). Its error: the run cut into ``ISOTOPE_BLOCKS`` contiguous blocks, the whole
computation done in each, the standard error of the block values.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import units

from ...analysis.free_energy import timeseries_mean
from ...errors import DataError

ISOTOPE_BLOCKS = 8
_HEADER = re.compile(r"#\s*(?:column|cols\.)\s+(\d+)(?:-(\d+))?\s+-->\s+(\S+)")


@dataclass
class Estimate:
    mean: float
    error: float  # standard error of the mean
    inefficiency: float  # statistical inefficiency g, in samples
    samples: int

    def scaled(self, factor: float) -> "Estimate":
        return Estimate(self.mean * factor, self.error * abs(factor), self.inefficiency, self.samples)

    def to_dict(self) -> dict:
        return asdict(self)


def column_key(name: str) -> str:
    """A column's name without its unit: ``kinetic_cv{electronvolt}(H)`` -> ``kinetic_cv(H)``."""
    return re.sub(r"\{[^}]*\}", "", name)


def read_properties(path) -> dict[str, np.ndarray]:
    """An i-PI properties file as ``{name without unit: values}``; a property of several numbers
    (the isotope estimators) is an (n, k) array."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: i-PI wrote no properties file")
    columns, rows = [], []
    for line in path.read_text().splitlines():
        match = _HEADER.match(line)
        if match:
            first, last, name = match.groups()
            columns.append((column_key(name), int(first) - 1, int(last or first)))
        elif line.strip() and not line.startswith("#"):
            rows.append(line.split())
    if not columns:
        raise DataError(f"{path}: no column header (# column N --> name)")
    width = max(c[2] for c in columns)
    rows = [r for r in rows if len(r) == width]  # a row cut short by a killed run is left out
    data = np.array(rows, dtype=float).reshape(-1, width)
    return {name: (data[:, a] if b - a == 1 else data[:, a:b]) for name, a, b in columns}


def estimate(x) -> Estimate:
    """Mean of a time series and its standard error from its statistical inefficiency."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        raise DataError("no samples left to average (the equilibration takes the whole run)")
    if len(x) == 1:
        return Estimate(float(x[0]), float("nan"), 1.0, 1)
    mean, error, g = timeseries_mean(x)
    return Estimate(mean, error, g, len(x))


def drift(time_ps: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of ``values`` against time (per ps)."""
    if len(time_ps) < 2:
        return 0.0
    return float(np.polyfit(time_ps, values, 1)[0])


# ------------------------------------------------------------------------------------ isotopes
@dataclass
class IsotopeResult:
    """Substituting ``selection`` (each of its atoms alone) from ``mass`` to ``isotope_mass``."""

    selection: str
    mass: float  # amu
    isotope_mass: float  # amu
    temperature: float  # K
    estimator: str
    mass_ratios: list  # alpha, the integral's nodes
    kinetic_energy: list  # eV per substituted atom at each ratio (the first: the run's own)
    kinetic_energy_error: list
    effective_samples: list  # Kish's (sum w)^2 / sum w^2 of the reweighting at each ratio
    free_energy: float  # eV per substituted atom, F(isotope) - F(atom)
    free_energy_error: float
    samples: int

    def to_dict(self) -> dict:
        return asdict(self)


def scaled_mass_kinetic(terms: np.ndarray) -> tuple[float, float]:
    """(kinetic energy in eV, Kish effective samples) of one ratio from i-PI's seven numbers per
    step (columns 4, 5, 6: LW, LTW, STW)."""
    lw, ltw, stw = terms[:, 4], terms[:, 5], terms[:, 6]
    shift = max(lw.max(), ltw.max())
    numerator = np.sum(stw * np.exp(ltw - shift))
    weights = np.exp(lw - lw.max())
    denominator = np.sum(np.exp(lw - shift))
    return float(numerator / denominator * units.Hartree), float(weights.sum() ** 2 / np.sum(weights ** 2))


def free_energy_change(ratios: np.ndarray, kinetic: np.ndarray) -> float:
    """-integral of K d ln(alpha) over the ratios' grid (Simpson; the trapezoid for two nodes)."""
    from scipy.integrate import simpson, trapezoid

    x = np.log(ratios)
    return float(-(simpson(kinetic, x=x) if len(x) > 2 else trapezoid(kinetic, x=x)))


def isotope_free_energy(own_kinetic: np.ndarray, terms: list[np.ndarray], ratios, selection: str, mass: float,
                        isotope_mass: float, temperature: float, estimator: str) -> IsotopeResult:
    """The substitution's free energy from the sampled steps: ``own_kinetic`` (eV per selected atom,
    the run's centroid-virial estimator at those steps) and, per ratio above 1, i-PI's seven numbers
    per step (module docstring)."""
    n = len(own_kinetic)
    ratios = np.asarray(ratios, dtype=float)

    def nodes(rows: slice):
        pairs = [scaled_mass_kinetic(t[rows]) for t in terms]
        k = np.array([float(np.mean(own_kinetic[rows])), *[p[0] for p in pairs]])
        return k, [float(n if rows == slice(None) else rows.stop - rows.start), *[p[1] for p in pairs]]

    kinetic, effective = nodes(slice(None))
    blocks = min(ISOTOPE_BLOCKS, n)
    if blocks < 2:
        raise DataError(f"isotope estimators: {n} sample(s) after the equilibration, at least 2 needed for an error")
    edges = np.linspace(0, n, blocks + 1).astype(int)
    per_block = [nodes(slice(a, b))[0] for a, b in zip(edges[:-1], edges[1:])]
    k_blocks = np.array(per_block)
    f_blocks = np.array([free_energy_change(ratios, k) for k in k_blocks])
    se = np.sqrt(blocks)
    return IsotopeResult(selection, mass, isotope_mass, temperature, estimator, ratios.tolist(), kinetic.tolist(),
                         (k_blocks.std(axis=0, ddof=1) / se).tolist(), effective,
                         free_energy_change(ratios, kinetic), float(f_blocks.std(ddof=1) / se), n)


def kinetic_isotope_effect(reactant: IsotopeResult, transition_state: IsotopeResult) -> tuple[float, float]:
    """k(light) / k(heavy) and its error by transition-state theory from the substitution's free
    energy in the reactant and at the transition state (both runs at one temperature, one pair of
    masses): exp[(dF_TS - dF_R) / kT]. Two states' runs give an equilibrium isotope effect the same
    way."""
    if reactant.temperature != transition_state.temperature or \
            not np.isclose(reactant.isotope_mass / reactant.mass, transition_state.isotope_mass / transition_state.mass):
        raise DataError("kinetic_isotope_effect: the two runs must share the temperature and the pair of masses")
    kt = units.kB * reactant.temperature
    value = float(np.exp((transition_state.free_energy - reactant.free_energy) / kt))
    return value, value * float(np.hypot(reactant.free_energy_error, transition_state.free_energy_error)) / kt


__all__ = ["Estimate", "ISOTOPE_BLOCKS", "IsotopeResult", "column_key", "drift", "estimate",
           "free_energy_change", "isotope_free_energy", "kinetic_isotope_effect", "read_properties",
           "scaled_mass_kinetic"]

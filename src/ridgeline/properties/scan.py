"""Dissociation curves: a bond stretched, or a fragment pulled away rigidly, and the checks a
potential's tail must pass.

``dissociation_curve(atoms, calculator, pair=(i, j))`` moves atom j along the line from i to j;
``fragment=[...]`` moves those atoms rigidly along the line joining the two fragments' centres of
mass. The separation d (Å) is the distance between the two anchors (the atoms, or the centres).
At each d it records the energy (eV), the force along the separation ``-dE/dd`` (eV/Å: the sum of
the moving atoms' forces on the unit vector), and where the calculator has them the energy sigma
and the domain flag. The default grid runs from 0.85 times the input separation (the input is
taken to be near the bond's minimum) in steps of ``spacing`` until the closest pair of atoms of
the two fragments lies 2 Å beyond the cutoff.

The checks (each True, False, or None where it cannot be made), every one a property of any
short-ranged potential:

- ``constant_beyond_cutoff``: once every atom pair between the fragments is beyond the cutoff,
  the energy spreads by less than ``energy_tolerance`` (eV);
- ``smooth_at_cutoff``: no jump at the cutoff: the force along the separation at the last point
  inside the cutoff is below ``force_tolerance`` (eV/Å; a truncated potential keeps its force
  there), and the energy change across the crossing matches the force's trapezoid within
  ``energy_tolerance`` plus second order (a step in the energy does not);
- ``one_minimum``: no spurious well: at most one local minimum (of prominence above
  ``energy_tolerance``);
- ``no_oscillations``: beyond the minimum the curvature d^2E/dd^2 changes sign at most once (a
  bond curve is convex at its minimum and concave on its tail), counting only curvatures above
  ``curvature_tolerance`` (eV/Å^2).

``passed`` is True when no check failed; ``failed`` names the ones that did. The headline
estimate, ``dissociation_energy`` (eV), is the energy at the last point less the minimum's, with
the linearised interval of that difference where the calculator has uncertainties.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..analysis.results import Result, pyplot, save_figure
from ..errors import ConfigError, DataError
from .estimates import Estimate, Uncertainty
from .paths import sign_changes

START_FACTOR = 0.85  # the default grid starts at this fraction of the input separation
BEYOND = 2.0  # Å: the default grid ends when the closest inter-fragment pair is this far beyond the cutoff
MAX_SEPARATION = 100.0  # Å: a default grid that needs more than this is an error


@dataclass
class ScanResult(Result):
    """A dissociation curve and its checks (module docstring). One entry per grid point."""

    distances: np.ndarray  # (n,) Å, separation of the anchors
    closest: np.ndarray  # (n,) Å, the closest distance between an atom of each fragment
    energies: np.ndarray  # (n,) eV
    forces: np.ndarray  # (n,) eV/Å, -dE/dd along the separation
    curvature: np.ndarray  # (n - 2,) eV/Å^2, d^2E/dd^2 at the interior points (finite differences)
    energy_sigmas: np.ndarray | None  # (n,) eV, calibrated (None: no uncertainty)
    point_out_of_domain: list | None  # (n,) each point's domain flag (None: no domain model)
    moving: list  # indices of the atoms moved
    cutoff: float | None  # Å
    minimum_distance: float  # Å, separation at the lowest energy
    n_minima: int
    inflections: int  # curvature sign changes beyond the minimum
    plateau_spread: float | None  # eV, max - min of the energies beyond the cutoff
    cutoff_force: float | None  # eV/Å, |force| at the last point inside the cutoff
    cutoff_step: float | None  # eV, energy change across the crossing less the force's trapezoid
    dissociation_energy: Estimate
    checks: dict  # name -> True | False | None
    failed: list  # names of the failed checks
    passed: bool
    warnings: list = field(default_factory=list)

    def estimates(self) -> dict[str, Estimate]:
        return {"dissociation_energy": self.dissociation_energy}

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["dissociation_energy"] = self.dissociation_energy.to_dict()
        return out


# ------------------------------------------------------------------------------ geometry
def _indices(atoms, fragment, pair) -> tuple[np.ndarray, np.ndarray, bool]:
    """(moving, fixed, is_pair): the atoms moved and the rest (for a pair: atom j and atom i)."""
    n = len(atoms)
    if (fragment is None) == (pair is None):
        raise ConfigError("give exactly one of fragment (indices of the atoms to pull away) or pair (i, j)")
    if pair is not None:
        if len(pair) != 2:
            raise ConfigError(f"pair must be two atom indices, got {pair}")
        i, j = (int(k) for k in pair)
        if not (0 <= i < n and 0 <= j < n) or i == j:
            raise DataError(f"pair ({i}, {j}): two different atoms of the {n} in the structure are needed")
        return np.array([j]), np.array([i]), True
    moving = np.unique(np.asarray(fragment, dtype=int))
    if moving.size == 0 or moving.min() < 0 or moving.max() >= n:
        raise DataError(f"fragment {list(fragment)}: atom indices must lie in 0..{n - 1}")
    if moving.size == n:
        raise DataError("the fragment holds every atom: nothing is left to pull it away from")
    return moving, np.setdiff1d(np.arange(n), moving), False


def _anchors(atoms, moving, fixed, is_pair) -> tuple[np.ndarray, np.ndarray]:
    if is_pair:
        return atoms.positions[fixed[0]], atoms.positions[moving[0]]
    masses = atoms.get_masses()

    def centre(idx):
        return masses[idx] @ atoms.positions[idx] / masses[idx].sum()

    return centre(fixed), centre(moving)


def _closest(atoms, moving, fixed) -> float:
    return float(min(atoms.get_distances(int(i), fixed, mic=bool(atoms.pbc.any())).min() for i in moving))


def _placed(atoms, moving, direction, shift):
    probe = atoms.copy()
    probe.positions[moving] += shift * direction
    return probe


def cutoff_of(calculator) -> float | None:
    """The calculator's interaction cutoff (Å) where it says: a ridgeline model's, ASE's
    LennardJones ``rc``, EMT's neighbour-list cutoff (after its first calculation)."""
    model = getattr(calculator, "model", None)
    if model is not None and getattr(model, "cutoff", None) is not None:
        return float(model.cutoff)
    rc = getattr(calculator, "parameters", {}).get("rc")
    if rc is not None:
        return float(rc)
    rc = getattr(calculator, "rc_list", None)
    return None if rc is None else float(rc)


def default_distances(atoms, moving, fixed, direction, d0, cutoff, spacing) -> np.ndarray:
    """From START_FACTOR x d0 in steps of ``spacing`` until the closest inter-fragment pair is
    BEYOND Å past the cutoff."""
    shift = 0.0
    while _closest(_placed(atoms, moving, direction, shift), moving, fixed) < cutoff + BEYOND:
        shift += spacing
        if d0 + shift > MAX_SEPARATION:
            raise DataError(f"the fragments stay within {cutoff + BEYOND:g} Å of each other up to a separation of "
                            f"{MAX_SEPARATION:g} Å: a periodic cell too small for the scan?")
    return np.arange(START_FACTOR * d0, d0 + shift + 0.5 * spacing, spacing)


# ------------------------------------------------------------------------------ checks
def curvature_of(d: np.ndarray, e: np.ndarray) -> np.ndarray:
    """d^2E/dd^2 (eV/Å^2) at the interior points of a possibly uneven grid (three-point formula)."""
    h1, h2 = d[1:-1] - d[:-2], d[2:] - d[1:-1]
    return 2 * (h1 * e[2:] - (h1 + h2) * e[1:-1] + h2 * e[:-2]) / (h1 * h2 * (h1 + h2))


def count_minima(e: np.ndarray, tolerance: float) -> list[int]:
    """Interior local minima of prominence above ``tolerance`` (eV)."""
    from scipy.signal import find_peaks

    return [int(k) for k in find_peaks(-np.asarray(e, dtype=float), prominence=tolerance)[0]]


# ------------------------------------------------------------------------------ workflow
def dissociation_curve(atoms, calculator, *, fragment=None, pair=None, distances=None, cutoff: float | None = None,
                       spacing: float = 0.05, energy_tolerance: float = 1e-4, force_tolerance: float = 1e-2,
                       curvature_tolerance: float = 0.05, uncertainty: Uncertainty | None = None,
                       progress: bool = False) -> ScanResult:
    """The energy along a dissociation (module docstring). ``distances``: the separations (Å)
    to evaluate, ascending; default: the grid of the module docstring, which needs a cutoff
    (``cutoff``, Å, or the calculator's: :func:`cutoff_of`)."""
    from tqdm.auto import tqdm

    if spacing <= 0 or energy_tolerance <= 0 or force_tolerance <= 0 or curvature_tolerance <= 0:
        raise ConfigError("spacing and the tolerances must be positive")
    moving, fixed, is_pair = _indices(atoms, fragment, pair)
    atoms = atoms.copy()
    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    start, end = _anchors(atoms, moving, fixed, is_pair)
    d0 = float(np.linalg.norm(end - start))
    if d0 < 1e-6:
        raise DataError("the two fragments' anchors coincide: no direction to pull along")
    direction = (end - start) / d0
    probe = atoms.copy()
    probe.calc = calculator
    probe.get_potential_energy()  # a first calculation: EMT sets its cutoff here
    cutoff = cutoff_of(calculator) if cutoff is None else float(cutoff)
    if distances is None:
        if cutoff is None:
            raise ConfigError(f"{type(calculator).__name__} does not say its cutoff: give cutoff= or distances=")
        distances = default_distances(atoms, moving, fixed, direction, d0, cutoff, spacing)
    d = np.asarray(distances, dtype=float)
    if d.ndim != 1 or d.size < 3 or np.any(np.diff(d) <= 0) or d[0] <= 0:
        raise ConfigError("distances must be at least three positive separations in increasing order")

    energies, forces, closest, sigmas, flags, structures = [], [], [], [], [], []
    for x in tqdm(d, desc="scan", unit="point", leave=False, disable=not progress, dynamic_ncols=True):
        point = _placed(atoms, moving, direction, x - d0)
        point.calc = calculator
        energies.append(point.get_potential_energy())
        forces.append(float(np.sum(point.get_forces()[moving] @ direction)))
        closest.append(_closest(point, moving, fixed))
        results = calculator.results
        if unc.available and "energy_sigma" not in results:  # a plain calculator computed the point: ask the uncertain one
            probe = point.copy()
            probe.calc = unc.calculator
            probe.get_potential_energy()
            results = unc.calculator.results
        if "energy_sigma" in results:
            sigmas.append(float(results["energy_sigma"]))
        if "out_of_domain" in results:
            flags.append(bool(np.any(results["out_of_domain"])))
        point.calc = None
        structures.append(point)
    e, f, closest = np.array(energies), np.array(forces), np.array(closest)
    return _check(d, e, f, closest, np.array(sigmas) if sigmas else None, flags or None, structures, moving, cutoff,
                  energy_tolerance, force_tolerance, curvature_tolerance, unc)


def _check(d, e, f, closest, sigmas, flags, structures, moving, cutoff, energy_tolerance, force_tolerance,
           curvature_tolerance, unc) -> ScanResult:
    warnings, checks = [], {}
    lowest = int(np.argmin(e))
    curvature = curvature_of(d, e)
    minima = count_minima(e, energy_tolerance)
    inflections = sign_changes(curvature[lowest:], curvature_tolerance)
    checks["one_minimum"] = len(minima) <= 1
    if not checks["one_minimum"]:
        warnings.append(f"{len(minima)} local minima, at {', '.join(f'{d[k]:.3g}' for k in minima)} Å: a spurious well")
    checks["no_oscillations"] = inflections <= 1
    if not checks["no_oscillations"]:
        warnings.append(f"the curvature changes sign {inflections} times beyond the minimum: the curve oscillates")

    spread = cutoff_force = cutoff_step = None
    beyond = np.flatnonzero(closest > cutoff) if cutoff is not None else np.array([], dtype=int)
    if cutoff is None:
        checks["constant_beyond_cutoff"] = checks["smooth_at_cutoff"] = None
        warnings.append("no cutoff known: the tail checks were not made")
    elif beyond.size < 2 or beyond[0] == 0:
        checks["constant_beyond_cutoff"] = checks["smooth_at_cutoff"] = None
        warnings.append(f"the scan does not cross the cutoff ({cutoff:g} Å) with two points beyond it: "
                        "the tail checks were not made")
    else:
        spread = float(np.ptp(e[beyond]))
        checks["constant_beyond_cutoff"] = spread <= energy_tolerance
        if not checks["constant_beyond_cutoff"]:
            warnings.append(f"beyond the cutoff ({cutoff:g} Å) the energy still varies by {spread:.3g} eV")
        k = int(beyond[0])
        cutoff_force = float(abs(f[k - 1]))
        cutoff_step = float((e[k] - e[k - 1]) + 0.5 * (f[k - 1] + f[k]) * (d[k] - d[k - 1]))
        checks["smooth_at_cutoff"] = cutoff_force <= force_tolerance and abs(cutoff_step) <= energy_tolerance
        if not checks["smooth_at_cutoff"]:
            warnings.append(f"a jump at the cutoff: force {cutoff_force:.3g} eV/Å at {d[k - 1]:.3g} Å just inside it, "
                            f"energy step {cutoff_step:.3g} eV unexplained by the forces")
    failed = [name for name, ok in checks.items() if ok is False]

    ends = [structures[lowest], structures[-1]]
    value = float(e[-1] - e[lowest])
    dissociation = unc.energies(lambda en: en[1] - en[0], ends, "eV", value=value, out_of_domain=unc.out_of_domain(ends))
    return ScanResult(distances=d, closest=closest, energies=e, forces=f, curvature=curvature, energy_sigmas=sigmas,
                      point_out_of_domain=flags, moving=[int(k) for k in moving], cutoff=cutoff,
                      minimum_distance=float(d[lowest]), n_minima=len(minima), inflections=inflections,
                      plateau_spread=spread, cutoff_force=cutoff_force, cutoff_step=cutoff_step,
                      dissociation_energy=dissociation, checks=checks, failed=failed, passed=not failed,
                      warnings=warnings)


def plot_scan(result: ScanResult, path) -> None:
    """E(d) relative to the last point, with the sigma band where known and the separation at
    which the closest pair crosses the cutoff marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    d, e = result.distances, result.energies - result.energies[-1]
    ax.plot(d, e, "-", color="C0", label="energy")
    if result.energy_sigmas is not None:
        ax.fill_between(d, e - result.energy_sigmas, e + result.energy_sigmas, color="C0", alpha=0.2, label="± sigma")
    if result.cutoff is not None and np.any(result.closest > result.cutoff):
        crossing = d[int(np.argmax(result.closest > result.cutoff))]
        ax.axvline(crossing, color="k", linestyle="--", label=f"cutoff {result.cutoff:g} Å crossed")
    ax.set_xlabel("separation (Å)")
    ax.set_ylabel("E - E(last) (eV)")
    ax.set_title("passed" if result.passed else "failed: " + ", ".join(result.failed))
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["ScanResult", "count_minima", "curvature_of", "cutoff_of", "default_distances", "dissociation_curve",
           "plot_scan"]

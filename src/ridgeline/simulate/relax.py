"""Geometry relaxation through ASE's optimizers, plus a Newton trust-region step on the exact Hessian.

``relax(atoms, calculator, optimizer="auto", cell=False, fmax=0.01, max_steps=1000, pressure=0.0,
trajectory=None)`` relaxes a copy of ``atoms`` and returns a :class:`RelaxResult`. Optimizers are
named in :data:`OPTIMIZERS`:

==========  =====================================================================================
name        method
==========  =====================================================================================
``bfgs``    ``ase.optimize.BFGS`` (dense quasi-Newton)
``lbfgs``   ``ase.optimize.LBFGS`` (limited memory)
``fire``    ``ase.optimize.FIRE`` (damped dynamics)
``newton``  :class:`NewtonTrustRegion`: the calculator's exact Hessian (``get_hessian``) every
            step; fixed cell only
``auto``    ``lbfgs``: in ``benchmarks/results/relax_hessian.md`` (CPU, small moment models)
            ``newton`` takes 2-6 times fewer steps than ``lbfgs`` on 9-atom molecules and a
            31-atom cell with a vacancy, but each exact Hessian is the work of about 3N backward
            passes, so ``lbfgs`` was 1.7-14 times faster in wall time in every case measured, and
            faster than ``bfgs`` and about as fast as ``fire`` or faster. Choose ``newton`` where the minimum must be a true
            one (every curvature positive: it leaves saddle points), or where a Hessian is cheap
            next to the steps saved
==========  =====================================================================================

``cell=True`` relaxes the cell too, through ``ase.filters.FrechetCellFilter`` at the external
``pressure`` (GPa); ``fmax`` (eV/Å) then also bounds the stress times the volume per atom, as the
filter's generalised forces do.

Every step is checked (``md.ExplosionCheck``: non-finite energy, forces or positions, atoms closer
than 0.5 Å); a relaxation that fails it stops with :class:`RelaxationError` naming the step.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
from ase import units
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE, LBFGS
from ase.optimize.optimize import Optimizer

from ..errors import ConfigError, RelaxationError, RidgelineError
from .md import ExplosionCheck

AUTO_OPTIMIZER = "lbfgs"  # what ``auto`` means (module docstring)
# the per-step health check: only what makes a relaxation meaningless, not large forces (a
# relaxation may start far from a minimum)
COLLISION_CHECK = ExplosionCheck(max_force=None, min_distance=0.5, max_temperature_factor=None)


# ------------------------------------------------------------------------------- Newton step
def rigid_modes(atoms) -> np.ndarray:
    """Orthonormal Cartesian displacements (3N, k) that move ``atoms`` rigidly: the three
    translations, and for a structure periodic in no direction the rotations about the centre
    (two for a linear molecule)."""
    n = len(atoms)
    modes = [np.tile(np.eye(3)[a], n) for a in range(3)]
    if not atoms.pbc.any():
        centred = atoms.positions - atoms.positions.mean(axis=0)
        modes += [np.cross(np.eye(3)[a], centred).ravel() for a in range(3)]
    u, s, _ = np.linalg.svd(np.array(modes).T, full_matrices=False)
    return u[:, s > 1e-6 * s.max()]


def trust_region_step(hessian: np.ndarray, forces: np.ndarray, radius: float) -> tuple[np.ndarray, float]:
    """The displacement ``dx`` minimising the quadratic model ``-F.dx + dx.H.dx/2`` within
    ``|dx| <= radius`` (Moré & Sorensen, SIAM J. Sci. Stat. Comput. 4, 553 (1983)), and the
    model's energy change. In the eigenbasis of H, dx = sum_i v_i (v_i.F) / (lambda_i + mu):
    mu = 0 is the Newton step when H is positive definite and the step fits; otherwise the level
    shift mu > max(0, -lambda_min) puts the step on the boundary, which also turns a negative
    curvature direction into a descent direction."""
    values, vectors = np.linalg.eigh(hessian)
    projected = vectors.T @ forces

    def step(mu):
        return vectors @ (projected / (values + mu))

    lowest = values[0]
    if lowest > 0:
        dx = step(0.0)
        if np.linalg.norm(dx) <= radius:
            return dx, float(-forces @ dx + 0.5 * dx @ hessian @ dx)
    # |dx(mu)| decreases monotonically for mu > -lambda_min: bisect for |dx| = radius
    low = max(0.0, -lowest) + 1e-12 * max(1.0, abs(lowest))
    high = low + np.linalg.norm(forces) / radius + abs(lowest) + 1.0
    while np.linalg.norm(step(high)) > radius:
        high *= 2
    for _ in range(100):
        mid = 0.5 * (low + high)
        if np.linalg.norm(step(mid)) > radius:
            low = mid
        else:
            high = mid
    dx = step(high)
    if not np.all(np.isfinite(dx)):  # F orthogonal to the soft modes and mu at the pole: go down the softest
        dx = radius * vectors[:, 0]
    return dx, float(-forces @ dx + 0.5 * dx @ hessian @ dx)


class NewtonTrustRegion(Optimizer):
    """Newton steps on the calculator's exact Hessian within a trust radius (Å, the length of the
    whole 3N displacement) adapted from rho = actual / predicted energy change: shrunk to a
    quarter of the step below rho = 0.25, doubled (up to ``max_radius``) above rho = 0.75 when the
    step reached the boundary; a step that raises the energy is taken back. The Hessian and forces
    are restricted to the non-rigid modes (:func:`rigid_modes`), whose zero curvature would make
    the Newton step singular. Fixed cell only; no constraints."""

    def __init__(self, atoms, radius: float = 0.2, max_radius: float = 1.0, min_radius: float = 1e-4, **kwargs):
        if atoms.constraints:
            raise ConfigError("the newton optimizer does not handle constraints: use bfgs, lbfgs or fire")
        if not hasattr(atoms.calc, "get_hessian"):
            raise ConfigError(f"the newton optimizer needs a calculator with get_hessian; "
                              f"{type(atoms.calc).__name__} has none")
        super().__init__(atoms, **kwargs)
        self.radius, self.max_radius, self.min_radius = float(radius), float(max_radius), float(min_radius)
        self.hessian_calls = 0
        self._last = None  # (positions, energy, forces, hessian, predicted change, on boundary)

    def initialize(self):
        pass

    def step(self, forces=None):
        atoms = self.optimizable.atoms if hasattr(self.optimizable, "atoms") else self.atoms
        positions = atoms.get_positions()
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces().ravel() if forces is None else np.asarray(forces).ravel()
        if self._last is not None:
            last_positions, last_energy, last_forces, last_hessian, predicted, boundary = self._last
            rho = (energy - last_energy) / predicted if predicted < 0 else -1.0
            if rho < 0.25:
                self.radius = max(0.25 * np.linalg.norm(positions - last_positions), self.min_radius)
            elif rho > 0.75 and boundary:
                self.radius = min(2 * self.radius, self.max_radius)
            if energy > last_energy and self.radius > self.min_radius:
                # take the step back and retry from the last point with the smaller radius
                atoms.set_positions(last_positions)
                self._move(atoms, last_positions, last_energy, last_forces, last_hessian)
                return
        hessian = np.asarray(atoms.calc.get_hessian(atoms), dtype=float)
        self.hessian_calls += 1
        self._move(atoms, positions, energy, forces, hessian)

    def _move(self, atoms, positions, energy, forces, hessian):
        modes = rigid_modes(atoms)
        projector = np.eye(len(forces)) - modes @ modes.T
        values, vectors = np.linalg.eigh(projector @ hessian @ projector)
        internal = vectors[:, np.linalg.norm(modes.T @ vectors, axis=0) < 0.5]  # drop the rigid eigenvectors
        reduced_h = internal.T @ hessian @ internal
        reduced_f = internal.T @ forces
        dx, predicted = trust_region_step(0.5 * (reduced_h + reduced_h.T), reduced_f, self.radius)
        boundary = np.linalg.norm(dx) >= 0.99 * self.radius
        self._last = (positions, energy, forces, hessian, predicted, boundary)
        atoms.set_positions(positions + (internal @ dx).reshape(-1, 3))


# ---------------------------------------------------------------------------------- registry
def _ase(cls):
    def build(atoms, trajectory, logfile):
        return cls(atoms, trajectory=trajectory, logfile=logfile)

    return build


def _newton(atoms, trajectory, logfile):
    return NewtonTrustRegion(atoms, trajectory=trajectory, logfile=logfile)


# name -> builder(optimizable atoms or filter, trajectory path or None, logfile) -> ASE optimizer
OPTIMIZERS = {"bfgs": _ase(BFGS), "lbfgs": _ase(LBFGS), "fire": _ase(FIRE), "newton": _newton}


def choose_optimizer(atoms, calculator, cell: bool) -> str:
    """The ``auto`` rule (module docstring): the same for every structure, measured on CPU."""
    return AUTO_OPTIMIZER


# ----------------------------------------------------------------------------------- results
@dataclass
class RelaxResult:
    """How a relaxation ended. ``fmax``: the largest force norm (eV/Å; with a cell, of the
    filter's generalised forces) at the final structure."""

    optimizer: str
    converged: bool
    steps: int
    energy: float  # eV
    fmax: float  # eV/Å
    wall_time: float  # s
    atoms: object = field(repr=False)  # the final structure (ase.Atoms, calculator attached)
    hessian_calls: int = 0

    def to_dict(self) -> dict:
        return {
            "optimizer": self.optimizer, "converged": self.converged, "steps": self.steps, "energy": self.energy,
            "fmax": self.fmax, "wall_time": self.wall_time, "hessian_calls": self.hessian_calls,
            "n_atoms": len(self.atoms), "symbols": self.atoms.get_chemical_formula(),
            "positions": self.atoms.positions.tolist(), "cell": self.atoms.cell.array.tolist(),
            "pbc": self.atoms.pbc.tolist()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


# ------------------------------------------------------------------------------------ driver
def relax(atoms, calculator, optimizer: str = "auto", cell: bool = False, fmax: float = 0.01, max_steps: int = 1000,
          pressure: float = 0.0, trajectory=None, logfile=None) -> RelaxResult:
    """Relax a copy of ``atoms`` (module docstring). ``pressure`` in GPa (with ``cell``);
    ``trajectory``: a path for ASE's trajectory file; ``logfile``: ASE's optimizer log (None: quiet,
    "-": stdout)."""
    if optimizer not in OPTIMIZERS and optimizer != "auto":
        raise ConfigError(f"unknown optimizer {optimizer!r}; known: auto, {', '.join(OPTIMIZERS)}")
    if fmax <= 0 or max_steps < 0:
        raise ConfigError(f"relax needs fmax > 0 (eV/Å) and max_steps >= 0, got {fmax}, {max_steps}")
    if cell and not atoms.pbc.all():
        raise ConfigError("relaxing the cell needs a structure periodic in all three directions")
    if not cell and pressure:
        raise ConfigError("pressure acts on the cell: give cell=True with it")
    if optimizer == "auto":
        optimizer = choose_optimizer(atoms, calculator, cell)
    if optimizer == "newton" and cell:
        raise ConfigError("the newton optimizer relaxes positions at a fixed cell: use bfgs, lbfgs or fire with cell=True")
    atoms = atoms.copy()
    atoms.calc = calculator
    target = FrechetCellFilter(atoms, scalar_pressure=pressure * units.GPa) if cell else atoms
    start = time.perf_counter()
    _check(atoms, 0)
    dynamics = OPTIMIZERS[optimizer](target, None if trajectory is None else str(trajectory), logfile)
    dynamics.attach(lambda: _check(atoms, dynamics.nsteps))
    converged = bool(dynamics.run(fmax=fmax, steps=max_steps))
    forces = target.get_forces()
    return RelaxResult(optimizer=optimizer, converged=converged, steps=int(dynamics.nsteps),
                       energy=float(atoms.get_potential_energy()), fmax=float(np.linalg.norm(forces, axis=1).max(initial=0.0)),
                       wall_time=time.perf_counter() - start, atoms=atoms,
                       hessian_calls=getattr(dynamics, "hessian_calls", 0))


def _check(atoms, step: int) -> None:
    try:
        atoms.get_forces()
    except (FloatingPointError, ValueError) as err:
        if isinstance(err, RidgelineError):
            raise
        raise RelaxationError(f"relaxation step {step}: the calculator failed: {err}") from None
    reason = COLLISION_CHECK.reason(atoms)
    if reason is not None:
        raise RelaxationError(f"relaxation step {step}: {reason}")


__all__ = ["AUTO_OPTIMIZER", "OPTIMIZERS", "NewtonTrustRegion", "RelaxResult", "RelaxationError", "choose_optimizer",
           "relax", "rigid_modes", "trust_region_step"]

"""Exploring configuration space for active learning: Langevin MD with the current model,
harvesting frames, stopping where the model leaves its domain, discarding trajectories that blow up.

``LangevinExplorer(...).run(atoms, calculator)`` runs one trajectory from a copy of ``atoms``
(the caller's atoms are not touched) and returns an :class:`Exploration`:

- every ``interval`` steps (steps interval, 2 interval, ..., ``steps``; not step 0, the start
  itself) the structure is *checked* and *harvested*: a copy without calculator (positions,
  momenta, cell) goes into ``frames`` with the target temperature of that step;
- the check runs the :class:`~ridgeline.uncertainty.DomainMonitor` (action "stop") when
  ``stop_on_domain`` and the calculator gives ``forces_sigma`` (an ensemble or calibrated
  ridgeline model file): a flagged atom or a force sigma above ``max_forces_sigma`` ends the run
  with status ``"out_of_domain"``, and the flagged structure is the last frame;
- the explosion check: a non-finite energy, force or position, or any force component above
  ``max_force`` eV/Å, is looked for at *every* step (free: it reads the results the MD step
  already computed); any pair closer than ``min_distance`` Å (a short-range neighbour list) at
  step 0 and at every check. Either ends the run with status ``"exploded"`` (``reason`` says
  which) and **no frames**: once a trajectory blows up, the frames before it were
  already heading there on an unphysical potential, and labelling them (or the wreck) wastes
  oracle calls on structures no production simulation would visit.

Temperature: a number, or ``(start, end)`` for a linear ramp T(n) = start + (end - start) n / steps;
the Langevin target is set to T(n) at each harvest step n (so it changes every ``interval``
steps) and initial velocities are Maxwell-Boltzmann at ``start`` (then zero total momentum).
One ``numpy.random.default_rng(seed)`` draws the velocities and the thermostat's noise, so the
same seed gives the same trajectory. ``fixcm`` is off (ASE deprecates it); the centre of mass
of a free cluster diffuses slowly under the thermostat, which does not matter for harvesting.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from ase import units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary

from ..data.neighbors import neighbor_list
from ..simulate.velocities import thermalize
from ..uncertainty.monitor import DomainMonitor, OutOfDomain
from ..simulate.biases import Bias, BiasedCalculator

STATUSES = ("completed", "out_of_domain", "exploded")


@dataclass
class Exploration:
    frames: list  # harvested ase.Atoms copies (no calculator attached), in time order
    status: str  # "completed" | "out_of_domain" | "exploded"
    steps: int  # MD steps run
    temperatures: list[float]  # target temperature (K) at each harvested frame
    event: object | None = None  # DomainEvent when out_of_domain
    max_forces_sigma: list[float] = field(default_factory=list)  # per frame, if the calculator gives forces_sigma
    reason: str = ""  # for "exploded": which criterion fired


class _Exploded(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _frame(atoms):
    frame = atoms.copy()
    frame.calc = None
    frame.constraints = []
    return frame


class LangevinExplorer:
    def __init__(self, temperature: float | tuple[float, float] = 300.0, steps: int = 1000,
                 timestep: float = 0.5, friction: float = 0.01, interval: int = 10,
                 stop_on_domain: bool = True, max_forces_sigma: float | None = None,
                 min_distance: float = 0.5, max_force: float = 50.0,
                 biases: Sequence[Bias] = (), seed: int = 0):
        """``temperature`` K (or a (start, end) ramp), ``timestep`` fs, ``friction`` 1/fs,
        ``interval`` steps between harvests and domain checks, ``min_distance`` Å and ``max_force``
        eV/Å the explosion criteria, ``biases`` added to the calculator's energy and forces."""
        if isinstance(temperature, (tuple, list)):
            if len(temperature) != 2:
                raise ValueError("temperature must be a number or a (start, end) pair")
            self.t_start, self.t_end = float(temperature[0]), float(temperature[1])
        else:
            self.t_start = self.t_end = float(temperature)
        if min(self.t_start, self.t_end) < 0:
            raise ValueError("temperatures must be >= 0 K")
        if steps < 0 or interval < 1:
            raise ValueError("steps must be >= 0 and interval >= 1")
        if timestep <= 0 or friction < 0:
            raise ValueError("timestep must be > 0 and friction >= 0")
        self.temperature = temperature
        self.steps, self.timestep, self.friction, self.interval = int(steps), float(timestep), float(friction), int(interval)
        self.stop_on_domain, self.max_forces_sigma = bool(stop_on_domain), max_forces_sigma
        self.min_distance, self.max_force = float(min_distance), float(max_force)
        self.biases, self.seed = list(biases), int(seed)

    def target_temperature(self, step: int) -> float:
        """T(step) of the linear ramp (constant without one), K."""
        if self.steps == 0:
            return self.t_start
        return self.t_start + (self.t_end - self.t_start) * min(step, self.steps) / self.steps

    def explosion(self, atoms, distances: bool = True) -> str | None:
        """Why ``atoms`` (with up-to-date calculator results) counts as exploded, or None;
        ``distances=False`` skips the (neighbour-list) closest-pair test."""
        results = atoms.calc.results
        forces = np.asarray(results["forces"]) if "forces" in results else atoms.get_forces()
        if not np.all(np.isfinite(forces)):
            return "non-finite forces"
        energy = results.get("energy")
        if energy is not None and not np.isfinite(energy):
            return "non-finite energy"
        if not np.all(np.isfinite(atoms.positions)):
            return "non-finite positions"
        fmax = float(np.abs(forces).max(initial=0.0))
        if fmax > self.max_force:
            return f"force component {fmax:.3g} eV/Å above {self.max_force:g}"
        if distances and len(atoms) > 1 and self.min_distance > 0:
            i, _, _ = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, self.min_distance)
            if len(i):
                return f"atoms closer than {self.min_distance:g} Å"
        return None

    def run(self, atoms, calculator) -> Exploration:
        atoms = atoms.copy()
        atoms.calc = BiasedCalculator(calculator, self.biases) if self.biases else calculator
        rng = np.random.default_rng(self.seed)
        thermalize(atoms, self.t_start, rng)
        Stationary(atoms)
        dyn = Langevin(atoms, timestep=self.timestep * units.fs, temperature_K=self.t_start,
                       friction=self.friction / units.fs, fixcm=False, rng=rng)
        atoms.get_forces()
        has_sigma = "forces_sigma" in atoms.calc.results
        monitor = None
        if self.stop_on_domain and has_sigma:
            monitor = DomainMonitor(atoms, action="stop", max_forces_sigma=self.max_forces_sigma, dynamics=dyn)
        elif self.stop_on_domain and self.max_forces_sigma is not None:
            warnings.warn("LangevinExplorer(max_forces_sigma=...) ignored: the calculator gives no forces_sigma "
                          "(use an ensemble or calibrated model file)", stacklevel=2)
        frames, temperatures, sigmas = [], [], []

        def observe():
            n = dyn.nsteps
            check = n % self.interval == 0
            reason = self.explosion(atoms, distances=check)
            if reason is not None:
                raise _Exploded(reason)
            if n == 0 or not check:
                return
            if monitor is not None:
                monitor()  # raises OutOfDomain
            frames.append(_frame(atoms))
            temperatures.append(self.target_temperature(n))
            if has_sigma:
                sigmas.append(float(np.max(atoms.calc.results["forces_sigma"], initial=0.0)))
            # the ramp: the thermostat's target for the next interval
            dyn.set_temperature(temperature_K=self.target_temperature(n))

        dyn.attach(observe, interval=1)
        try:
            dyn.run(self.steps)
        except _Exploded as err:
            return Exploration([], "exploded", dyn.nsteps, [], None, [], err.reason)
        except OutOfDomain as err:
            frame = _frame(err.event.structure)
            frames.append(frame)
            temperatures.append(self.target_temperature(dyn.nsteps))
            sigmas.append(float(err.event.max_forces_sigma))
            return Exploration(frames, "out_of_domain", dyn.nsteps, temperatures, err.event, sigmas)
        return Exploration(frames, "completed", dyn.nsteps, temperatures, None, sigmas)


def explore_many(explorer: LangevinExplorer, starts: list, calculator) -> list[Exploration]:
    """One exploration per start structure, one after the other, with ``explorer``'s settings;
    start k uses seed ``explorer.seed + k`` (so walkers from similar starts do not share their
    thermostat noise; the whole list is reproducible)."""
    results = []
    for k, atoms in enumerate(starts):
        walker = copy.copy(explorer)
        walker.seed = explorer.seed + k
        results.append(walker.run(atoms, calculator))
    return results


__all__ = ["Exploration", "LangevinExplorer", "explore_many", "STATUSES"]

"""Exploring configuration space for active learning: Langevin MD with the current model
(:func:`ridgeline.simulate.md.MD`), harvesting frames, stopping where the model leaves its domain,
discarding trajectories that blow up.

``LangevinExplorer(...).run(atoms, calculator)`` runs one trajectory from a copy of ``atoms``
(the caller's atoms are not touched) and returns an :class:`Exploration`:

- every ``interval`` steps (steps interval, 2 interval, ..., ``steps``; not step 0, the start
  itself) the structure is *checked* and *harvested*: a copy without calculator (positions,
  momenta, cell) goes into ``frames`` with the target temperature of that step;
- the check is the driver's :class:`~ridgeline.simulate.md.DomainStop` with ``window=0`` when
  ``stop_on_domain`` and the calculator gives ``forces_sigma`` (an ensemble or calibrated
  ridgeline model file): a flagged atom or a force sigma above ``max_forces_sigma`` ends the run
  with status ``"out_of_domain"``, and the flagged structure is the last frame;
- the explosion check is the driver's :class:`~ridgeline.simulate.md.ExplosionCheck` with
  ``max_force`` and ``min_distance`` (a non-finite energy, force or position, or any force
  component above ``max_force`` eV/Å, at *every* step; any pair closer than ``min_distance`` Å at
  step 0 and at every check) and without its temperature test (a bias legitimately heats a
  walker where it does work). It ends the run with status ``"exploded"`` (``reason`` says which)
  and **no frames**: once a trajectory blows up, the frames before it were already heading there
  on an unphysical potential, and labelling them (or the wreck) wastes oracle calls on structures
  no production simulation would visit.

Temperature: a number, or ``(start, end)`` for a linear ramp T(n) = start + (end - start) n / steps;
the Langevin target is set to T(n) at each harvest step n (so it changes every ``interval``
steps) and initial velocities are Maxwell-Boltzmann at ``start`` (then zero total momentum).
One ``numpy.random.default_rng(seed)`` draws the velocities and the thermostat's noise, so the
same seed gives the same trajectory. The centre of mass is not held; it diffuses slowly under the
thermostat, which does not matter for harvesting.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..simulate.biases import Bias, BiasedCalculator
from ..simulate.md import MD, STATUSES, DomainStop, ExplosionCheck, linear_ramp


@dataclass
class Exploration:
    frames: list  # harvested ase.Atoms copies (no calculator attached), in time order
    status: str  # "completed" | "out_of_domain" | "exploded"
    steps: int  # MD steps run
    temperatures: list[float]  # target temperature (K) at each harvested frame
    event: object | None = None  # DomainEvent when out_of_domain
    max_forces_sigma: list[float] = field(default_factory=list)  # per frame, if the calculator gives forces_sigma
    reason: str = ""  # when stopped: the step and which criterion fired


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
                raise ConfigError("temperature must be a number or a (start, end) pair")
            self.t_start, self.t_end = float(temperature[0]), float(temperature[1])
        else:
            self.t_start = self.t_end = float(temperature)
        if min(self.t_start, self.t_end) < 0:
            raise ConfigError("temperatures must be >= 0 K")
        if steps < 0 or interval < 1:
            raise ConfigError("steps must be >= 0 and interval >= 1")
        if timestep <= 0 or friction < 0:
            raise ConfigError("timestep must be > 0 and friction >= 0")
        self.temperature = temperature
        self.steps, self.timestep, self.friction, self.interval = int(steps), float(timestep), float(friction), int(interval)
        self.stop_on_domain, self.max_forces_sigma = bool(stop_on_domain), max_forces_sigma
        self.min_distance, self.max_force = float(min_distance), float(max_force)
        self.biases, self.seed = list(biases), int(seed)

    def target_temperature(self, step: int) -> float:
        """T(step) of the linear ramp (constant without one), K."""
        return linear_ramp(self.t_start, self.t_end, self.steps)(step)

    def run(self, atoms, calculator) -> Exploration:
        frames, temperatures, sigmas = [], [], []

        def harvest(step, atoms):
            if step == 0:
                return
            frames.append(_frame(atoms))
            temperatures.append(self.target_temperature(step))
            if "forces_sigma" in atoms.calc.results:
                sigmas.append(float(np.max(atoms.calc.results["forces_sigma"], initial=0.0)))

        ramp = self.t_start != self.t_end
        md = MD(atoms, BiasedCalculator(calculator, self.biases) if self.biases else calculator, "langevin",
                timestep=self.timestep, temperature=self.target_temperature if ramp else self.t_start, seed=self.seed,
                interval=self.interval, zero_momentum=True,
                explosion=ExplosionCheck(self.max_force, self.min_distance, max_temperature_factor=None),
                domain_stop=DomainStop(window=0.0, max_forces_sigma=self.max_forces_sigma) if self.stop_on_domain else None,
                observers=[harvest], friction=self.friction)
        run = md.run(self.steps)
        if run.status == "exploded":
            return Exploration([], "exploded", run.step, [], None, [], run.reason)
        if run.status == "out_of_domain":
            frames.append(_frame(run.event.structure))
            temperatures.append(self.target_temperature(run.step))
            sigmas.append(float(run.event.max_forces_sigma))
            return Exploration(frames, "out_of_domain", run.step, temperatures, run.event, sigmas, run.reason)
        return Exploration(frames, "completed", run.step, temperatures, None, sigmas)


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

"""Watching a simulation for atoms that leave the model's domain.

``DomainMonitor`` is an ASE observer (``dyn.attach(monitor, interval=10)``) reading what the
ridgeline calculator put in ``atoms.calc.results``. Each check that finds out-of-domain atoms
(or a force sigma above ``max_forces_sigma``) is recorded with a copy of the structure; with
``action="stop"`` it raises :class:`OutOfDomain`, which ends ``dyn.run()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import RidgelineError


class OutOfDomain(RidgelineError):
    """Raised by a DomainMonitor with action="stop"; ``.event`` says where and when."""

    def __init__(self, message: str, event: "DomainEvent"):
        super().__init__(message)
        self.event = event


@dataclass
class DomainEvent:
    step: int
    atoms_out: np.ndarray  # indices of flagged atoms
    max_forces_sigma: float
    structure: object  # ase.Atoms copy at that step


class DomainMonitor:
    def __init__(self, atoms, action: str = "stop", max_forces_sigma: float | None = None, dynamics=None):
        if action not in ("stop", "flag"):
            raise ValueError(f"action must be 'stop' or 'flag', got {action!r}")
        self.atoms, self.action, self.max_forces_sigma, self.dynamics = atoms, action, max_forces_sigma, dynamics
        self.events: list[DomainEvent] = []
        self.checks = 0

    def __call__(self) -> None:
        results = self.atoms.calc.results
        if "forces" not in results:
            self.atoms.get_forces()
            results = self.atoms.calc.results
        out = np.asarray(results.get("out_of_domain", np.zeros(len(self.atoms), dtype=bool)), dtype=bool).copy()
        sigma = np.asarray(results.get("forces_sigma", np.zeros(len(self.atoms))))
        if self.max_forces_sigma is not None:
            if "forces_sigma" not in results:
                raise RidgelineError("DomainMonitor(max_forces_sigma=...) needs a calculator that gives forces_sigma "
                                     "(an ensemble or a calibrated model file)")
            out |= sigma > self.max_forces_sigma
        step = self.dynamics.nsteps if self.dynamics is not None else self.checks
        self.checks += 1
        if out.any():
            event = DomainEvent(step, np.flatnonzero(out), float(sigma.max(initial=0.0)), self.atoms.copy())
            self.events.append(event)
            if self.action == "stop":
                raise OutOfDomain(f"step {step}: {out.sum()} atom(s) out of the model's domain "
                                  f"(first: {event.atoms_out[:5].tolist()}; max force sigma {event.max_forces_sigma:.3g} eV/Å)", event)

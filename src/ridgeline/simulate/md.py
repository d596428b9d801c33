"""Molecular dynamics through ASE's integrators: one driver for every ensemble.

``run_md(atoms, calculator, "langevin", steps=2000, timestep=0.5, temperature=300.0, friction=0.01)``
(or ``MD(...)`` and ``.run(steps)`` in pieces) runs a copy of ``atoms`` and returns an
:class:`MDRun`. Ensembles are named in :data:`ENSEMBLES`, each a small builder of an ASE integrator:

=====================  ==========================================  ==========================
name                   ASE integrator                              parameters (driver units)
=====================  ==========================================  ==========================
``nve``                ``ase.md.verlet.VelocityVerlet``            --
``langevin``           ``ase.md.langevin.Langevin``                ``friction`` 1/fs (0.01)
``bussi``              ``ase.md.bussi.Bussi`` (stochastic          ``tau`` fs (100)
                       velocity rescaling)
``nose_hoover_chain``  ``ase.md.nose_hoover_chain.                 ``tau`` fs (100), ``chain``
                       NoseHooverChainNVT``                        (3), ``loop`` (1)
``andersen``           ``ase.md.andersen.Andersen``                ``tau`` fs (100): mean time
                                                                   between collisions of a
                                                                   velocity component
``npt_mtk``            ``ase.md.nose_hoover_chain.                 ``pressure`` GPa (0),
                       IsotropicMTKNPT`` (volume only)             ``tau`` fs (100), ``tau_p``
                                                                   fs (1000), ``chain`` (3),
                                                                   ``pchain`` (3), ``loop``
                                                                   (1), ``ploop`` (1)
``npt_mtk_aniso``      ``ase.md.nose_hoover_chain.MTKNPT``         as ``npt_mtk``
                       (every cell degree of freedom)
``npt_berendsen``      ``ase.md.nptberendsen.NPTBerendsen``        ``pressure`` GPa (0),
                       (volume only; weak coupling, not a          ``tau`` fs (100), ``tau_p``
                       true NPT distribution)                      fs (1000),
                                                                   ``compressibility`` 1/GPa
                                                                   (0.01)
``npt_berendsen_aniso``  ``ase.md.nptberendsen.                    as ``npt_berendsen``
                       Inhomogeneous_NPTBerendsen`` (each axis)
``npt_langevin``       ``ase.md.langevinbaoab.LangevinBAOAB``      ``pressure`` GPa (0),
                       (hydrostatic: the cell keeps its shape)     ``tau`` fs (100): the
                                                                   atoms' Langevin time,
                                                                   ``tau_p`` fs (1000)
=====================  ==========================================  ==========================

Units: the driver takes the timestep in fs, temperatures in K, the Langevin friction in 1/fs,
thermostat and barostat time constants in fs, pressures in GPa and compressibilities in 1/GPa; the
builders below are the only place they become ASE units. The NPT ensembles need the calculator's
``stress`` and a cell periodic in every direction; the barostats hold the pressure including the
kinetic (ideal-gas) part.
No ensemble holds the centre of mass (ASE deprecates Langevin's ``fixcm``): put
``ase.constraints.FixCom`` on the atoms where it matters.

Seeding: one ``numpy.random.Generator`` (``seed``: an int for ``default_rng(seed)``, or a generator
shared with the caller) draws the initial Maxwell-Boltzmann velocities first, then the thermostat's
noise, so the same seed gives the same trajectory.

Every step the run is checked for an explosion (:class:`ExplosionCheck`); every ``interval`` steps
(step 0 included) it is *recorded* (time, potential and total energy, temperature, and where the
calculator gives them the largest force sigma and whether any atom is out of domain), checked
against the domain rule (:class:`DomainStop`, when given), and then each observer is called as
``observer(step, atoms)``. A run that explodes or leaves the domain stops at that step: ``status``
says which, ``step`` and ``reason`` say where and why, and nothing after it is recorded.

Temperature: a number, or a function of the step (:func:`linear_ramp`) for ensembles whose
thermostat can change its target (Langevin, Andersen); the target is set to T(n) at each recorded
step n > 0 and initial velocities are drawn at T(0).
"""

from __future__ import annotations

import inspect
import io
import math
import warnings
from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from ase import units
from ase.md.andersen import Andersen
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.langevinbaoab import LangevinBAOAB
from ase.md.nose_hoover_chain import IsotropicMTKNPT, MTKNPT, NoseHooverChainNVT
from ase.md.nptberendsen import Inhomogeneous_NPTBerendsen, NPTBerendsen
from ase.md.velocitydistribution import Stationary
from ase.md.verlet import VelocityVerlet

from ..data.neighbors import neighbor_list
from ..errors import ConfigError
from ..files import atomic_write_bytes
from ..uncertainty.monitor import DomainEvent, DomainMonitor

STATUSES = ("completed", "exploded", "out_of_domain")


# ----------------------------------------------------------------------------------- ensembles
def _nve(atoms, timestep, temperature, rng):
    return VelocityVerlet(atoms, timestep * units.fs)


def _langevin(atoms, timestep, temperature, rng, friction=0.01):
    if friction < 0:
        raise ConfigError(f"langevin: friction must be >= 0 (1/fs), got {friction}")
    return Langevin(atoms, timestep * units.fs, temperature_K=temperature, friction=friction / units.fs, fixcm=False,
                    rng=rng)


def _bussi(atoms, timestep, temperature, rng, tau=100.0):
    if tau <= 0:
        raise ConfigError(f"bussi: tau must be > 0 (fs), got {tau}")
    if atoms.get_kinetic_energy() == 0:
        raise ConfigError("bussi rescales the velocities and needs non-zero ones: start above 0 K")
    return Bussi(atoms, timestep * units.fs, temperature_K=temperature, taut=tau * units.fs, rng=rng)


def _nose_hoover_chain(atoms, timestep, temperature, rng, tau=100.0, chain=3, loop=1):
    if tau <= 0 or chain < 1 or loop < 1:
        raise ConfigError(f"nose_hoover_chain: needs tau > 0 (fs), chain >= 1, loop >= 1; got {tau}, {chain}, {loop}")
    return NoseHooverChainNVT(atoms, timestep * units.fs, temperature_K=temperature, tdamp=tau * units.fs,
                              tchain=int(chain), tloop=int(loop))


def _andersen(atoms, timestep, temperature, rng, tau=100.0):
    if tau < timestep:
        raise ConfigError(f"andersen: tau must be >= the timestep ({timestep} fs), got {tau}")
    # a collision per velocity component with probability timestep / tau each step: rate 1 / tau
    return Andersen(atoms, timestep * units.fs, temperature_K=temperature, andersen_prob=timestep / tau, fixcm=False,
                    rng=rng)


def _check_npt(name, atoms, tau, tau_p):
    if not atoms.pbc.all():
        raise ConfigError(f"{name}: constant pressure needs the stress, so a cell periodic in all three directions "
                          f"(this one has pbc={atoms.pbc.tolist()})")
    if tau <= 0 or tau_p <= 0:
        raise ConfigError(f"{name}: needs tau > 0 and tau_p > 0 (fs), got {tau}, {tau_p}")


def _mtk(cls, name, atoms, timestep, temperature, pressure, tau, tau_p, chain, pchain, loop, ploop):
    _check_npt(name, atoms, tau, tau_p)
    if min(chain, pchain, loop, ploop) < 1:
        raise ConfigError(f"{name}: chain, pchain, loop and ploop must be >= 1, got {chain}, {pchain}, {loop}, {ploop}")
    return cls(atoms, timestep * units.fs, temperature_K=temperature, pressure_au=pressure * units.GPa,
               tdamp=tau * units.fs, pdamp=tau_p * units.fs, tchain=int(chain), pchain=int(pchain), tloop=int(loop),
               ploop=int(ploop))


def _npt_mtk(atoms, timestep, temperature, rng, pressure=0.0, tau=100.0, tau_p=1000.0, chain=3, pchain=3, loop=1,
             ploop=1):
    return _mtk(IsotropicMTKNPT, "npt_mtk", atoms, timestep, temperature, pressure, tau, tau_p, chain, pchain, loop,
                ploop)


def _npt_mtk_aniso(atoms, timestep, temperature, rng, pressure=0.0, tau=100.0, tau_p=1000.0, chain=3, pchain=3, loop=1,
                   ploop=1):
    return _mtk(MTKNPT, "npt_mtk_aniso", atoms, timestep, temperature, pressure, tau, tau_p, chain, pchain, loop, ploop)


def _berendsen(cls, name, atoms, timestep, temperature, pressure, tau, tau_p, compressibility):
    _check_npt(name, atoms, tau, tau_p)
    if compressibility <= 0:
        raise ConfigError(f"{name}: compressibility must be > 0 (1/GPa), got {compressibility}")
    return cls(atoms, timestep * units.fs, temperature_K=temperature, pressure_au=pressure * units.GPa,
               taut=tau * units.fs, taup=tau_p * units.fs, compressibility_au=compressibility / units.GPa, fixcm=False)


def _npt_berendsen(atoms, timestep, temperature, rng, pressure=0.0, tau=100.0, tau_p=1000.0, compressibility=0.01):
    return _berendsen(NPTBerendsen, "npt_berendsen", atoms, timestep, temperature, pressure, tau, tau_p, compressibility)


def _npt_berendsen_aniso(atoms, timestep, temperature, rng, pressure=0.0, tau=100.0, tau_p=1000.0,
                         compressibility=0.01):
    return _berendsen(Inhomogeneous_NPTBerendsen, "npt_berendsen_aniso", atoms, timestep, temperature, pressure, tau,
                      tau_p, compressibility)


def _npt_langevin(atoms, timestep, temperature, rng, pressure=0.0, tau=100.0, tau_p=1000.0):
    _check_npt("npt_langevin", atoms, tau, tau_p)
    # ASE's external stress is minus the pressure; the barostat mass follows from tau_p (ASE's heuristic, which
    # it announces with a warning each time)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using heuristic P_mass")
        return LangevinBAOAB(atoms, timestep * units.fs, temperature_K=temperature,
                             externalstress=-pressure * units.GPa, hydrostatic=True, T_tau=tau * units.fs,
                             P_tau=tau_p * units.fs, rng=rng)


# name -> builder(atoms, timestep fs, temperature K, rng, **parameters in driver units) -> ASE dynamics;
# a new ensemble is one more builder here
ENSEMBLES: dict[str, Callable] = {
    "nve": _nve,
    "langevin": _langevin,
    "bussi": _bussi,
    "nose_hoover_chain": _nose_hoover_chain,
    "andersen": _andersen,
    "npt_mtk": _npt_mtk,
    "npt_mtk_aniso": _npt_mtk_aniso,
    "npt_berendsen": _npt_berendsen,
    "npt_berendsen_aniso": _npt_berendsen_aniso,
    "npt_langevin": _npt_langevin,
}
# the ensembles whose cell changes (they need the stress)
NPT_ENSEMBLES = tuple(name for name in ENSEMBLES if name.startswith("npt_"))


def ensemble_parameters(name: str) -> dict:
    """The parameters of ensemble ``name`` with their defaults (driver units)."""
    if name not in ENSEMBLES:
        raise ConfigError(f"unknown ensemble {name!r}; known: {', '.join(ENSEMBLES)}")
    signature = inspect.signature(ENSEMBLES[name])
    return {p.name: p.default for p in list(signature.parameters.values())[4:]}


def thermalize(atoms, temperature: float, rng) -> None:
    """Maxwell-Boltzmann momenta at ``temperature`` K (ASE >= 3.29 renamed the function)."""
    try:
        from ase.md.velocitydistribution import thermalize_momenta
    except ImportError:  # older ASE
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)


def linear_ramp(start: float, end: float, steps: int) -> Callable[[int], float]:
    """T(n) = start + (end - start) min(n, steps) / steps, K (``start`` when ``steps`` is 0)."""

    def temperature(step: int) -> float:
        if steps == 0:
            return start
        return start + (end - start) * min(step, steps) / steps

    return temperature


# ------------------------------------------------------------------------------------ stop rules
@dataclass(frozen=True)
class ExplosionCheck:
    """When a run has blown up. Non-finite energy, forces or positions always count; then, each
    criterion that is not None:

    - ``max_force`` (eV/Å): any force component above it;
    - ``min_distance`` (Å): any pair of atoms closer (a short-range neighbour list, so it runs only
      on recorded steps, every ``interval``; the rest read what the MD step already computed);
    - ``max_temperature_factor``: the kinetic temperature above this factor times the target
      temperature, with a 100 K floor on the target so that a cold start is not flagged for the
      heat its released strain gives (a thermostat cannot run away; an NVE run with a broken
      potential does).
    """

    max_force: float | None = 50.0
    min_distance: float | None = 0.5
    max_temperature_factor: float | None = 10.0

    def reason(self, atoms, target_temperature: float = 0.0, distances: bool = True) -> str | None:
        """Why ``atoms`` (with up-to-date calculator results) counts as exploded, or None;
        ``distances=False`` skips the closest-pair test."""
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
        if self.max_force is not None and fmax > self.max_force:
            return f"force component {fmax:.3g} eV/Å above {self.max_force:g}"
        if self.max_temperature_factor is not None and len(atoms):
            limit = self.max_temperature_factor * max(target_temperature, 100.0)
            temperature = atoms.get_temperature()
            if temperature > limit:
                return f"temperature {temperature:.0f} K above {limit:g} K ({self.max_temperature_factor:g} x the target)"
        if distances and self.min_distance and len(atoms) > 1:
            i, _, _ = neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, self.min_distance)
            if len(i):
                return f"atoms closer than {self.min_distance:g} Å"
        return None


@dataclass(frozen=True)
class DomainStop:
    """When a run has left the model's domain, read from the calculator's results on recorded steps.

    A check is *flagged* when the calculator flags an atom (``out_of_domain``) or, with
    ``max_forces_sigma`` (eV/Å), when a force sigma exceeds it. The run stops at the first check at
    which at least ``fraction`` of the last n checks are flagged, n = max(1, round(``window`` /
    (timestep x interval))), this check included and checks before the start counting as unflagged.
    The start structure (step 0) is recorded but not judged: the rule watches where the dynamics
    goes, not where the caller started it.

    Per-atom tests at a 99% level flag single steps of a healthy run (9 atoms: about one check in
    eleven), and a flag persists while an atom vibrates through the tail, for some femtoseconds.
    The default (90% of the last 100 fs) lets such flags pass and stops a run that has stayed out
    for 90 fs; ``window=0`` stops at the first flagged check (exploration, where the flagged
    structure is what is wanted). A calculator without ``forces_sigma`` nor ``out_of_domain``
    gives nothing to check.
    """

    window: float = 100.0  # fs
    fraction: float = 0.9
    max_forces_sigma: float | None = None  # eV/Å

    def __post_init__(self):
        if self.window < 0 or not 0 < self.fraction <= 1:
            raise ConfigError(f"DomainStop needs window >= 0 (fs) and 0 < fraction <= 1, got {self.window}, {self.fraction}")

    def checks(self, timestep: float, interval: int) -> tuple[int, int]:
        """(n, flagged checks among the last n that stop the run)."""
        n = max(1, round(self.window / (timestep * interval)))
        return n, max(1, math.ceil(self.fraction * n - 1e-9))


# ----------------------------------------------------------------------------------------- runs
@dataclass
class MDRun:
    """What a run recorded (every ``interval`` steps) and how it ended."""

    ensemble: str
    n_atoms: int
    timestep: float  # fs
    step_numbers: np.ndarray  # (T,) recorded steps
    time_ps: np.ndarray  # (T,) ps
    potential_energy: np.ndarray  # (T,) eV
    total_energy: np.ndarray  # (T,) eV
    temperature: np.ndarray  # (T,) K
    max_forces_sigma: np.ndarray  # (T,) eV/Å; empty when the calculator gives no forces_sigma
    out_of_domain: np.ndarray  # (T,) bool, any atom flagged; empty when the calculator gives no flags
    status: str = "completed"  # "completed" | "exploded" | "out_of_domain"
    step: int = 0  # steps run: the last step, or the one where the run stopped
    reason: str = ""  # why it stopped, naming the step
    event: DomainEvent | None = None  # the flagged structure that stopped an "out_of_domain" run

    @property
    def stopped(self) -> bool:
        return self.status != "completed"

    @property
    def out_of_domain_steps(self) -> int:
        """Recorded steps at which the calculator flagged an atom."""
        return int(np.count_nonzero(self.out_of_domain))

    @property
    def drift(self) -> float:
        """meV/atom/ps: slope of the total energy (NaN with fewer than two records)."""
        if len(self.time_ps) < 2:
            return float("nan")
        slope = np.polyfit(self.time_ps, self.total_energy, 1)[0]
        return float(1000 * slope / self.n_atoms)

    @property
    def fluctuation(self) -> float:
        """meV/atom: standard deviation of the total energy about its linear trend."""
        if len(self.time_ps) < 2:
            return float("nan")
        fit = np.polyval(np.polyfit(self.time_ps, self.total_energy, 1), self.time_ps)
        return float(1000 * np.std(self.total_energy - fit) / self.n_atoms)


class MD:
    """One trajectory from a copy of ``atoms`` under ``calculator`` (see the module docstring).

    ``velocities``: draw Maxwell-Boltzmann momenta at T(0) (else keep those of ``atoms``);
    ``zero_momentum``: then remove the centre-of-mass momentum. ``explosion=None`` turns the
    explosion check off; ``domain_stop=None`` records the domain flags without stopping on them.
    ``parameters``: the ensemble's, in driver units.
    ``run(steps)`` may be called again to go on (a stopped run does not); ``atoms`` is the
    trajectory's current structure.

    ``start_step``: the step ``atoms`` is at when it continues an earlier run (with
    ``velocities=False``, its momenta, and ``seed`` the earlier run's generator in the state it had
    then): steps count on from it, the ``interval`` grid stays the earlier run's, and the start is
    neither recorded nor observed again (the earlier run did both). A thermostat or barostat with
    variables of its own (Nose-Hoover chains, MTK, the BAOAB cell) starts them afresh.
    """

    def __init__(self, atoms, calculator, ensemble: str = "nve", timestep: float = 0.5,
                 temperature: float | Callable[[int], float] = 300.0, seed: int | np.random.Generator = 0,
                 interval: int = 1, velocities: bool = True, zero_momentum: bool = False,
                 explosion: ExplosionCheck | None = ExplosionCheck(), domain_stop: DomainStop | None = None,
                 observers: Sequence[Callable] = (), start_step: int = 0, **parameters):
        known = ensemble_parameters(ensemble)
        unknown = sorted(set(parameters) - set(known))
        if unknown:
            raise ConfigError(f"ensemble {ensemble!r} has no parameter {', '.join(unknown)} "
                              f"(it takes: {', '.join(known) or 'none'})")
        if start_step < 0:
            raise ConfigError(f"start_step must be >= 0, got {start_step}")
        if timestep <= 0 or interval < 1:
            raise ConfigError(f"MD needs timestep > 0 (fs) and interval >= 1, got {timestep}, {interval}")
        self.ensemble, self.timestep, self.interval = ensemble, float(timestep), int(interval)
        self.temperature = temperature
        if self.target_temperature(0) < 0:
            raise ConfigError("temperatures must be >= 0 K")
        self.explosion, self.domain_stop, self.observers = explosion, domain_stop, list(observers)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

        self.atoms = atoms.copy()
        self.atoms.calc = calculator
        if velocities:
            thermalize(self.atoms, self.target_temperature(0), self.rng)
        if zero_momentum:
            Stationary(self.atoms)
        self.dynamics = ENSEMBLES[ensemble](self.atoms, self.timestep, self.target_temperature(0), self.rng, **parameters)
        if callable(temperature) and not hasattr(self.dynamics, "set_temperature"):
            raise ConfigError(f"ensemble {ensemble!r} cannot change its target temperature: give one temperature")

        self.atoms.get_forces()
        results = self.atoms.calc.results
        self._has_sigma, self._has_flags = "forces_sigma" in results, "out_of_domain" in results
        self._monitor, self._recent, self._needed = None, None, 0
        if domain_stop is not None and (self._has_sigma or self._has_flags):
            sigma = domain_stop.max_forces_sigma if self._has_sigma else None
            self._monitor = DomainMonitor(self.atoms, action="flag", max_forces_sigma=sigma, dynamics=self.dynamics)
            n, self._needed = domain_stop.checks(self.timestep, self.interval)
            self._recent = deque(maxlen=n)
        if domain_stop is not None and domain_stop.max_forces_sigma is not None and not self._has_sigma:
            warnings.warn("DomainStop(max_forces_sigma=...) ignored: the calculator gives no forces_sigma "
                          "(use an ensemble or calibrated model file)", stacklevel=2)
        self._rows, self._sigmas, self._flags = [], [], []
        self.dynamics.nsteps = int(start_step)
        self._last = int(start_step) if start_step else -1
        self.status, self.step, self.reason, self.event = "completed", int(start_step), "", None

    def target_temperature(self, step: int) -> float:
        """T(step), K."""
        return float(self.temperature(step)) if callable(self.temperature) else float(self.temperature)

    def run(self, steps: int) -> MDRun:
        """``steps`` more steps (fewer if the run stops); the run so far."""
        if steps < 0:
            raise ConfigError(f"steps must be >= 0, got {steps}")
        if self.status == "completed":
            for _ in self.dynamics.irun(steps):
                step = self.dynamics.nsteps
                if step == self._last:  # irun yields the start of a continued run again
                    continue
                self._last = self.step = step
                if not self._advance(step):
                    break
        return self.result()

    def _stop(self, status: str, step: int, reason: str) -> bool:
        self.status, self.reason = status, f"step {step} ({step * self.timestep:g} fs): {reason}"
        return False

    def _advance(self, step: int) -> bool:
        """The checks, records and observers of ``step``; False when the run stops here."""
        atoms = self.atoms
        recorded = step % self.interval == 0
        target = self.target_temperature(step)
        if self.explosion is not None:
            why = self.explosion.reason(atoms, target, distances=recorded)
            if why is not None:
                return self._stop("exploded", step, why)
        if not recorded:
            return True
        epot = atoms.get_potential_energy()
        self._rows.append((step, step * self.timestep / 1000.0, epot + atoms.get_kinetic_energy(), epot,
                           atoms.get_temperature()))
        results = atoms.calc.results
        if "forces_sigma" in results:
            self._sigmas.append(float(np.max(results["forces_sigma"], initial=0.0)))
        if "out_of_domain" in results:
            self._flags.append(bool(np.any(results["out_of_domain"])))
        if self._monitor is not None and step > 0:
            self._monitor()
            event = self._monitor.events.pop() if self._monitor.events else None
            self._recent.append(event is not None)
            if event is not None and sum(self._recent) >= self._needed:
                self.event = event
                n = self._recent.maxlen
                persisted = f" at {sum(self._recent)} of the last {n} checks ({n * self.interval * self.timestep:g} fs)"
                return self._stop("out_of_domain", step, f"out of the model's domain{persisted if n > 1 else ''}; "
                                  f"here {len(event.atoms_out)} atom(s) flagged (first: {event.atoms_out[:5].tolist()}), "
                                  f"max force sigma {event.max_forces_sigma:.3g} eV/Å")
        for observer in self.observers:
            observer(step, atoms)
        if callable(self.temperature) and step > 0:  # the target for the next interval
            self.dynamics.set_temperature(temperature_K=target)
        return True

    def result(self) -> MDRun:
        rows = list(zip(*self._rows)) if self._rows else [[]] * 5
        steps, t, etot, epot, temp = (np.array(r) for r in rows)
        return MDRun(self.ensemble, len(self.atoms), self.timestep, steps.astype(int), t, epot, etot, temp, np.array(self._sigmas),
                     np.array(self._flags, dtype=bool), self.status, self.step, self.reason, self.event)


def run_md(atoms, calculator, ensemble: str = "nve", steps: int = 1000, **options) -> MDRun:
    """``steps`` steps of ``ensemble`` from a copy of ``atoms``; ``options`` as for :class:`MD`."""
    return MD(atoms, calculator, ensemble, **options).run(steps)


# ------------------------------------------------------------------------------------------ plot
def plot_energy(run: MDRun, path, title: str = "") -> None:
    """Total and potential energy per atom against time, relative to the first total energy; the
    point where a stopped run ended is marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    n = run.n_atoms
    e0 = run.total_energy[0] if len(run.total_energy) else 0.0
    ax.plot(run.time_ps, 1000 * (run.total_energy - e0) / n, label="total")
    ax.plot(run.time_ps, 1000 * (run.potential_energy - e0) / n, alpha=0.5, label="potential")
    if run.stopped:
        ax.axvline(run.step * run.timestep / 1000.0, color="red", ls="--", label=f"stopped: {run.status}")
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("E - E_tot(0) (meV/atom)")
    default = f"NVE: drift {run.drift:.3g} meV/atom/ps" if run.ensemble == "nve" else f"{run.ensemble} MD"
    ax.set_title(title or default)
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=120, format=str(path).rsplit(".", 1)[-1] if "." in str(path) else "png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


__all__ = ["ENSEMBLES", "NPT_ENSEMBLES", "STATUSES", "DomainStop", "ExplosionCheck", "MD", "MDRun", "ensemble_parameters",
           "linear_ramp", "plot_energy", "run_md", "thermalize"]

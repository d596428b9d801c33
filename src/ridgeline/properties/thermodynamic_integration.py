"""Thermodynamic integration (TI) along an alchemical path, and absolute free energies of solids
from the Einstein crystal (Frenkel and Ladd, J. Chem. Phys. 81, 3188 (1984)).

``thermodynamic_integration(atoms, calculator0, calculator1, temperature)``: the Helmholtz free
energy difference F1 - F0 = ∫_0^1 <U1 - U0>_λ dλ along U_λ = (1 - λ) U0 + λ U1 (ASE's
``MixedCalculator``, whose energy contributions give U1 - U0 at every step). At each quadrature
node λ_i (:func:`~ridgeline.analysis.free_energy.quadrature`: Gauss-Legendre by default, which
needs no end point, where one of the two states may be singular) a thermostatted MD run samples
U1 - U0 every ``interval`` steps after ``equilibration``; its mean and error come from the
statistical inefficiency, and the nodes' errors add in quadrature. The nodes are independent tasks
on any executor (:mod:`ridgeline.simulate.parallel`) and with ``output_dir`` each is saved as it
finishes, so a rerun does only the missing ones; a node is reused only where its MD settings, the
structure's key and ``run_key`` (whatever identifies the two Hamiltonians: model files, springs)
are the same.

``solid_free_energy(atoms, calculator, temperature)``: the classical Helmholtz free energy of a
crystal (``atoms``: the relaxed cell at its volume) as the Einstein crystal's plus the TI from it
to the model, the centre of mass held fixed (ASE's ``FixCom``) at every λ so that the integrand
stays finite at λ = 1:

    F = F_E + ΔF_TI + kT ln(N / V) + (3/2) kT ln(2π σ²),   σ² = Σ_i m_i² kT / k_i / M²

- F_E = E_0 + Σ_i 3 kT ln(ħ ω_i / kT), ω_i = sqrt(k_i / m_i): independent classical oscillators
  about the lattice sites, E_0 the model's energy of the perfect lattice;
- the last two terms undo the fixed centre of mass: σ² is the variance of the Einstein crystal's
  centre of mass (its density at the origin, (2π σ²)^(-3/2) per direction, is what holding it takes
  away), and the model's centre of mass ranges over V / N distinct positions (translations by a
  lattice vector permute the atoms). For equal masses they are Freitas, Asta and de Koning's
  F_CM = kT ln[(N / V)(2π kT / (N k))^(3/2)] (Comput. Mater. Sci. 112, 333 (2016)).

The springs k_i (eV/Å², one per element) default to 3 kT / <|u|²> of that element in a short MD
run of the model (:func:`spring_constants`), so that the Einstein crystal's fluctuations match the
model's and the integrand is flat. Everything is classical: quantum nuclei need PIMD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.mixing import MixedCalculator
from ase.constraints import FixCom

from ..analysis.free_energy import QUADRATURES, integrate, quadrature, timeseries_mean
from ..analysis.results import Result, pyplot, save_figure
from ..data.frame import structure_key
from ..errors import ConfigError, DataError
from ..simulate.md import MD, run_md
from ..simulate.parallel import for_task, load_run, materialize, run_tasks, save_run

HBAR = units._hbar / units._e  # eV s
AMU = units._amu  # kg
ANGSTROM = 1e-10  # m
LAMBDA_DIR = "lambdas"


# --------------------------------------------------------------------------------- the Einstein crystal
class EinsteinCrystal(Calculator):
    """E = E_0 + Σ_i ½ k_i |r_i - r_i^0|² (eV): independent springs tying each atom to its site.
    ``springs``: one constant (eV/Å²) per atom, or a dict element -> constant."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, reference, springs, reference_energy: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.reference = reference.get_positions().copy()
        self.springs = per_atom_springs(reference, springs)
        self.reference_energy = float(reference_energy)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        u = self.atoms.get_positions() - self.reference
        energy = self.reference_energy + 0.5 * float(np.sum(self.springs[:, None] * u * u))
        self.results = {"energy": energy, "free_energy": energy, "forces": -self.springs[:, None] * u}


def per_atom_springs(atoms, springs) -> np.ndarray:
    """(N,) spring constants from one per atom or a dict element -> eV/Å²."""
    if isinstance(springs, dict):
        missing = sorted(set(atoms.get_chemical_symbols()) - set(springs))
        if missing:
            raise ConfigError(f"Einstein crystal: no spring constant for element(s) {missing}")
        k = np.array([springs[s] for s in atoms.get_chemical_symbols()], dtype=float)
    else:
        k = np.broadcast_to(np.asarray(springs, dtype=float), (len(atoms),)).copy()
    if np.any(~np.isfinite(k)) or np.any(k <= 0):
        raise ConfigError("Einstein crystal: spring constants must be positive (eV/Å^2)")
    return k


def einstein_free_energy(atoms, springs, temperature: float, reference_energy: float = 0.0) -> float:
    """F_E = E_0 + Σ_i 3 kT ln(ħ ω_i / kT) (eV), classical, every atom's three oscillators."""
    k = per_atom_springs(atoms, springs)
    kt = units.kB * temperature
    omega = np.sqrt(k * units._e / ANGSTROM**2 / (atoms.get_masses() * AMU))  # 1/s
    return float(reference_energy + 3.0 * kt * np.sum(np.log(HBAR * omega / kt)))


def center_of_mass_correction(atoms, springs, temperature: float) -> float:
    """kT ln(N / V) + (3/2) kT ln(2π σ²) (eV; module docstring): from the Einstein crystal and the
    model with their centre of mass held to the free model's."""
    k = per_atom_springs(atoms, springs)
    kt = units.kB * temperature
    m = atoms.get_masses()
    variance = float(np.sum(m**2 * kt / k) / m.sum() ** 2)  # Å²
    return float(kt * np.log(len(atoms) / atoms.get_volume()) + 1.5 * kt * np.log(2 * np.pi * variance))


def spring_constants(atoms, calculator, temperature: float, steps: int = 1000, equilibration: int = 200,
                     timestep: float = 1.0, seed: int = 0, **md_options) -> dict[str, float]:
    """3 kT / <|u|²> per element (eV/Å²) from Langevin MD of ``calculator`` about ``atoms``' sites,
    the centre of mass held (u: displacement from the site)."""
    start = atoms.copy()
    start.set_constraint(FixCom())
    sites = start.get_positions()
    symbols = np.array(start.get_chemical_symbols())
    sums = {s: [] for s in set(symbols)}

    def record(step, current):
        if step > equilibration:
            u2 = np.sum((current.get_positions() - sites) ** 2, axis=1)
            for s in sums:
                sums[s].append(u2[symbols == s].mean())

    run = run_md(start, calculator, "langevin", steps=equilibration + steps, timestep=timestep,
                 temperature=temperature, seed=seed, observers=[record], **md_options)
    if run.stopped:
        raise DataError(f"spring constants: the MD of the crystal stopped, {run.reason}")
    return {s: float(3 * units.kB * temperature / np.mean(v)) for s, v in sums.items()}


# --------------------------------------------------------------------------------- the λ path
@dataclass
class TIResult(Result):
    """F1 - F0 along the λ path (eV) with one sigma, and the integrand at each node."""

    delta_f: float  # eV
    error: float  # eV
    lambdas: np.ndarray  # (P,)
    weights: np.ndarray  # (P,)
    mean_du: np.ndarray  # (P,) <U1 - U0>_λ, eV
    error_du: np.ndarray  # (P,) eV
    inefficiency: np.ndarray  # (P,)
    samples: np.ndarray  # (P,) samples per node
    temperature: float
    quadrature: str

    def plot(self, path, title: str = "") -> None:
        """The integrand <dU/dλ> at the nodes with 2-sigma error bars."""
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.errorbar(self.lambdas, self.mean_du, yerr=2 * self.error_du, fmt="o-", capsize=3)
        ax.set_xlabel("λ")
        ax.set_ylabel("<U1 - U0>_λ (eV)")
        ax.set_title(title or f"ΔF = {self.delta_f:.4f} ± {self.error:.4f} eV ({self.quadrature}, {self.temperature:g} K)")
        fig.tight_layout()
        save_figure(fig, path)


def _run_node(task: dict) -> dict:
    """One λ node (a picklable task): MD on U_λ, U1 - U0 recorded after equilibration."""
    s = task["settings"]
    lam = s["lambda"]
    mixed = MixedCalculator(materialize(task["calculator0"]), materialize(task["calculator1"]), 1.0 - lam, lam)
    du = []

    def record(step, atoms):
        if step > s["equilibration"]:
            e0, e1 = atoms.calc.results["energy_contributions"]
            du.append(float(e1 - e0))

    start = task["atoms"].copy()
    if s["fix_com"]:
        start.set_constraint(FixCom())
    md = MD(start, mixed, s["ensemble"], timestep=s["timestep"], temperature=s["temperature"], seed=s["seed"],
            interval=s["interval"], observers=[record], **s["parameters"])
    md.run(s["equilibration"])
    run = md.run(s["steps"])
    return {"index": task["index"], "du": np.asarray(du), "status": run.status, "reason": run.reason}


def thermodynamic_integration(atoms, calculator0, calculator1, temperature: float = 300.0, points: int = 8,
                              quadrature_kind: str = "gauss_legendre", steps: int = 2000, equilibration: int = 500,
                              timestep: float = 1.0, ensemble: str = "langevin", parameters: dict | None = None,
                              interval: int = 5, seed: int = 0, fix_com: bool = False, executor="serial",
                              workers: int | None = None, output_dir=None, run_key: dict | None = None) -> TIResult:
    """F1 - F0 by TI (module docstring); MD units as :mod:`ridgeline.simulate.md` (fs, K); each
    calculator may be a :class:`~ridgeline.simulate.parallel.CalculatorFactory` (for worker processes)."""
    if quadrature_kind not in QUADRATURES:
        raise ConfigError(f"unknown quadrature {quadrature_kind!r}; valid: {list(QUADRATURES)}")
    if steps < 2 * interval or equilibration < 0:
        raise ConfigError(f"TI needs steps >= 2 * interval and equilibration >= 0, got {steps}, {interval}, {equilibration}")
    lambdas, weights = quadrature(quadrature_kind, points)
    settings = [{"lambda": float(lam), "temperature": float(temperature), "steps": int(steps),
                 "equilibration": int(equilibration), "interval": int(interval), "timestep": float(timestep),
                 "ensemble": ensemble, "parameters": dict(parameters or {}), "seed": int(seed) + i,
                 "fix_com": bool(fix_com), "structure": structure_key(atoms), "run_key": run_key or {}}
                for i, lam in enumerate(lambdas)]
    out = Path(output_dir) / LAMBDA_DIR if output_dir is not None else None
    done = {}
    for i, wanted in enumerate(settings):
        saved = load_run(out / f"lambda_{i:02d}.npz", wanted) if out is not None else None
        if saved is not None:
            done[i] = {"index": i, "du": saved[0]["du"], **saved[1]}
    tasks = [{"index": i, "atoms": atoms, "calculator0": for_task(calculator0, executor),
              "calculator1": for_task(calculator1, executor), "settings": settings[i]}
             for i in range(points) if i not in done]

    def keep(position, node):
        done[node["index"]] = node
        if out is not None:
            save_run(out / f"lambda_{node['index']:02d}.npz", {"du": node["du"]},
                     {"status": node["status"], "reason": node["reason"]}, settings[node["index"]])

    run_tasks(_run_node, tasks, executor, workers, on_result=keep)
    means, errors, inefficiency, counts = [], [], [], []
    for i in range(points):
        node = done[i]
        if node["status"] != "completed":
            raise DataError(f"TI node λ = {lambdas[i]:.4f} stopped: {node['reason']}")
        m, e, g = timeseries_mean(node["du"])
        means.append(m), errors.append(e), inefficiency.append(g), counts.append(node["du"].size)
    delta_f, error = integrate(weights, means, errors)
    return TIResult(delta_f, error, lambdas, weights, np.array(means), np.array(errors), np.array(inefficiency),
                    np.array(counts), float(temperature), quadrature_kind)


# ------------------------------------------------------------------------- absolute free energy of a solid
@dataclass
class SolidFreeEnergy(Result):
    """F of a crystal (eV) by the Einstein crystal route (module docstring), classical."""

    free_energy: float  # eV, the whole cell
    error: float  # eV
    per_atom: float  # eV/atom
    lattice_energy: float  # E_0, eV
    einstein: float  # F_E, eV
    integration: TIResult  # Einstein crystal (λ = 0) -> model (λ = 1), centre of mass held
    center_of_mass: float  # eV
    springs: dict  # element -> eV/Å²
    temperature: float
    n_atoms: int


def solid_free_energy(atoms, calculator, temperature: float, springs: dict | float | None = None,
                      spring_steps: int = 1000, run_key: dict | None = None, **ti_options) -> SolidFreeEnergy:
    """The classical Helmholtz free energy of the crystal ``atoms`` (relaxed sites, the cell at the
    volume wanted) under ``calculator`` (module docstring); ``ti_options`` as
    :func:`thermodynamic_integration`'s."""
    if not atoms.pbc.all():
        raise ConfigError("solid_free_energy needs a crystal periodic in all three directions")
    sites = atoms.copy()
    sites.calc = materialize(calculator)
    e0 = float(sites.get_potential_energy())
    sites.calc = None
    if springs is None:
        springs = spring_constants(sites, materialize(calculator), temperature, steps=spring_steps,
                                   timestep=ti_options.get("timestep", 1.0), seed=ti_options.get("seed", 0))
    elif not isinstance(springs, dict):
        springs = {s: float(springs) for s in set(sites.get_chemical_symbols())}
    einstein = EinsteinCrystal(sites, springs, reference_energy=e0)
    key = {**(run_key or {}), "springs": {s: float(k) for s, k in sorted(springs.items())}, "lattice_energy": e0}
    ti = thermodynamic_integration(sites, einstein, calculator, temperature, fix_com=True, run_key=key, **ti_options)
    f_e = einstein_free_energy(sites, springs, temperature, e0)
    com = center_of_mass_correction(sites, springs, temperature)
    total = f_e + ti.delta_f + com
    return SolidFreeEnergy(total, ti.error, total / len(sites), e0, f_e, ti, com, dict(springs), float(temperature),
                           len(sites))


__all__ = ["EinsteinCrystal", "SolidFreeEnergy", "TIResult", "center_of_mass_correction", "einstein_free_energy",
           "per_atom_springs", "solid_free_energy", "spring_constants", "thermodynamic_integration"]

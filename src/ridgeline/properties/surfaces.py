"""Surface energies of a crystal's facets from symmetric slabs.

``surface_energies(atoms, calculator, facets=((1, 0, 0), (1, 1, 0), (1, 1, 1)))``: for each facet
(Miller indices of the conventional standard cell, ``defects.conventional_cell``: for fcc, bcc
and diamond the cube, so (1, 1, 1) is the close-packed fcc plane), slabs are cut by
``ase.build.surface`` from the perfect crystal (``defects.reference_crystal``: its ions relaxed,
with ``relax_cell`` its cell too), periodic in-plane with ``vacuum`` Å on each side, as whole
repetitions of the oriented bulk cell so that they keep the bulk's stoichiometry; the thinnest
slab has at least ``layers[0]`` atomic planes and ``min_thickness`` Å (10 Å: open facets such as
bcc (111), 0.9 Å between planes, need many planes), the others ``layers[k] - layers[0]`` planes
more (rounded up to whole repetitions). Where the facet's
oriented cell holds several atomic planes, the slab may start at any of them (its termination):
each is cut on the thinnest slab and the one of lowest unrelaxed surface energy is kept, as a
crystal cleaves (diamond (111) between its bilayers, not through them). The slab's atoms are
relaxed at fixed cell, both surfaces free, and

    gamma = (E_slab - N_slab E_bulk / N_bulk) / (2 A)

with E_bulk / N_bulk the energy per atom of the same conventional cell under the same calculator
and A the in-plane area, in J/m^2 (and eV/Å^2). The thickness check compares the two thickest
slabs against ``tolerance`` (J/m^2); the headline is the thickest's. A slab whose top and bottom
planes differ in composition gives the mean of two surfaces (a warning says so).

Interval: ``Uncertainty.energies`` of the same linear formula on the relaxed [bulk, slab] pair;
``out_of_domain`` over the pair.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units

from ..analysis.results import Result, pyplot, save_figure
from ..errors import ConfigError, DataError
from .defects import energy_of, reference_crystal, relaxed_at_fixed_cell
from .estimates import Estimate, Uncertainty

J_PER_M2 = units._e * 1e20  # J/m^2 in one eV/Å^2
PLANE_GAP = 0.2  # Å: atoms closer than this along the normal are in one atomic plane
DEFAULT_FACETS = ((1, 0, 0), (1, 1, 0), (1, 1, 1))
MIN_THICKNESS = 10.0  # Å: the thinnest slab's least thickness (pymatgen's and matcalc's min_slab_size)
TERMINATION_TIE = 1e-6  # J/m^2: terminations this close in energy are alike; the first is kept


def miller(facet) -> tuple[int, int, int]:
    """Miller indices from (h, k, l) or a string: "111", "1-10", "1,1,0", "2 1 1"."""
    given = facet
    if isinstance(facet, str):
        text = facet.strip().strip("()[]").strip()
        facet = re.findall(r"-?\d", text) if re.fullmatch(r"(-?\d){3}", text) else re.split(r"[,\s]+", text)
    try:
        indices = tuple(int(i) for i in facet)
    except (TypeError, ValueError):
        indices = ()
    if len(indices) != 3 or not any(indices):
        raise ConfigError(f"a facet is three Miller indices, not all zero (e.g. 111, 1-10, or (1, 1, 0)), got {given!r}")
    return indices


def facet_name(indices) -> str:
    """Digits of the facet for a property name: 111, 1m10 (minus as m), 2_1_10 (separated when one
    has two digits)."""
    parts = [str(i) if i >= 0 else f"m{-i}" for i in indices]
    return ("_" if any(abs(i) > 9 for i in indices) else "").join(parts)


def atomic_planes(slab: Atoms) -> list[np.ndarray]:
    """Indices of the atoms of each atomic plane, bottom to top along the slab's normal (z)."""
    order = np.argsort(slab.positions[:, 2], kind="stable")
    z = slab.positions[order, 2]
    breaks = np.nonzero(np.diff(z) > PLANE_GAP)[0] + 1
    return np.split(order, breaks)


def planes_per_repeat(bulk: Atoms, indices, vacuum: float = 10.0) -> int:
    """Atomic planes in one repetition of the crystal's cell oriented to facet ``indices``: the
    terminations a slab of that facet can have."""
    from ase.build import surface

    return len(atomic_planes(surface(bulk, indices, 1, vacuum=vacuum)))


def cut_slab(bulk: Atoms, indices, planes: int, vacuum: float, termination: int = 0) -> Atoms:
    """The slab of at least ``planes`` atomic planes (whole repetitions of the oriented cell,
    ``ase.build.surface``) with ``vacuum`` Å on each side, starting at the ``termination``-th
    atomic plane of a repetition: cut from one repetition more, less the planes below it at the
    bottom and the rest of that repetition at the top, so the slab keeps the bulk's stoichiometry
    and both surfaces are cut alike."""
    from ase.build import surface

    per_repeat = planes_per_repeat(bulk, indices, vacuum)
    repeats = max(1, math.ceil(planes / per_repeat))
    k = termination % per_repeat
    if k == 0:
        return surface(bulk, indices, repeats, vacuum=vacuum)
    slab = surface(bulk, indices, repeats + 1, vacuum=vacuum)
    layers = atomic_planes(slab)
    del slab[np.concatenate(layers[:k] + layers[len(layers) - (per_repeat - k):])]
    slab.center(vacuum=vacuum, axis=2)
    return slab


def lowest_termination(bulk: Atoms, bulk_energy: float, indices, planes: int, vacuum: float, calculator) -> tuple[int, list]:
    """The termination of facet ``indices`` with the lowest unrelaxed surface energy on a slab of
    ``planes`` planes, and every termination's (J/m^2): the cut a crystal cleaves at (for diamond
    (111), between the bilayers rather than through them)."""
    energies = []
    for k in range(planes_per_repeat(bulk, indices, vacuum)):
        slab = cut_slab(bulk, indices, planes, vacuum, termination=k)
        area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
        energies.append((energy_of(slab, calculator) - len(slab) / len(bulk) * bulk_energy) / (2 * area) * J_PER_M2)
    lowest = min(energies)
    return next(k for k, e in enumerate(energies) if e <= lowest + TERMINATION_TIE), energies


@dataclass
class Slab:
    """One slab of a facet; energies in eV, surface energies per surface."""

    planes: int  # atomic planes
    n_atoms: int
    area: float  # Å^2, of one surface
    thickness: float  # Å, between the outer planes
    unrelaxed_energy: float
    energy: float  # relaxed (the unrelaxed one without relaxation)
    surface_energy: Estimate  # J/m^2
    surface_energy_ev: float  # eV/Å^2
    unrelaxed_surface_energy: float  # J/m^2
    relaxation_converged: bool | None  # None: not relaxed
    relaxation_steps: int
    terminations_alike: bool  # the top and bottom planes have one composition


@dataclass
class Facet:
    """A facet's slabs, ascending thickness, and their thickness check."""

    miller: tuple
    slabs: list  # Slab
    converged: bool | None  # the two thickest agree within tolerance (None: one slab)
    change: float | None  # J/m^2 between the two thickest
    termination: int = 0  # the atomic plane the slabs start at (``cut_slab``)
    termination_energies: list = field(default_factory=list)  # J/m^2, unrelaxed, of each termination's thinnest slab

    @property
    def surface_energy(self) -> Estimate:
        return self.slabs[-1].surface_energy


@dataclass
class SurfaceResult(Result):
    """Surface energies by facet (J/m^2; eV/Å^2 in each slab)."""

    formula: str  # the conventional cell's
    bulk_energy_per_atom: float  # eV
    vacuum: float  # Å
    tolerance: float  # J/m^2, of the thickness check
    facets: list  # Facet
    pressure: float | None  # GPa, of the perfect crystal
    relaxed: bool
    warnings: list = field(default_factory=list)

    @property
    def lowest(self) -> Facet:
        return min(self.facets, key=lambda f: f.surface_energy.value)

    def estimates(self) -> dict[str, Estimate]:
        return {f"surface_energy_{facet_name(f.miller)}": f.surface_energy for f in self.facets}


def slab_energy(bulk: Atoms, bulk_energy: float, slab: Atoms, calculator, unc: Uncertainty, relax: bool, fmax: float,
                max_steps: int) -> Slab:
    """Relax ``slab`` at fixed cell and its surface energy against ``bulk`` (energy ``bulk_energy``)."""
    area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
    ratio = len(slab) / len(bulk)

    def gamma(E):  # J/m^2
        return (E[1] - ratio * E[0]) / (2 * area) * J_PER_M2

    slab, unrelaxed, energy, converged, steps = relaxed_at_fixed_cell(slab, calculator, relax, fmax, max_steps)
    value = float(gamma(np.array([bulk_energy, energy])))
    planes = atomic_planes(slab)
    symbols = np.array(slab.get_chemical_symbols())
    estimate = unc.energies(gamma, [bulk, slab], "J/m^2", value=value, out_of_domain=unc.out_of_domain([bulk, slab]))
    return Slab(planes=len(planes), n_atoms=len(slab), area=area,
                thickness=float(np.ptp(slab.positions[:, 2])), unrelaxed_energy=unrelaxed, energy=energy,
                surface_energy=estimate, surface_energy_ev=value / J_PER_M2,
                unrelaxed_surface_energy=float(gamma(np.array([bulk_energy, unrelaxed]))),
                relaxation_converged=converged, relaxation_steps=steps,
                terminations_alike=Counter(symbols[planes[0]]) == Counter(symbols[planes[-1]]))


def check_stoichiometry(bulk: Atoms, slab: Atoms, indices) -> None:
    """A slab must hold whole formula units of the bulk: otherwise gamma needs chemical potentials."""
    bulk_count, slab_count = Counter(bulk.get_chemical_symbols()), Counter(slab.get_chemical_symbols())
    units_in_slab = len(slab) / len(bulk)
    if set(bulk_count) != set(slab_count) or any(abs(slab_count[s] - units_in_slab * c) > 1e-9 for s, c in bulk_count.items()):
        raise DataError(f"the ({' '.join(map(str, indices))}) slab {slab.get_chemical_formula()} does not have the "
                        f"stoichiometry of {bulk.get_chemical_formula()}: its surface energy needs chemical potentials")


def slab_planes(bulk: Atoms, indices, layers: list[int], min_thickness: float, vacuum: float) -> list[int]:
    """The atomic planes of each slab of facet ``indices``: whole repetitions of the oriented cell,
    the thinnest at least ``layers[0]`` planes and ``min_thickness`` Å of crystal (repetitions times
    the oriented cell's period along the normal), each thicker one ``layers[k] - layers[0]`` planes
    more (rounded up to repetitions)."""
    from ase.build import surface

    per_repeat = planes_per_repeat(bulk, indices, vacuum)
    period = float(surface(bulk, indices, 1, periodic=True).cell[2, 2])
    base = max(math.ceil(layers[0] / per_repeat), math.ceil(min_thickness / period - 1e-9))
    return [(base + math.ceil((n - layers[0]) / per_repeat)) * per_repeat for n in layers]


def surface_energies(atoms, calculator, *, facets=DEFAULT_FACETS, layers=(4, 6), min_thickness: float = MIN_THICKNESS,
                     vacuum: float = 10.0, relax: bool = True, relax_cell: bool = False, fmax: float = 0.01,
                     max_steps: int = 1000, tolerance: float = 0.02, uncertainty: Uncertainty | None = None,
                     progress: bool = False) -> SurfaceResult:
    """Surface energies (J/m^2) of ``facets`` (module docstring). ``layers``: the slabs' least
    numbers of atomic planes (the thickness check compares the two largest); ``min_thickness``
    (Å): the thinnest slab's least thickness (``slab_planes``); ``vacuum`` (Å) on each side;
    ``tolerance`` (J/m^2) of the thickness check."""
    from tqdm.auto import tqdm

    indices = [miller(f) for f in ([facets] if isinstance(facets, str) else facets)]
    if not indices:
        raise ConfigError("give at least one facet")
    sizes = sorted({int(n) for n in ([layers] if np.ndim(layers) == 0 else layers)})
    if not sizes or sizes[0] < 1:
        raise ConfigError(f"layers are positive numbers of atomic planes, got {layers!r}")
    if not vacuum > 0:
        raise ConfigError(f"vacuum must be positive (Å), got {vacuum}")
    if not min_thickness >= 0:
        raise ConfigError(f"min_thickness is a thickness in Å (0 or more), got {min_thickness}")
    if not tolerance > 0:
        raise ConfigError(f"tolerance must be positive (J/m^2), got {tolerance}")
    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    bulk, pressure, warnings = reference_crystal(atoms, calculator, relax=relax, relax_cell=relax_cell, fmax=fmax,
                                                 max_steps=max_steps)
    bulk_energy = energy_of(bulk, calculator)
    results = []
    planes = {h: slab_planes(bulk, h, sizes, min_thickness, vacuum) for h in dict.fromkeys(indices)}
    jobs = [(h, n) for h in planes for n in planes[h]]
    slabs: dict = {}
    terminations = {h: lowest_termination(bulk, bulk_energy, h, planes[h][0], vacuum, calculator) for h in planes}
    for h, n in tqdm(jobs, desc="slabs", leave=False, disable=not progress):
        slab = cut_slab(bulk, h, n, vacuum, termination=terminations[h][0])
        check_stoichiometry(bulk, slab, h)
        done = slabs.setdefault(h, [])
        if any(s.n_atoms == len(slab) for s in done):  # two sizes rounded up to one slab
            continue
        done.append(slab_energy(bulk, bulk_energy, slab, calculator, unc, relax, fmax, max_steps))
    for h, done in slabs.items():
        label = f"({' '.join(map(str, h))})"
        change = abs(done[-1].surface_energy.value - done[-2].surface_energy.value) if len(done) > 1 else None
        converged = None if change is None else bool(change < tolerance)
        if converged is None:
            warnings.append(f"{label}: one slab thickness only, so no thickness check")
        elif not converged:
            warnings.append(f"{label}: the surface energy changes by {change:.3g} J/m^2 from {done[-2].planes} to "
                            f"{done[-1].planes} planes (tolerance {tolerance:g} J/m^2): use thicker slabs")
        if not done[-1].terminations_alike:
            warnings.append(f"{label}: the top and bottom planes differ in composition, so the value is the mean of "
                            "two surfaces")
        warnings += [f"{label}: the relaxation of the {s.planes}-plane slab did not converge in {s.relaxation_steps} steps"
                     for s in done if s.relaxation_converged is False]
        results.append(Facet(miller=h, slabs=done, converged=converged, change=change, termination=terminations[h][0],
                             termination_energies=terminations[h][1]))
    return SurfaceResult(formula=bulk.get_chemical_formula(), bulk_energy_per_atom=bulk_energy / len(bulk),
                         vacuum=float(vacuum), tolerance=float(tolerance), facets=results, pressure=pressure,
                         relaxed=relax, warnings=warnings)


def plot_surfaces(result: SurfaceResult, path) -> None:
    """Bars of each facet's surface energy (the thickest slab) with its interval, and the thinner
    slabs' values as markers."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(result.facets), 3.6))
    x = np.arange(len(result.facets))
    values = [f.surface_energy.value for f in result.facets]
    ax.bar(x, values, color="#8fb3d9", width=0.6, label="thickest slab")
    for k, facet in enumerate(result.facets):
        est = facet.surface_energy
        if est.ci is not None:
            ax.errorbar(k, est.value, yerr=[[est.value - est.lower], [est.upper - est.value]], color="k", capsize=4)
        thinner = [s.surface_energy.value for s in facet.slabs[:-1]]
        ax.plot([k] * len(thinner), thinner, "o", color="#c0392b", ms=4, label="thinner slabs" if k == 0 and thinner else None)
        if est.out_of_domain:
            ax.annotate("out of domain", (k, est.value), ha="center", va="bottom", fontsize=7, color="#c0392b")
    ax.set_xticks(x, [f"({' '.join(map(str, f.miller))})" for f in result.facets])
    ax.set_ylabel("surface energy (J/m$^2$)")
    ax.set_title(f"{result.formula} surfaces")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["DEFAULT_FACETS", "J_PER_M2", "Facet", "Slab", "SurfaceResult", "atomic_planes", "cut_slab", "facet_name",
           "miller", "plot_surfaces", "surface_energies"]

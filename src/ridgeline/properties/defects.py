"""Point defects of a crystal: vacancy and interstitial formation energies.

Both start from the input's conventional standard cell (:func:`conventional_cell`: spglib's
standardized cell with the input's orientation and lattice parameter; fcc: the 4-atom cube, bcc:
2 atoms, diamond: 8), whatever cell the input is, and build supercells as its n x n x n (or
n1 x n2 x n3) repetitions: ``supercells=(2, 3)`` gives 32 and 108 atoms for fcc; the vacancy's
default, "auto", the least repetition with 50 atoms or more and the next (fcc 108 and 256, bcc 54
and 128, diamond 64 and 216 atoms). The perfect
crystal is prepared by :func:`reference_crystal`: its ions relaxed (nothing moves where symmetry
fixes them, as in fcc, bcc, diamond) at the input's lattice parameter, or with ``relax_cell`` the
cell too at zero pressure; a warning says when the input cell is under more than
:data:`PRESSURE_WARNING` GPa with the calculator, since the energies are then those of a
strained crystal. Defects are relaxed at the fixed cell (``simulate.relax``).

- :func:`vacancy_formation`: E_f = E_def - (N - 1)/N E_bulk for a crystal of one element with N
  atoms in the perfect supercell; for a compound E_f = E_def - E_bulk + mu_X with the chemical
  potential mu_X (eV/atom) of the removed element given. One value per supercell size, the
  unrelaxed one and the relaxation energy (unrelaxed minus relaxed E_f); the size check compares
  the two largest supercells against ``tolerance``; the headline value is the largest's.
- :func:`interstitial_formation`: E_f = E_def - (N + 1)/N E_bulk (E_def - E_bulk - mu_X for an
  atom of another element, or in a compound). ``site="auto"`` tries the centres of the largest
  empty spheres of the perfect crystal (:func:`interstitial_sites`: the Voronoi vertices of the
  atoms, one per symmetry orbit, e.g. the octahedral and tetrahedral holes of fcc), relaxes each
  and reports every one; the headline is the lowest. A relaxation keeps a site's symmetry where
  the forces do, so a site that is a saddle point stays one unless ``displace`` starts the atom
  off it: the lowest found bounds the true lowest interstitial from above.

The formalism: C. Freysoldt et al., Rev. Mod. Phys. 86, 253 (2014). Interval:
``Uncertainty.energies`` of the formula on the relaxed [perfect, defect] pair (linearised, keeping
the correlations of their shared environments; right to first order at relaxed geometries by the
envelope theorem); ``out_of_domain`` over the pair.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
from ase import Atom, Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError

from ..analysis.results import Result, pyplot, save_figure
from ..errors import ConfigError, DataError
from ..simulate.relax import relax as relax_structure
from .estimates import Estimate, Uncertainty
from .symmetry import SYMPREC, quiet_spglib

AUTO_MIN_ATOMS = 50  # the smaller automatic vacancy supercell has at least this many atoms
PRESSURE_WARNING = 1.0  # GPa: above this the input cell is far from the calculator's equilibrium
SAME_SITE = 0.1  # Å: two candidate sites closer than this (after a symmetry operation) are one


# ---------------------------------------------------------------------------- the perfect crystal
def conventional_cell(atoms, symprec: float = SYMPREC) -> Atoms:
    """The conventional standard cell of the crystal ``atoms`` (spglib ``standardize_cell``
    without idealisation: the input's orientation and lattice parameter are kept). A structure not
    periodic in three directions (a molecule) is a :class:`DataError`."""
    import spglib

    if not np.all(atoms.pbc) or atoms.cell.rank < 3:
        raise DataError(f"{atoms.get_chemical_formula()}: point defects and surfaces need a crystal periodic in "
                        "three directions (got a molecule or a slab)")
    cell = (atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers)
    standard = quiet_spglib(spglib.standardize_cell, cell, to_primitive=False, no_idealize=True, symprec=symprec)
    if standard is None:  # no symmetry found: the cell as given
        return atoms.copy()
    lattice, scaled, numbers = standard
    return Atoms(numbers=numbers, scaled_positions=scaled, cell=lattice, pbc=True)


def pressure_of(atoms, calculator) -> float | None:
    """The pressure (GPa) of ``atoms`` under ``calculator``; None where it gives no stress."""
    probe = atoms.copy()
    probe.calc = calculator
    try:
        stress = probe.get_stress(voigt=False)
    except (PropertyNotImplementedError, NotImplementedError):
        return None
    return float(-np.trace(stress) / 3 / units.GPa)


def reference_crystal(atoms, calculator, *, relax: bool = True, relax_cell: bool = False, fmax: float = 0.01,
                      max_steps: int = 1000) -> tuple[Atoms, float | None, list[str]]:
    """The perfect crystal the defects and surfaces are made from (module docstring): the
    conventional cell (calculator detached), its pressure (GPa; None without stress) and
    warnings."""
    cell = conventional_cell(atoms)
    warnings = []
    if relax or relax_cell:
        result = relax_structure(cell, calculator, cell=relax_cell, fmax=fmax, max_steps=max_steps)
        if not result.converged:
            warnings.append(f"the perfect crystal's relaxation did not converge in {result.steps} steps "
                            f"(largest force {result.fmax:.3g} eV/Å)")
        cell = result.atoms.copy()
        cell.calc = None
    pressure = pressure_of(cell, calculator)
    if pressure is not None and abs(pressure) > PRESSURE_WARNING:
        warnings.append(f"the input cell is under {pressure:.2f} GPa with this calculator: the energies are those of "
                        "a strained crystal (relax_cell=True, on the command line --relax-cell, relaxes it first)")
    return cell, pressure, warnings


def repetition(spec) -> tuple[int, int, int]:
    """A supercell as repetitions of the conventional cell: n (n x n x n) or (n1, n2, n3)."""
    reps = (spec,) * 3 if np.ndim(spec) == 0 else tuple(spec)
    try:
        valid = len(reps) == 3 and all(int(r) == r and r >= 1 for r in reps)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ConfigError(f"a supercell is a positive integer n (n x n x n conventional cells) or three of them, got {spec!r}")
    return tuple(int(r) for r in reps)


def repetitions(supercells) -> list[tuple[int, int, int]]:
    """Supercell sizes, each n or (n1, n2, n3), as distinct repetitions by ascending size; one
    n alone is one size."""
    specs = [supercells] if isinstance(supercells, (int, np.integer)) else list(supercells)
    if not specs:
        raise ConfigError("give at least one supercell size")
    return sorted({repetition(s) for s in specs}, key=lambda r: (int(np.prod(r)), r))


def energy_of(atoms, calculator) -> float:
    probe = atoms.copy()
    probe.calc = calculator
    return float(probe.get_potential_energy())


# ------------------------------------------------------------------------------ one defect cell
@dataclass
class DefectCell:
    """One defect in one supercell; energies in eV."""

    repeat: tuple  # repetitions of the conventional cell
    n_atoms: int  # atoms of the perfect supercell
    bulk_energy: float  # the perfect supercell
    unrelaxed_energy: float  # the defect supercell before relaxation
    energy: float  # the defect supercell relaxed (the unrelaxed one without relaxation)
    formation_energy: Estimate
    unrelaxed_formation_energy: float
    relaxation_energy: float | None  # unrelaxed minus relaxed E_f (>= 0 at a minimum); None unrelaxed
    relaxation_converged: bool | None  # None: not relaxed
    relaxation_steps: int


def relaxed_at_fixed_cell(atoms: Atoms, calculator, relax: bool, fmax: float, max_steps: int):
    """(structure, unrelaxed energy, energy, converged, steps): ``atoms`` relaxed at fixed cell
    when ``relax`` (converged None and 0 steps otherwise), the structure without a calculator."""
    unrelaxed = energy_of(atoms, calculator)
    if not relax:
        return atoms, unrelaxed, unrelaxed, None, 0
    result = relax_structure(atoms, calculator, fmax=fmax, max_steps=max_steps)
    relaxed = result.atoms.copy()
    relaxed.calc = None
    return relaxed, unrelaxed, result.energy, result.converged, result.steps


def defect_cell(perfect: Atoms, defect: Atoms, repeat, calculator, formula, unc: Uncertainty, relax: bool,
                fmax: float, max_steps: int) -> tuple[DefectCell, Atoms]:
    """Relax ``defect`` (in the supercell ``repeat``) at fixed cell; E_f = ``formula(E)`` of
    E = [E_perfect, E_defect] (a torch tensor or a numpy array); also the relaxed defect structure."""
    bulk_energy = energy_of(perfect, calculator)
    defect, unrelaxed, energy, converged, steps = relaxed_at_fixed_cell(defect, calculator, relax, fmax, max_steps)
    value = float(formula(np.array([bulk_energy, energy])))
    unrelaxed_value = float(formula(np.array([bulk_energy, unrelaxed])))
    estimate = unc.energies(formula, [perfect, defect], "eV", value=value,
                            out_of_domain=unc.out_of_domain([perfect, defect]))
    cell = DefectCell(repeat=tuple(repeat), n_atoms=len(perfect), bulk_energy=bulk_energy,
                      unrelaxed_energy=unrelaxed, energy=energy, formation_energy=estimate,
                      unrelaxed_formation_energy=unrelaxed_value,
                      relaxation_energy=unrelaxed_value - value if relax else None, relaxation_converged=converged,
                      relaxation_steps=steps)
    return cell, defect


def chemical_potential_of(cell: Atoms, element: str, chemical_potential: float | None, what: str) -> float | None:
    """The chemical potential (eV/atom) a formation energy needs: None (the perfect crystal's own
    energy per atom) for a crystal of ``element`` alone; otherwise it must be given."""
    if chemical_potential is not None:
        return float(chemical_potential)
    if set(cell.get_chemical_symbols()) == {element}:
        return None
    raise ConfigError(f"{what} of {element} in {cell.get_chemical_formula()}: give the chemical potential of {element} "
                      "(chemical_potential, eV/atom): a compound's or another element's reference is not the crystal's")


def _relaxation_warnings(cells, what: str) -> list[str]:
    return [f"{what}: the relaxation in {c.n_atoms} atoms did not converge in {c.relaxation_steps} steps"
            for c in cells if c.relaxation_converged is False]


# --------------------------------------------------------------------------------------- vacancy
@dataclass
class VacancyResult(Result):
    """Vacancy formation energies by supercell size (ascending number of atoms)."""

    formula: str  # the conventional cell's
    element: str  # the removed atom's
    site: int  # its index in the conventional cell
    chemical_potential: float | None  # eV/atom given; None: the crystal's own energy per atom
    cells: list  # DefectCell per supercell, ascending size
    tolerance: float  # eV, of the size check
    converged: bool | None  # the two largest supercells agree within tolerance (None: one size)
    pressure: float | None  # GPa, of the perfect crystal
    relaxed: bool
    warnings: list = field(default_factory=list)

    @property
    def formation_energy(self) -> Estimate:
        return self.cells[-1].formation_energy

    def estimates(self) -> dict[str, Estimate]:
        return {"vacancy_formation_energy": self.formation_energy}


def size_check(values: list[float], tolerance: float, n_atoms: list[int], what: str) -> tuple[bool | None, list[str]]:
    """Whether the last two of ``values`` (ascending size) differ by less than ``tolerance``, and
    the warning if not."""
    if len(values) < 2:
        return None, [f"{what}: one supercell only, so no size check"]
    change = abs(values[-1] - values[-2])
    if change < tolerance:
        return True, []
    return False, [f"{what} changes by {change:.3g} eV from {n_atoms[-2]} to {n_atoms[-1]} atoms "
                   f"(tolerance {tolerance:g} eV): use larger supercells"]


def auto_supercells(cell: Atoms, min_atoms: int = AUTO_MIN_ATOMS) -> tuple[int, int]:
    """n and n + 1, n the least repetition of the conventional ``cell`` with ``min_atoms`` atoms
    or more: fcc 3 and 4 (108, 256 atoms), bcc 3 and 4 (54, 128), diamond 2 and 3 (64, 216)."""
    n = max(1, math.ceil((min_atoms / len(cell)) ** (1 / 3) - 1e-9))
    return n, n + 1


def vacancy_formation(atoms, calculator, *, supercells="auto", site: int = 0, relax: bool = True,
                      relax_cell: bool = False, fmax: float = 0.01, max_steps: int = 1000, tolerance: float = 0.05,
                      chemical_potential: float | None = None, uncertainty: Uncertainty | None = None,
                      progress: bool = False) -> VacancyResult:
    """Vacancy formation energy (eV) of atom ``site`` of the conventional cell (module docstring).
    ``supercells``: repetitions of the conventional cell (each n or (n1, n2, n3); "auto":
    ``auto_supercells``, at least ``AUTO_MIN_ATOMS`` atoms and the next size); ``tolerance``
    (eV): of the size check; ``chemical_potential`` (eV/atom of the removed element): required for
    a compound."""
    from tqdm.auto import tqdm

    if not tolerance > 0:
        raise ConfigError(f"tolerance must be positive (eV), got {tolerance}")
    auto = isinstance(supercells, str)
    if auto and supercells != "auto":
        raise ConfigError(f"supercells are repetitions (n or (n1, n2, n3)) or 'auto', got {supercells!r}")
    repeats = None if auto else repetitions(supercells)
    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    cell, pressure, warnings = reference_crystal(atoms, calculator, relax=relax, relax_cell=relax_cell, fmax=fmax,
                                                 max_steps=max_steps)
    if auto:
        repeats = repetitions(auto_supercells(cell))
    if not 0 <= int(site) < len(cell):
        raise ConfigError(f"site {site} is not an atom of the conventional cell {cell.get_chemical_formula()} "
                          f"({len(cell)} atoms: 0 to {len(cell) - 1})")
    element = cell[int(site)].symbol
    mu = chemical_potential_of(cell, element, chemical_potential, "a vacancy")
    cells = []
    for reps in tqdm(repeats, desc="vacancy supercells", leave=False, disable=not progress):
        perfect = cell.repeat(reps)
        n = len(perfect)
        if n < 2:
            raise ConfigError(f"a vacancy needs a supercell of at least two atoms, got {reps}")
        defect = perfect.copy()
        del defect[int(site)]

        def formula(E, n=n):
            return E[1] - (n - 1) / n * E[0] if mu is None else E[1] - E[0] + mu

        cells.append(defect_cell(perfect, defect, reps, calculator, formula, unc, relax, fmax, max_steps)[0])
    converged, size_warnings = size_check([c.formation_energy.value for c in cells], tolerance,
                                          [c.n_atoms for c in cells], "the vacancy formation energy")
    return VacancyResult(formula=cell.get_chemical_formula(), element=element, site=int(site), chemical_potential=mu,
                         cells=cells, tolerance=float(tolerance), converged=converged, pressure=pressure, relaxed=relax,
                         warnings=warnings + size_warnings + _relaxation_warnings(cells, "vacancy"))



# ---------------------------------------------------------------------------------- interstitial
@dataclass
class InterstitialSite:
    """A site where an interstitial atom starts, and its formation energy there."""

    name: str  # tetrahedral, octahedral, hexagonal, n-coordinated, or given
    position: np.ndarray  # (3,) fractional coordinates in the conventional cell
    radius: float  # Å: the empty sphere's radius (distance to the nearest atom of the perfect crystal)
    coordination: int  # atoms at that distance (within 0.1 Å)
    calculation: DefectCell
    displacement: float  # Å: how far the interstitial atom moved while relaxing
    nearest_distance: float  # Å: from the relaxed interstitial atom to its nearest neighbour


def _neighbour_vectors(cell: Atoms, fractional: np.ndarray) -> np.ndarray:
    """Vectors (K, 3) from the point to every atom of the 27 images of ``cell`` around it."""
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)))
    images = (cell.get_scaled_positions()[None] + shifts[:, None]).reshape(-1, 3) @ cell.cell[:]
    return images - (np.asarray(fractional) - np.floor(fractional)) @ cell.cell[:]


def site_shape(cell: Atoms, fractional) -> tuple[float, int, str]:
    """The empty sphere at a point: radius (Å), coordination (atoms within 0.1 Å of it) and the
    shape's name (4: tetrahedral; 6: octahedral when three opposite pairs are perpendicular,
    hexagonal otherwise)."""
    vectors = _neighbour_vectors(cell, fractional)
    distances = np.linalg.norm(vectors, axis=1)
    radius = float(distances.min())
    shell = vectors[distances < radius + 0.1]
    n = len(shell)
    name = {4: "tetrahedral"}.get(n, f"{n}-coordinated")
    if n == 6:
        unit = shell / np.linalg.norm(shell, axis=1)[:, None]
        cosines = np.sort(unit @ unit.T, axis=1)  # a regular octahedron's rows: -1, 0, 0, 0, 0, 1
        name = "octahedral" if np.allclose(cosines, [-1, 0, 0, 0, 0, 1], atol=0.1) else "hexagonal"
    return radius, n, name


def interstitial_sites(cell: Atoms, max_sites: int = 3, symprec: float = SYMPREC) -> list[np.ndarray]:
    """The centres of the largest empty spheres of the crystal ``cell``, one per symmetry orbit,
    largest first (fractional coordinates): the Voronoi vertices of its atoms (each the centre of
    a sphere through four or more atoms with none inside), grouped by spglib's space group."""
    import spglib
    from scipy.spatial import Voronoi

    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)))
    images = (cell.get_scaled_positions()[None] + shifts[:, None]).reshape(-1, 3) @ cell.cell[:]
    vertices = np.linalg.solve(cell.cell[:].T, Voronoi(images).vertices.T).T
    vertices = vertices[np.all((vertices > -1e-6) & (vertices < 1 - 1e-6), axis=1)]
    radii = np.array([site_shape(cell, v)[0] for v in vertices])
    symmetry = quiet_spglib(spglib.get_symmetry, (cell.cell[:], cell.get_scaled_positions(), cell.numbers),
                            symprec=symprec) or {"rotations": np.eye(3, dtype=int)[None], "translations": np.zeros((1, 3))}
    rotations, translations = symmetry["rotations"], symmetry["translations"]
    sites = []
    for vertex in vertices[np.argsort(-radii, kind="stable")]:
        if len(sites) == max_sites:
            break
        seen = False
        for site in sites:
            orbit = (rotations @ site) + translations - vertex
            orbit -= np.round(orbit)
            if np.linalg.norm(orbit @ cell.cell[:], axis=1).min() < SAME_SITE:
                seen = True
                break
        if not seen:
            sites.append(vertex)
    return sites


@dataclass
class InterstitialResult(Result):
    """Interstitial formation energies at each site tried (ascending E_f)."""

    formula: str  # the conventional cell's
    element: str  # the interstitial atom's
    chemical_potential: float | None  # eV/atom given; None: the crystal's own energy per atom
    repeat: tuple  # the supercell, repetitions of the conventional cell
    sites: list  # InterstitialSite, ascending formation energy
    pressure: float | None  # GPa, of the perfect crystal
    relaxed: bool
    warnings: list = field(default_factory=list)

    @property
    def lowest(self) -> InterstitialSite:
        return self.sites[0]

    @property
    def formation_energy(self) -> Estimate:
        return self.lowest.calculation.formation_energy

    def estimates(self) -> dict[str, Estimate]:
        return {"interstitial_formation_energy": self.formation_energy}


def interstitial_formation(atoms, calculator, *, site="auto", element: str | None = None, supercell=2,
                           relax: bool = True, relax_cell: bool = False, fmax: float = 0.01, max_steps: int = 1000,
                           max_sites: int = 3, displace: float = 0.0, chemical_potential: float | None = None,
                           uncertainty: Uncertainty | None = None, progress: bool = False) -> InterstitialResult:
    """Interstitial formation energy (eV) of an atom of ``element`` (default: the crystal's one
    element) in a ``supercell`` (n or (n1, n2, n3) repetitions) of the conventional cell (module docstring).
    ``site``: "auto" (the ``max_sites`` largest empty spheres, :func:`interstitial_sites`) or a
    position in fractional coordinates of the conventional cell; ``displace`` (Å): start the atom
    that far off the site along a fixed low-symmetry direction; ``chemical_potential`` (eV/atom):
    required for a compound or a foreign atom."""
    from ase.data import atomic_numbers
    from tqdm.auto import tqdm

    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    cell, pressure, warnings = reference_crystal(atoms, calculator, relax=relax, relax_cell=relax_cell, fmax=fmax,
                                                 max_steps=max_steps)
    symbols = sorted(set(cell.get_chemical_symbols()))
    if element is None:
        if len(symbols) > 1:
            raise ConfigError(f"an interstitial in {cell.get_chemical_formula()}: name its element (element=...)")
        element = symbols[0]
    if element not in atomic_numbers:
        raise ConfigError(f"unknown element {element!r} for the interstitial")
    mu = chemical_potential_of(cell, element, chemical_potential, "an interstitial")
    if isinstance(site, str):
        if site != "auto":
            raise ConfigError(f"site is 'auto' or a position (three fractional coordinates), got {site!r}")
        positions = interstitial_sites(cell, max_sites)
    else:
        position = np.asarray(site, dtype=float)
        if position.shape != (3,) or not np.all(np.isfinite(position)):
            raise ConfigError(f"an interstitial site is three fractional coordinates of the conventional cell, got {site!r}")
        positions = [position]
    reps = repetition(supercell)
    perfect = cell.repeat(reps)
    n = len(perfect)
    direction = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)  # no symmetry element of a crystal keeps it

    def formula(E):
        return E[1] - (n + 1) / n * E[0] if mu is None else E[1] - E[0] - mu

    sites = []
    for fractional in tqdm(positions, desc="interstitial sites", leave=False, disable=not progress):
        radius, coordination, name = site_shape(cell, fractional)
        if not isinstance(site, str):
            name = "given"
        start = fractional @ cell.cell[:] + float(displace) * direction
        defect = perfect.copy()
        defect.append(Atom(element, start))
        calc, relaxed = defect_cell(perfect, defect, reps, calculator, formula, unc, relax, fmax, max_steps)
        moved = relaxed.positions[-1] - start
        others = relaxed.get_distances(n, list(range(n)), mic=True)
        sites.append(InterstitialSite(name=name, position=np.asarray(fractional, dtype=float), radius=radius,
                                      coordination=coordination, calculation=calc,
                                      displacement=float(np.linalg.norm(moved)), nearest_distance=float(others.min())))
        if sites[-1].displacement > 0.5:
            warnings.append(f"the interstitial started at the {name} site moved {sites[-1].displacement:.2f} Å while "
                            f"relaxing (nearest neighbour now at {sites[-1].nearest_distance:.2f} Å): it is not stable there")
    sites.sort(key=lambda s: s.calculation.formation_energy.value)
    return InterstitialResult(formula=cell.get_chemical_formula(), element=element, chemical_potential=mu, repeat=reps,
                              sites=sites, pressure=pressure, relaxed=relax,
                              warnings=warnings + _relaxation_warnings([s.calculation for s in sites], "interstitial"))


# ----------------------------------------------------------------------------------------- plots
def _errorbars(ax, x, estimates, **style) -> None:
    for xi, est in zip(x, estimates):
        if est.ci is not None:
            ax.errorbar(xi, est.value, yerr=[[est.value - est.lower], [est.upper - est.value]], capsize=4, **style)


def plot_vacancy(result: VacancyResult, path) -> None:
    """The vacancy formation energy against 1/N (N: atoms of the perfect supercell) with its
    intervals, the unrelaxed values, and the size check in the title."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    x = [1 / c.n_atoms for c in result.cells]
    estimates = [c.formation_energy for c in result.cells]
    ax.plot(x, [e.value for e in estimates], "o-", color="#1f5fa8", label="relaxed" if result.relaxed else "unrelaxed")
    _errorbars(ax, x, estimates, color="#1f5fa8", fmt="none")
    if result.relaxed:
        ax.plot(x, [c.unrelaxed_formation_energy for c in result.cells], "s--", mfc="none", color="0.5", label="unrelaxed")
    for xi, est, c in zip(x, estimates, result.cells):
        ax.annotate(f"{c.n_atoms}" + (" (out of domain)" if est.out_of_domain else ""), (xi, est.value),
                    textcoords="offset points", xytext=(4, -12), fontsize=7)
    check = {True: "size-converged", False: "NOT size-converged", None: "one size"}[result.converged]
    ax.set_xlim(0, 1.1 * max(x))
    ax.set_xlabel("1 / atoms in the supercell")
    ax.set_ylabel("vacancy formation energy (eV)")
    ax.set_title(f"{result.element} vacancy in {result.formula}: {check}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def plot_interstitial(result: InterstitialResult, path) -> None:
    """Each site's formation energy (relaxed, with its interval, and unrelaxed) as bars."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(result.sites), 3.6))
    x = np.arange(len(result.sites))
    estimates = [s.calculation.formation_energy for s in result.sites]
    ax.bar(x, [e.value for e in estimates], width=0.6, color="#8fb3d9", label="relaxed" if result.relaxed else "unrelaxed")
    _errorbars(ax, x, estimates, color="k", fmt="none")
    ax.set_xticks(x, [s.name for s in result.sites])
    ax.set_ylabel("interstitial formation energy (eV)")
    ax.set_title(f"{result.element} interstitial in {result.formula}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["DefectCell", "InterstitialResult", "InterstitialSite", "VacancyResult", "conventional_cell",
           "interstitial_formation", "interstitial_sites", "plot_interstitial", "plot_vacancy", "reference_crystal",
           "repetition", "repetitions", "site_shape", "vacancy_formation"]

"""Harmonic phonons of a crystal by finite displacements (phonopy), and the vibrational DOS of MD
against the harmonic one.

``phonons(atoms, calculator)`` builds a supercell of ``atoms`` (by default the smallest diagonal
one whose perpendicular widths are all at least :data:`MIN_WIDTH` and twice the calculator's
cutoff), lets phonopy choose the symmetry-distinct displacements (Togo & Tanaka, Scr. Mater. 108,
1 (2015)), takes the forces of each displaced supercell from the calculator (less those of the
perfect supercell, so residual forces of an unrelaxed structure do not enter), and from phonopy's
symmetrised force constants computes

- the band structure along the standard path of ASE's ``Cell.bandpath`` (Setyawan & Curtarolo,
  Comput. Mater. Sci. 49, 299 (2010)) for phonopy's primitive cell, frequencies in THz;
- the phonon DOS on a Gamma-centred mesh (tetrahedron method), per atom (area 3);
- thermal properties in the harmonic approximation (Helmholtz free energy, entropy and heat
  capacity, summed over the mesh's modes but the acoustic ones at Gamma; phonopy gives them in kJ/mol and J/K/mol per mole of primitive cells, they are
  reported per atom in eV/atom and meV/K/atom) and the zero-point energy;
- stability: imaginary modes (phonopy's negative frequencies) below :data:`IMAGINARY_TOLERANCE`
  anywhere on the mesh or the path, the three acoustic modes at Gamma excepted.

Intervals (calculators with uncertainties only): the headline numbers are recomputed with each
posterior draw's calculator on the same displacements (``Uncertainty.draw_sigmas``), and the
domain flag is taken over the perfect supercell and the first displaced one.

``compare_vdos(md, result)`` puts the vibrational DOS of an MD run (``analysis.correlation``'s
VACF transform) and the harmonic DOS on one frequency grid, with their overlap and the ratio of
their mean frequencies: anharmonicity, or a potential whose MD leaves the harmonic well, shows as
an overlap well below 1 and a ratio away from 1.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields

import numpy as np
from ase import Atoms, units
from ase.cell import Cell

from ..analysis.correlation import VDOS, vacf, vdos
from ..analysis.results import Result, jsonable, pyplot, save_figure
from ..errors import ConfigError, DataError
from .estimates import DRAWS, Estimate, Uncertainty

MIN_WIDTH = 10.0  # Å: the least perpendicular width of a default supercell
IMAGINARY_TOLERANCE = -0.05  # THz: frequencies below it are imaginary modes
ROOM_TEMPERATURE = 300.0  # K: the temperature of the headline thermal properties
EV_PER_THZ = units._hplanck * 1e12 / units._e  # h x 1 THz in eV
EV_PER_KJ_MOL = units.kJ / units.mol  # phonopy's kJ/mol (per mole of primitive cells) in eV
EV_PER_J_MOL = units.J / units.mol  # phonopy's J/mol in eV
HEADLINE_UNITS = {"max_frequency": "THz", "zero_point_energy": "eV/atom", "free_energy_300K": "eV/atom",
                  "entropy_300K": "meV/K/atom", "heat_capacity_300K": "meV/K/atom"}


# ------------------------------------------------------------------------------------- results
@dataclass
class PhononResult(Result):
    """Phonons of one crystal (module docstring). Per-atom quantities are per atom of the
    primitive cell; q-points are in reduced coordinates of its reciprocal cell."""

    formula: str  # of the primitive cell
    n_atoms: int  # atoms in the primitive cell
    primitive_cell: np.ndarray  # (3, 3) Å
    supercell_matrix: np.ndarray  # (3, 3) integers, of the given cell
    n_supercell_atoms: int
    displacement: float  # Å
    n_displacements: int  # displaced supercells
    mesh: list  # q-point mesh (3 ints)
    band_path: str  # ASE's path string, e.g. "GXWKGLUWLK,UX"
    band_q: np.ndarray  # (K, 3)
    band_distance: np.ndarray  # (K,) 1/Å (without 2 pi), ASE's linear axis
    band_frequencies: np.ndarray  # (K, 3 n_atoms) THz, imaginary ones negative
    special_distance: np.ndarray  # (P,) 1/Å
    special_labels: list  # (P,) "G" is Gamma
    dos_frequency: np.ndarray  # (F,) THz
    dos: np.ndarray  # (F,) modes per THz per atom (area 3)
    temperatures: np.ndarray  # (T,) K
    free_energy: np.ndarray  # (T,) eV/atom, zero-point energy included
    entropy: np.ndarray  # (T,) meV/K/atom
    heat_capacity: np.ndarray  # (T,) meV/K/atom (at constant volume; 3 k_B = 0.2585)
    zero_point_energy: float  # eV/atom
    max_frequency: float  # THz
    mean_frequency: float  # THz, of the mesh's frequencies
    free_energy_300K: float  # eV/atom
    entropy_300K: float  # meV/K/atom
    heat_capacity_300K: float  # meV/K/atom
    stable: bool  # no imaginary mode below IMAGINARY_TOLERANCE
    lowest_frequency: float  # THz, the acoustic modes at Gamma excepted
    lowest_q: np.ndarray  # (3,) where it is
    lowest_label: str  # the special point there, "" elsewhere
    max_residual_force: float  # eV/Å on the perfect supercell
    warnings: list = field(default_factory=list)
    estimated: dict = field(default_factory=dict)  # name -> Estimate

    def estimates(self) -> dict[str, Estimate]:
        """The headline properties (:data:`HEADLINE_UNITS`) with their intervals and domain flags."""
        return dict(self.estimated)

    def to_dict(self) -> dict:
        data = jsonable({f.name: getattr(self, f.name) for f in fields(self) if f.name != "estimated"})
        data["estimates"] = {name: e.to_dict() for name, e in self.estimated.items()}
        return data


@dataclass
class VDOSComparison(Result):
    """The MD and harmonic DOS on one grid, each of unit area over it (1/THz)."""

    frequency_thz: np.ndarray  # (F,)
    md_dos: np.ndarray  # (F,)
    harmonic_dos: np.ndarray  # (F,)
    overlap: float  # int min(md, harmonic) df: 1 alike, 0 disjoint (1 - overlap is half their L1 distance)
    mean_frequency_md: float  # THz
    mean_frequency_harmonic: float  # THz
    mean_frequency_ratio: float  # md / harmonic
    key: str  # the MD VDOS compared: "all" or an element


# ----------------------------------------------------------------------------------- supercells
def calculator_cutoff(calculator) -> float | None:
    """The calculator's cutoff in Å where it states one (ridgeline's: the model's)."""
    cutoff = getattr(getattr(calculator, "model", None), "cutoff", None)
    return None if cutoff is None else float(cutoff)


def supercell_matrix(atoms, supercell=None, min_width: float | None = None) -> np.ndarray:
    """(3, 3) integer matrix of the supercell of ``atoms``' cell: ``supercell`` as an integer, 3
    integers (diagonal) or a 3x3 matrix; None: the smallest diagonal one whose perpendicular widths
    are all at least ``min_width`` Å (default :data:`MIN_WIDTH`)."""
    if supercell is None:
        widths = 1.0 / np.linalg.norm(atoms.cell.reciprocal(), axis=1)  # Å, between opposite faces
        target = MIN_WIDTH if min_width is None else float(min_width)
        return np.diag(np.ceil(target / widths - 1e-9).astype(int).clip(min=1))
    matrix = np.asarray(supercell)
    if matrix.size == 1:
        matrix = np.eye(3) * matrix.item()
    elif matrix.shape == (3,):
        matrix = np.diag(matrix)
    if matrix.shape != (3, 3) or not np.all(np.equal(np.mod(matrix, 1), 0)):
        raise ConfigError(f"supercell must be an integer, 3 integers or a 3x3 integer matrix, got {supercell!r}")
    matrix = matrix.astype(int)
    if round(np.linalg.det(matrix)) < 1:
        raise ConfigError(f"supercell matrix {matrix.tolist()} must have a positive determinant")
    return matrix


def mesh_numbers(mesh) -> list | float:
    """phonopy's mesh: 3 ints (an int N is N x N x N), or a float, phonopy's length (Å) that
    sets the numbers from the reciprocal cell."""
    if isinstance(mesh, (float, np.floating)):
        if mesh <= 0:
            raise ConfigError(f"mesh length must be > 0, got {mesh}")
        return float(mesh)
    numbers = np.atleast_1d(np.asarray(mesh))
    if numbers.size == 1:
        numbers = np.repeat(numbers, 3)
    if numbers.shape != (3,) or not np.all(np.mod(numbers, 1) == 0) or np.any(numbers < 1):
        raise ConfigError(f"mesh must be a positive integer, 3 positive integers or a length (float), got {mesh!r}")
    return [int(n) for n in numbers]


def _ase_atoms(cell) -> Atoms:
    return Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, masses=cell.masses, pbc=True)


def _forces(structures, calculator, progress: bool) -> np.ndarray:
    from tqdm.auto import tqdm

    forces = []
    for atoms in tqdm(structures, desc="displaced supercells", unit="cell", leave=False, disable=not progress,
                      dynamic_ncols=True):
        atoms = atoms.copy()
        atoms.calc = calculator
        forces.append(np.asarray(atoms.get_forces(), dtype=float))
    return np.array(forces)


# ------------------------------------------------------------------------------------ harmonics
def _harmonic(phonon, forces: np.ndarray, mesh, band_q: np.ndarray, temperatures, dos: bool) -> dict:
    """Force constants from ``forces`` (displaced minus perfect supercell), then what the mesh,
    the band path and the thermal properties give, per atom of the primitive cell."""
    n = len(phonon.primitive)
    phonon.forces = forces
    phonon.produce_force_constants()
    phonon.symmetrize_force_constants()
    phonon.run_qpoints(band_q)
    band = np.array(phonon.qpoints.frequencies)
    phonon.run_mesh(mesh, is_gamma_center=True)
    grid = phonon.mesh
    frequencies, weights, q = np.array(grid.frequencies), np.array(grid.weights, dtype=float), np.array(grid.qpoints)
    # the acoustic modes at Gamma are rigid translations: their near-zero frequencies would add
    # kT ln(h nu / kT) -> -inf terms to the free energy
    phonon.run_thermal_properties(temperatures=np.asarray(temperatures, dtype=float), exclude_gamma_acoustic=True)
    thermal = phonon.thermal_properties
    real = np.where(frequencies > 0, frequencies, 0.0)
    out = {"band": band, "mesh_frequencies": frequencies, "mesh_q": q, "mesh_numbers": [int(m) for m in grid.mesh_numbers],
           "temperatures": np.array(thermal.temperatures, dtype=float),
           "free_energy": np.array(thermal.free_energy) * EV_PER_KJ_MOL / n,
           "entropy": np.array(thermal.entropy) * 1000 * EV_PER_J_MOL / n,
           "heat_capacity": np.array(thermal.heat_capacity) * 1000 * EV_PER_J_MOL / n,
           "zero_point_energy": float(0.5 * EV_PER_THZ * (weights @ real).sum() / weights.sum() / n),
           "max_frequency": float(max(frequencies.max(), band.max())),
           "mean_frequency": float((weights @ frequencies).sum() / (weights.sum() * frequencies.shape[1]))}
    if dos:
        phonon.run_total_dos()
        out["dos_frequency"] = np.array(phonon.total_dos.frequency_points)
        out["dos"] = np.array(phonon.total_dos.dos) / n
    return out


def _at(values: np.ndarray, temperatures: np.ndarray, temperature: float) -> float:
    return float(values[int(np.argmin(np.abs(temperatures - temperature)))])


def _lowest(q: np.ndarray, frequencies: np.ndarray) -> tuple[float, np.ndarray]:
    """The lowest frequency and its q-point, the three acoustic modes at Gamma (the three nearest
    zero there, so an imaginary optical mode at Gamma still counts) excepted."""
    values = np.array(frequencies, dtype=float)
    for k in np.flatnonzero(np.linalg.norm(q - np.round(q), axis=1) < 1e-6):
        values[k, np.argsort(np.abs(values[k]))[:3]] = np.inf
    k, band = np.unravel_index(int(np.argmin(values)), values.shape)
    return float(values[k, band]), q[k]


def _headline(h: dict) -> dict[str, float]:
    t = h["temperatures"]
    return {"max_frequency": h["max_frequency"], "zero_point_energy": h["zero_point_energy"],
            "free_energy_300K": _at(h["free_energy"], t, ROOM_TEMPERATURE),
            "entropy_300K": _at(h["entropy"], t, ROOM_TEMPERATURE),
            "heat_capacity_300K": _at(h["heat_capacity"], t, ROOM_TEMPERATURE)}


def phonons(atoms, calculator, *, supercell=None, displacement: float = 0.01, mesh=(20, 20, 20),
            temperatures=np.arange(0, 1001, 10), band_path: str | None = None, npoints: int = 200,
            uncertainty: Uncertainty | None = None, progress: bool = False) -> PhononResult:
    """Harmonic phonons of the crystal ``atoms`` under ``calculator`` (module docstring).

    ``supercell``: an integer, 3 integers or a 3x3 matrix of ``atoms``' cell (None: at least
    :data:`MIN_WIDTH` and twice the calculator's cutoff wide); ``displacement`` (Å): phonopy's
    finite displacement; ``mesh``: q-point mesh (:func:`mesh_numbers`); ``temperatures`` (K) of
    the thermal properties; ``band_path``: an ASE path string for the primitive cell (None: the
    standard one), ``npoints`` points along it. Evaluate at a relaxed structure
    (``simulate.relax.relax(..., cell=True)``): residual forces are subtracted but reported."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms
    from phonopy.structure.cells import PrimitiveMatrixAutoDefaultWarning

    if not np.all(atoms.pbc):
        raise DataError(f"phonons need a crystal: {atoms.get_chemical_formula()} is not periodic in all three "
                        f"directions (pbc {atoms.pbc.tolist()})")
    if not displacement > 0:
        raise ConfigError(f"displacement must be > 0 Å, got {displacement}")
    temperatures = np.asarray(temperatures, dtype=float).ravel()
    if temperatures.size == 0 or np.any(temperatures < 0) or not np.all(np.isfinite(temperatures)):
        raise ConfigError("temperatures must be a non-empty list of finite values >= 0 K")
    cutoff = calculator_cutoff(calculator)
    matrix = supercell_matrix(atoms, supercell, None if cutoff is None else max(MIN_WIDTH, 2 * cutoff))
    mesh = mesh_numbers(mesh)
    uncertainty = uncertainty if uncertainty is not None else Uncertainty(calculator)

    unitcell = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=np.array(atoms.cell),
                            scaled_positions=atoms.get_scaled_positions(), masses=atoms.get_masses())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrimitiveMatrixAutoDefaultWarning)  # "auto" is the choice made here
        phonon = Phonopy(unitcell, supercell_matrix=matrix, primitive_matrix="auto")
    phonon.generate_displacements(distance=displacement)
    perfect = _ase_atoms(phonon.supercell)
    displaced = [_ase_atoms(cell) for cell in phonon.supercells_with_displacements]

    primitive = Cell(np.array(phonon.primitive.cell))
    path = primitive.bandpath(band_path, npoints=npoints) if band_path else primitive.bandpath(npoints=npoints)
    distance, special_distance, labels = path.get_linear_kpoint_axis()
    band_q = np.array(path.kpts)
    all_temperatures = np.union1d(temperatures, [ROOM_TEMPERATURE])

    def harmonic(calc, dos: bool) -> tuple[dict, np.ndarray]:
        reference = _forces([perfect], calc, False)
        return _harmonic(phonon, _forces(displaced, calc, progress) - reference, mesh, band_q, all_temperatures, dos), reference

    h, reference = harmonic(calculator, True)
    headline = _headline(h)
    shown = np.isin(h["temperatures"], temperatures)
    lowest_band, q_band = _lowest(band_q, h["band"])
    lowest_mesh, q_mesh = _lowest(h["mesh_q"], h["mesh_frequencies"])
    # the path's point where the two agree (to rounding): it may be named
    lowest, lowest_q = (lowest_band, q_band) if lowest_band <= lowest_mesh + 1e-6 else (lowest_mesh, q_mesh)
    special = {name: np.array(point) for name, point in path.special_points.items()}
    lowest_label = next((name for name, point in special.items()
                         if np.linalg.norm((lowest_q - point) - np.round(lowest_q - point)) < 1e-6), "")

    max_residual = float(np.linalg.norm(reference[0], axis=1).max())
    notes = []
    if max_residual > 1e-3:
        notes.append(f"the structure is not at equilibrium: residual forces up to {max_residual:.3g} eV/Å "
                     "(subtracted; relax it first)")
    if lowest < IMAGINARY_TOLERANCE:
        notes.append(f"imaginary modes: lowest {lowest:.3g} THz at q = {np.round(lowest_q, 4).tolist()}"
                     f"{' (' + lowest_label + ')' if lowest_label else ''}: dynamically unstable")

    sigmas = uncertainty.draw_sigmas(lambda calc: _headline(harmonic(calc, False)[0]), progress=progress)
    out_of_domain = uncertainty.out_of_domain([perfect, displaced[0]])
    estimated = {name: uncertainty.estimate(value, HEADLINE_UNITS[name], None if sigmas is None else sigmas[name],
                                            DRAWS, out_of_domain) for name, value in headline.items()}
    return PhononResult(
        formula=_ase_atoms(phonon.primitive).get_chemical_formula(),
        n_atoms=len(phonon.primitive), primitive_cell=np.array(primitive), supercell_matrix=matrix,
        n_supercell_atoms=len(perfect), displacement=float(displacement), n_displacements=len(displaced),
        mesh=h["mesh_numbers"], band_path=path.path, band_q=band_q, band_distance=np.array(distance),
        band_frequencies=h["band"], special_distance=np.array(special_distance), special_labels=list(labels),
        dos_frequency=h["dos_frequency"], dos=h["dos"], temperatures=h["temperatures"][shown],
        free_energy=h["free_energy"][shown], entropy=h["entropy"][shown], heat_capacity=h["heat_capacity"][shown],
        zero_point_energy=headline["zero_point_energy"], max_frequency=headline["max_frequency"],
        mean_frequency=h["mean_frequency"], free_energy_300K=headline["free_energy_300K"],
        entropy_300K=headline["entropy_300K"], heat_capacity_300K=headline["heat_capacity_300K"],
        stable=bool(lowest >= IMAGINARY_TOLERANCE), lowest_frequency=lowest, lowest_q=np.array(lowest_q),
        lowest_label=lowest_label, max_residual_force=max_residual, warnings=notes, estimated=estimated)


# -------------------------------------------------------------------------- MD against harmonic
def compare_vdos(md, result: PhononResult, dt: float | None = None, key: str = "all",
                 top: float = 1.5) -> VDOSComparison:
    """The vibrational DOS of MD against the harmonic DOS of ``result``. ``md``: a :class:`VDOS`
    (``analysis.correlation.vdos``) or frames with velocities stored every ``dt`` fs; ``key``: its
    curve to compare ("all", or an element for a one-element crystal). The grid is the MD VDOS's
    up to ``top`` x the harmonic maximum frequency; the harmonic DOS is interpolated onto it
    (imaginary frequencies dropped) and both are scaled to unit area there."""
    if not isinstance(md, VDOS):
        if dt is None:
            raise ConfigError("compare_vdos needs dt (fs between frames) to transform a trajectory")
        md = vdos(vacf(md, dt))
    if key not in md.dos:
        raise DataError(f"compare_vdos: the MD VDOS has no curve {key!r}; it has {', '.join(md.dos)}")
    if not result.max_frequency > 0:
        raise DataError("compare_vdos: the harmonic spectrum has no real frequency")
    keep = md.frequency_thz <= top * result.max_frequency
    grid = md.frequency_thz[keep]
    if len(grid) < 3:
        raise DataError(f"compare_vdos: the MD VDOS has {len(grid)} points below {top * result.max_frequency:.3g} THz; "
                        "run longer (finer frequency grid)")
    harmonic = np.interp(grid, result.dos_frequency, result.dos, left=0.0, right=0.0)

    def unit_area(curve):
        area = float(np.trapezoid(curve, grid))
        if not area > 0:
            raise DataError("compare_vdos: a DOS has no weight on the common grid")
        return curve / area

    md_dos, harmonic = unit_area(md.dos[key][keep]), unit_area(harmonic)
    mean_md, mean_harmonic = (float(np.trapezoid(grid * g, grid)) for g in (md_dos, harmonic))
    return VDOSComparison(frequency_thz=grid, md_dos=md_dos, harmonic_dos=harmonic,
                          overlap=float(np.trapezoid(np.minimum(md_dos, harmonic), grid)),
                          mean_frequency_md=mean_md, mean_frequency_harmonic=mean_harmonic,
                          mean_frequency_ratio=mean_md / mean_harmonic, key=key)


# --------------------------------------------------------------------------------------- plots
def _label(name: str) -> str:
    return name.replace("G", "Γ")


def plot_phonons(result: PhononResult, path, title: str = "") -> None:
    """The band structure along the path (labelled special points) beside the DOS; PNG."""
    plt = pyplot()
    fig, (bands, dos) = plt.subplots(1, 2, figsize=(8, 4.5), sharey=True, gridspec_kw={"width_ratios": [3, 1]})
    breaks = np.flatnonzero(np.diff(result.band_distance) == 0) + 1  # where the path jumps: no line across
    bands.plot(np.insert(result.band_distance, breaks, np.nan),
               np.insert(result.band_frequencies, breaks, np.nan, axis=0), color="C0", lw=1)
    for x in result.special_distance:
        bands.axvline(x, color="grey", lw=0.5)
    bands.axhline(0, color="grey", lw=0.5)
    ticks = {}  # a break in the path puts two points at one distance: "K|U"
    for x, name in zip(result.special_distance, result.special_labels):
        ticks.setdefault(round(float(x), 9), []).append(_label(name))
    bands.set_xticks(list(ticks), ["|".join(names) for names in ticks.values()])
    low, high = min(0.0, float(result.band_frequencies.min())), float(result.band_frequencies.max())
    bands.set_ylim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    bands.set_xlim(result.band_distance[0], result.band_distance[-1])
    bands.set_ylabel("frequency (THz)")
    dos.plot(result.dos, result.dos_frequency, color="C0", lw=1)
    dos.axhline(0, color="grey", lw=0.5)
    dos.set_xlabel("DOS (1/THz/atom)")
    dos.set_xlim(left=0)
    state = "stable" if result.stable else f"unstable: {result.lowest_frequency:.2f} THz"
    fig.suptitle(title or f"phonons of {result.formula} ({state})")
    fig.tight_layout()
    save_figure(fig, path)


def plot_vdos_comparison(result: VDOSComparison, path, title: str = "") -> None:
    """The MD and harmonic DOS on one axis, with their overlap and mean-frequency ratio; PNG."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(result.frequency_thz, result.harmonic_dos, label="harmonic (phonopy)", lw=1)
    ax.plot(result.frequency_thz, result.md_dos, label="MD (VACF)", lw=1)
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel("DOS (1/THz)")
    ax.set_xlim(0, result.frequency_thz[-1])
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, title=f"overlap {result.overlap:.2f}, mean ratio {result.mean_frequency_ratio:.3f}",
              title_fontsize=8)
    fig.suptitle(title or "vibrational DOS: MD against harmonic")
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["HEADLINE_UNITS", "IMAGINARY_TOLERANCE", "MIN_WIDTH", "ROOM_TEMPERATURE", "PhononResult",
           "VDOSComparison", "calculator_cutoff", "compare_vdos", "mesh_numbers", "phonons", "plot_phonons",
           "plot_vdos_comparison", "supercell_matrix"]

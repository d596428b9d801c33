"""Elastic constants from stress-strain: the full 6x6 stiffness, reduced by the crystal's symmetry.

``elastic_constants(atoms, calculator)`` applies each of the six Voigt strains (xx, yy, zz, yz, xz,
xy) at each magnitude in ``strains`` as the small-strain deformation F = I + eps (eps symmetric;
a shear magnitude is the engineering strain gamma = 2 eps_ij), relaxes the positions at the
fixed strained cell (``relax_ions``: the relaxed-ion constants; ASE's optimizer stops at once
where symmetry leaves no force), and fits each stress component linearly against the magnitude:
the slopes are C_ij = d sigma_i / d e_j (ASE's stress is positive in tension, so a stable crystal
has positive C11). This is the stress-strain method of the Materials Project (M. de Jong et
al., Sci. Data 2, 150009 (2015)), matcalc and DP-GEN's autotest. The symmetric strains make the
slope a central difference, and the intercept is the cell's residual stress: the slopes are the
elastic constants of a cell at zero stress, so a stress above :data:`RESIDUAL_STRESS_WARNING`
is warned about (``relax=True`` relaxes cell and ions first, ``simulate.relax(cell=True)``).

Orientation and symmetry. The stiffness is computed in the input's Cartesian frame and rotated
into the frame of spglib's standardized conventional cell (``std_rotation_matrix``): C11, C12,
C44 of a cubic crystal are in its cube axes whether the input is a primitive fcc cell, a
conventional cell or a rotated one; a hexagonal crystal has c along z. With ``symmetrize``,
(C + C^T) / 2 is averaged over the crystal's point group (the exact projection onto the tensors
it leaves invariant: for a cubic crystal C11 = mean(C11, C22, C33), C12 = mean(C12, C13, C23),
C44 = mean(C44, C55, C66), and zero where symmetry says). The independent constants reported
(:data:`INDEPENDENT`) are C11, C12, C44 for cubic; C11, C12, C13, C33, C44 for hexagonal;
C11, C12, C13, C33, C44, C66 for tetragonal (4/mmm, space groups 89-142); the nine of
orthorhombic; all 21 of the upper triangle otherwise.

Moduli: Voigt, Reuss and Hill bulk and shear moduli, and the Hill average's Young's modulus and
Poisson ratio (R. Hill, Proc. Phys. Soc. A 65, 349 (1952)); Born stability: every eigenvalue of
C positive (F. Mouhat and F.-X. Coudert, Phys. Rev. B 90, 224104 (2014)).

Interval: :meth:`Uncertainty.draw_sigmas` reruns the same strains, relaxations and fit with each
posterior draw's calculator (a committee's members, or Laplace last-layer draws) and gives the
calibrated spread of each reported number; ``out_of_domain`` is taken over the strained cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import units

from ..analysis.results import pyplot, save_figure
from ..errors import ConfigError
from .eos import check_crystal
from .symmetry import SYMPREC, symmetry_dataset
from .estimates import DRAWS, SummaryResult, Uncertainty

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))  # Voigt index -> Cartesian pair: xx yy zz yz xz xy
RESIDUAL_STRESS_WARNING = 0.1  # GPa
DEFAULT_STRAINS = (-0.01, -0.005, 0.005, 0.01)


def _upper(*pairs):
    return tuple(f"C{i}{j}" for i, j in pairs)


ALL_21 = tuple(f"C{i}{j}" for i in range(1, 7) for j in range(i, 7))
INDEPENDENT = {
    "cubic": _upper((1, 1), (1, 2), (4, 4)),
    "hexagonal": _upper((1, 1), (1, 2), (1, 3), (3, 3), (4, 4)),
    "tetragonal": _upper((1, 1), (1, 2), (1, 3), (3, 3), (4, 4), (6, 6)),
    "orthorhombic": _upper((1, 1), (2, 2), (3, 3), (1, 2), (1, 3), (2, 3), (4, 4), (5, 5), (6, 6)),
}


def lattice_system(space_group: int) -> str:
    """The lattice system of an international space-group number (1-230); ``tetragonal`` only for
    the Laue class 4/mmm (89-142), whose stiffness has six constants; 75-88 (4/m, seven) are
    ``tetragonal-low``."""
    for last, name in ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"), (88, "tetragonal-low"),
                       (142, "tetragonal"), (167, "trigonal"), (194, "hexagonal"), (230, "cubic")):
        if space_group <= last:
            return name
    raise ValueError(f"no space group {space_group}")


# ------------------------------------------------------------------------ tensors
def voigt_to_tensor(c: np.ndarray) -> np.ndarray:
    """(6, 6) stiffness (engineering shear strains) -> (3, 3, 3, 3) C_ijkl."""
    t = np.zeros((3, 3, 3, 3))
    for a, (i, j) in enumerate(VOIGT):
        for b, (k, l) in enumerate(VOIGT):
            for p, q in {(i, j), (j, i)}:
                for r, s in {(k, l), (l, k)}:
                    t[p, q, r, s] = c[a, b]
    return t


def tensor_to_voigt(t: np.ndarray) -> np.ndarray:
    return np.array([[t[i, j, k, l] for (k, l) in VOIGT] for (i, j) in VOIGT])


def rotate_stiffness(c: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """The (6, 6) stiffness in the frame r' = R r."""
    r = np.asarray(rotation, dtype=float)
    return tensor_to_voigt(np.einsum("ia,jb,kc,ld,abcd->ijkl", r, r, r, r, voigt_to_tensor(c)))


def point_group_average(c: np.ndarray, rotations) -> np.ndarray:
    """The mean of the (6, 6) stiffness rotated by each Cartesian rotation of a point group."""
    return np.mean([rotate_stiffness(c, r) for r in rotations], axis=0)


def strain_matrix(voigt: int, magnitude: float) -> np.ndarray:
    """The symmetric small strain eps (3, 3) of one Voigt component (a shear's magnitude is gamma)."""
    i, j = VOIGT[voigt]
    eps = np.zeros((3, 3))
    if i == j:
        eps[i, i] = magnitude
    else:
        eps[i, j] = eps[j, i] = magnitude / 2
    return eps


def strained(atoms, voigt: int, magnitude: float):
    """A copy of ``atoms`` deformed by F = I + eps (fractional positions kept)."""
    copy = atoms.copy()
    deformation = np.eye(3) + strain_matrix(voigt, magnitude)
    copy.set_cell(atoms.cell.array @ deformation.T, scale_atoms=True)
    return copy


# ------------------------------------------------------------------------ moduli
def vrh_moduli(c: np.ndarray) -> dict[str, float]:
    """Voigt, Reuss and Hill bulk (K) and shear (G) moduli of a (6, 6) stiffness, and the Hill
    Young's modulus E = 9KG / (3K + G) and Poisson ratio (3K - 2G) / (2 (3K + G)); units of ``c``.
    Reuss values are NaN where C is singular."""
    k_v = (c[0, 0] + c[1, 1] + c[2, 2] + 2 * (c[0, 1] + c[0, 2] + c[1, 2])) / 9
    g_v = (c[0, 0] + c[1, 1] + c[2, 2] - (c[0, 1] + c[0, 2] + c[1, 2]) + 3 * (c[3, 3] + c[4, 4] + c[5, 5])) / 15
    try:
        s = np.linalg.inv(c)
        k_r = 1 / (s[0, 0] + s[1, 1] + s[2, 2] + 2 * (s[0, 1] + s[0, 2] + s[1, 2]))
        g_r = 15 / (4 * (s[0, 0] + s[1, 1] + s[2, 2]) - 4 * (s[0, 1] + s[0, 2] + s[1, 2])
                    + 3 * (s[3, 3] + s[4, 4] + s[5, 5]))
    except np.linalg.LinAlgError:
        k_r = g_r = float("nan")
    k, g = (k_v + k_r) / 2, (g_v + g_r) / 2
    return {"bulk_modulus_voigt": float(k_v), "bulk_modulus_reuss": float(k_r), "bulk_modulus_vrh": float(k),
            "shear_modulus_voigt": float(g_v), "shear_modulus_reuss": float(g_r), "shear_modulus_vrh": float(g),
            "youngs_modulus": float(9 * k * g / (3 * k + g)),
            "poisson_ratio": float((3 * k - 2 * g) / (2 * (3 * k + g)))}


def independent_constants(c: np.ndarray, system: str) -> dict[str, float]:
    """The named independent constants of ``system`` read from the (6, 6) matrix ``c``."""
    return {name: float(c[int(name[1]) - 1, int(name[2]) - 1]) for name in INDEPENDENT.get(system, ALL_21)}


# ------------------------------------------------------------------------ the result
@dataclass
class ElasticResult(SummaryResult):
    """The stiffness (GPa, Voigt order xx yy zz yz xz xy, in the standardized conventional frame),
    its independent constants and moduli, and what a user needs to trust them."""

    space_group: int | None
    lattice_system: str
    strains: np.ndarray  # (M,) magnitudes applied to each Voigt component
    stresses: np.ndarray  # (6, M, 6) GPa: [strain component, magnitude, stress component], input frame
    stiffness_raw: np.ndarray  # (6, 6) GPa: the fitted slopes, unsymmetrised, input frame
    stiffness: np.ndarray  # (6, 6) GPa: symmetrised (and point-group averaged), standardized frame
    rotation: np.ndarray  # (3, 3): r_standardized = rotation @ r_input
    constants: dict  # name -> GPa (INDEPENDENT)
    moduli: dict  # vrh_moduli, GPa (Poisson ratio dimensionless)
    eigenvalues: np.ndarray  # (6,) GPa, of the stiffness
    stable: bool  # Born stability: every eigenvalue positive
    residual_stress: np.ndarray  # (6,) GPa: the unstrained cell's stress (Voigt, input frame)
    ions_relaxed: bool
    relaxations_converged: bool
    max_relaxation_steps: int
    symmetrized: bool
    summary: dict = field(default_factory=dict)  # name -> Estimate (estimates())
    warnings: list = field(default_factory=list)


# ------------------------------------------------------------------------ the workflow
def check_strains(strains) -> np.ndarray:
    values = np.asarray(strains, dtype=float).reshape(-1)
    if len(values) < 2 or len(set(values.tolist())) < len(values) or np.any(values == 0) \
            or not np.all(np.abs(values) < 0.1) or not np.all(np.isfinite(values)):
        raise ConfigError(f"strains must be at least two distinct, nonzero magnitudes below 0.1, got {values.tolist()}")
    return values


def stress_strain(reference, calculator, strains: np.ndarray, relax_ions: bool, fmax: float, progress: bool = False):
    """The stresses (6, M, 6) GPa of the strained cells, the cells, and (all converged, most steps)."""
    from tqdm.auto import tqdm

    from ..simulate.relax import relax

    stresses = np.zeros((6, len(strains), 6))
    cells, converged, most_steps = [], True, 0
    jobs = [(j, m) for j in range(6) for m in range(len(strains))]
    for j, m in tqdm(jobs, desc="strained cells", unit="cell", leave=False, disable=not progress, dynamic_ncols=True):
        cell = strained(reference, j, strains[m])
        if relax_ions:
            relaxed = relax(cell, calculator, fmax=fmax)
            cell = relaxed.atoms
            converged &= relaxed.converged
            most_steps = max(most_steps, relaxed.steps)
        else:
            cell.calc = calculator
        stresses[j, m] = cell.get_stress(voigt=True) / units.GPa
        cells.append(cell)
    return stresses, cells, converged, most_steps


def fit_stiffness(strains: np.ndarray, stresses: np.ndarray) -> np.ndarray:
    """C_ij (6, 6): the least-squares slope of stress i against the magnitude of strain j."""
    centred = strains - strains.mean()
    return np.array([[centred @ (stresses[j, :, i] - stresses[j, :, i].mean()) / (centred @ centred)
                      for j in range(6)] for i in range(6)])


def elastic_constants(atoms, calculator, *, strains=DEFAULT_STRAINS, relax_ions: bool = True, fmax: float = 1e-3,
                      relax: bool = False, symmetrize: bool = True, symprec: float = SYMPREC,
                      uncertainty: Uncertainty | None = None, progress: bool = False) -> ElasticResult:
    """The elastic constants of the crystal ``atoms`` under ``calculator`` (module docstring).
    ``strains``: the magnitudes applied to each Voigt component (symmetric about zero for a
    central difference); ``fmax`` (eV/Å): the force bound of the ionic relaxations (and of the
    cell relaxation, ``relax``); ``symprec`` (Å): spglib's tolerance."""
    from ..simulate.relax import relax as relax_structure

    check_crystal(atoms, "elastic constants")
    strains = check_strains(strains)
    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    warnings = []
    reference = atoms.copy()
    if relax or relax_ions:
        relaxed = relax_structure(reference, calculator, cell=relax, fmax=fmax)
        reference = relaxed.atoms
        if not relaxed.converged:
            warnings.append(f"the {'cell' if relax else 'ionic'} relaxation of the unstrained crystal did not reach "
                            f"fmax = {fmax} eV/Å in {relaxed.steps} steps")
    reference.calc = calculator
    residual = reference.get_stress(voigt=True) / units.GPa
    reference = reference.copy()  # the strained copies carry no calculator

    dataset = symmetry_dataset(reference, symprec)
    if dataset is None:
        space_group, system, rotation, group = None, "triclinic", np.eye(3), [np.eye(3)]
        warnings.append("spglib found no symmetry: the stiffness is reported in the input frame, unreduced")
    else:
        space_group, system = int(dataset.number), lattice_system(int(dataset.number))
        rotation = np.asarray(dataset.std_rotation_matrix, dtype=float)
        lattice = reference.cell.array.T  # columns: the lattice vectors
        to_standard = [rotation @ lattice @ w @ np.linalg.inv(lattice) @ rotation.T for w in dataset.rotations]
        group = [0.5 * (r + np.linalg.inv(r).T) for r in to_standard]  # exact orthogonality against round-off

    def compute(calc):
        stresses, cells, converged, steps = stress_strain(reference, calc, strains, relax_ions, fmax,
                                                          progress and calc is calculator)
        raw = fit_stiffness(strains, stresses)
        c = rotate_stiffness(0.5 * (raw + raw.T), rotation)
        if symmetrize:
            c = point_group_average(c, group)
        return stresses, cells, converged, steps, raw, c

    def headline(c):
        moduli = vrh_moduli(c)
        return {**independent_constants(c, system), "bulk_modulus_vrh": moduli["bulk_modulus_vrh"],
                "shear_modulus_vrh": moduli["shear_modulus_vrh"], "youngs_modulus": moduli["youngs_modulus"],
                "poisson_ratio": moduli["poisson_ratio"]}

    stresses, cells, converged, steps, raw, c = compute(calculator)
    if not converged:
        warnings.append(f"some ionic relaxations of the strained cells did not reach fmax = {fmax} eV/Å")
    largest = float(np.abs(residual).max())
    if largest > RESIDUAL_STRESS_WARNING:
        warnings.append(f"the unstrained cell is not at zero stress (largest |sigma| = {largest:.3g} GPa): "
                        "the slopes are not the zero-stress elastic constants; relax the cell first "
                        "(relax=True; ridgeline elastic --relax)")
    eigenvalues = np.linalg.eigvalsh(c)
    values = headline(c)

    sigmas = unc.draw_sigmas(lambda calc: headline(compute(calc)[-1]), progress=progress)
    ood = unc.out_of_domain([reference, *cells])
    summary = {name: unc.estimate(value, "" if name == "poisson_ratio" else "GPa",
                                  None if sigmas is None else sigmas.get(name), DRAWS, ood)
               for name, value in values.items()}
    return ElasticResult(space_group=space_group, lattice_system=system, strains=strains, stresses=stresses,
                         stiffness_raw=raw, stiffness=c, rotation=rotation, constants=independent_constants(c, system),
                         moduli=vrh_moduli(c), eigenvalues=eigenvalues, stable=bool(eigenvalues.min() > 0),
                         residual_stress=residual, ions_relaxed=bool(relax_ions), relaxations_converged=bool(converged),
                         max_relaxation_steps=int(steps), symmetrized=bool(symmetrize), summary=summary,
                         warnings=warnings)


# ------------------------------------------------------------------------ plot
def plot_elastic(result: ElasticResult, path) -> None:
    """Stress against strain, one panel per applied Voigt strain: every stress component's points
    and fitted line (input frame, GPa)."""
    plt = pyplot()
    labels = ("xx", "yy", "zz", "yz", "xz", "xy")
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.5), sharex=True)
    strains = result.strains
    line = np.linspace(strains.min(), strains.max(), 2)
    for j, ax in enumerate(axes.ravel()):
        for i in range(6):
            points = result.stresses[j, :, i]
            slope = result.stiffness_raw[i, j]
            ax.plot(strains, points, "o", color=f"C{i}", ms=4)
            ax.plot(line, points.mean() + slope * (line - strains.mean()), "-", color=f"C{i}", lw=1,
                    label=f"σ{labels[i]} ({slope:.0f})")
        ax.set_title(f"strain {labels[j]}")
        ax.axhline(0, color="0.8", lw=0.6)
        ax.legend(fontsize=6, title="stress (slope GPa)", title_fontsize=6)
    for ax in axes[1]:
        ax.set_xlabel("strain")
    for ax in axes[:, 0]:
        ax.set_ylabel("stress (GPa)")
    shown = list(result.constants.items())[:6]
    fig.suptitle(f"{result.lattice_system}: " + ", ".join(f"{k} = {v:.1f}" for k, v in shown) + " GPa")
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["DEFAULT_STRAINS", "INDEPENDENT", "ElasticResult", "elastic_constants", "fit_stiffness", "lattice_system",
           "plot_elastic", "point_group_average", "rotate_stiffness", "strained", "vrh_moduli"]

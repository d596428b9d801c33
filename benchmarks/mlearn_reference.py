"""DFT property values of the mlearn Si and Mo data, derived from its own frames.

The mlearn data (Zuo et al., J. Phys. Chem. A 124, 731 (2020), ../shared/data/mlearn) carries the
DFT calculations the paper's property comparisons rest on, but not the property values. Three
groups of frames make some of them measurable from the data alone, with no other source:

- ``Elastic``: a crystal cell and strained copies of it with their DFT stresses. The least
  stressed frame is the relaxed crystal: its lattice constant and energy per atom. The stresses of
  the strained copies fitted linearly against their strain give the cubic C11, C12 and C44
  (strains up to ``MAX_STRAIN``, each group of copies against its own unstrained cell). A constant
  is *relaxed* (comparable with a workflow that relaxes the ions) when the crystal has one atom
  per primitive cell (no internal relaxation exists) or the frames it comes from carry no forces;
  otherwise (Si's shears, whose ions were not relaxed) it is the clamped-ion constant.
- ``Surface``: relaxed slabs (forces below ``SLAB_FMAX``): gamma = (E_slab - N e_bulk) / 2A, each
  slab's facet found by matching its in-plane lattice to the crystal's lattice planes, and how
  many of the facet's primitive 2D cells it spans (more than one: it may be reconstructed).

The vacancy formation energy and the phonons are not measurable from the data (its vacancy cells
are MD snapshots, and it has no phonon calculation); they are compared with the published SNAP
models instead (properties_mlearn.py says so in its results).

The same fits run on any calculator's stresses and energies on the same frames (``fit_elastic``,
``slab_energies``), so that a model is compared with DFT on identical structures as well as
through its own workflows.
"""

from __future__ import annotations

import itertools
from math import gcd

import numpy as np
from ase import units

from ridgeline.properties.surfaces import J_PER_M2  # J/m^2 in one eV/Å^2

MAX_STRAIN = 0.021  # largest strain component of a frame used in the elastic fit
SLAB_FMAX = 0.05  # eV/Å: a Surface frame with larger DFT forces is not a relaxed slab
FORCE_FREE = 0.05  # eV/Å: strained frames below this carry no internal relaxation
MAX_INDEX = 3  # largest Miller index tried for a slab's facet
METRIC_TOLERANCE = 0.02  # relative: in-plane lattice metric match


def gpa(stress) -> np.ndarray:
    return np.asarray(stress, dtype=float) / units.GPa


def dft_stress(atoms) -> np.ndarray:
    return gpa(atoms.info["REF_stress"])


def dft_energy(atoms) -> float:
    return float(atoms.info["REF_energy"])


def max_force(atoms) -> float:
    return float(np.abs(atoms.arrays["REF_forces"]).max())


def group(frames, config_type: str) -> list:
    return [a for a in frames if a.info.get("config_type") == config_type]


# ---------------------------------------------------------------------------------- the crystal
def crystal_frame(frames):
    """The least stressed Elastic frame: the relaxed crystal."""
    elastic = group(frames, "Elastic")
    if not elastic:
        raise ValueError("no Elastic frames: the data holds no relaxed crystal")
    return min(elastic, key=lambda a: np.abs(dft_stress(a)).max())


def crystal(frames) -> dict:
    """Lattice constant (conventional cubic cell; a non-cubic crystal is an error), energy per
    atom and residual stress of the relaxed crystal, and its number of atoms per primitive cell."""
    import spglib

    from ridgeline.properties.defects import conventional_cell

    atoms = crystal_frame(frames)
    conventional = conventional_cell(atoms)
    lengths = conventional.cell.lengths()
    if np.ptp(lengths) > 1e-3 * lengths[0]:
        raise ValueError(f"the relaxed crystal's conventional cell is not cubic ({lengths}): this reference is for cubic crystals")
    primitive = spglib.standardize_cell((atoms.cell[:], atoms.get_scaled_positions(), atoms.numbers), to_primitive=True)
    return {"atoms": atoms, "lattice_constant": float(np.mean(lengths)),
            "energy_per_atom": dft_energy(atoms) / len(atoms), "max_stress_GPa": float(np.abs(dft_stress(atoms)).max()),
            "n_atoms": len(atoms), "atoms_per_primitive_cell": len(primitive[2])}


# ------------------------------------------------------------------------------ elastic constants
def strain_of(cell, reference_cell) -> np.ndarray:
    """Small-strain tensor of ``cell`` against ``reference_cell`` (rows are cell vectors)."""
    deformation = np.linalg.solve(reference_cell, cell).T  # cell = reference @ F^T
    return 0.5 * (deformation + deformation.T) - np.eye(3)


def strained_sets(frames) -> list[dict]:
    """Each group of Elastic frames of one size: its unstrained frame and its strained ones
    (strain within ``MAX_STRAIN``), for crystals whose cell axes are the cubic axes."""
    sets = []
    elastic = group(frames, "Elastic")
    for n in sorted({len(a) for a in elastic}):
        members = [a for a in elastic if len(a) == n]
        reference = min(members, key=lambda a: np.abs(dft_stress(a)).max())
        lengths, angles = reference.cell.lengths(), reference.cell.angles()
        if np.ptp(lengths) > 1e-3 * lengths[0] or np.abs(angles - 90).max() > 1e-3:
            continue  # not a cubic cell along the Cartesian axes: the cubic fit does not apply
        strained = []
        for a in members:
            if a is reference:
                continue
            eps = strain_of(a.cell[:], reference.cell[:])
            if 1e-6 < np.abs(eps).max() <= MAX_STRAIN:
                strained.append((a, eps))
        if strained:
            sets.append({"reference": reference, "strained": strained})
    return sets


def fit_elastic(frames, stress_of=dft_stress) -> dict:
    """Cubic C11, C12, C44 (GPa) by least squares of the stress change against the strain over
    ``strained_sets``; ``stress_of(atoms)`` gives a frame's stress (Voigt, GPa, tensile positive).
    Also the frames used and the largest DFT force among the normal and the shear frames."""
    rows, targets, normal_forces, shear_forces = [], [], [], []
    n_normal = n_shear = 0
    for s in strained_sets(frames):
        s0 = stress_of(s["reference"])
        for atoms, eps in s["strained"]:
            ds = stress_of(atoms) - s0
            diagonal, shear = np.diag(eps), np.array([2 * eps[1, 2], 2 * eps[0, 2], 2 * eps[0, 1]])
            for k in range(3):
                rows.append([diagonal[k], diagonal.sum() - diagonal[k], 0.0])
                targets.append(ds[k])
            for k in range(3):
                rows.append([0.0, 0.0, shear[k]])
                targets.append(ds[3 + k])
            if np.abs(shear).max() > 1e-6:
                n_shear += 1
                shear_forces.append(max_force(atoms))
            else:
                n_normal += 1
                normal_forces.append(max_force(atoms))
    if not rows or not n_normal or not n_shear:
        raise ValueError("the Elastic frames hold no normal and shear strains of a cubic cell within "
                         f"{MAX_STRAIN:g}: no elastic constants")
    coefficients, *_ = np.linalg.lstsq(np.array(rows), np.array(targets), rcond=None)
    c11, c12, c44 = (float(c) for c in coefficients)
    return {"C11": c11, "C12": c12, "C44": c44, "bulk_modulus": (c11 + 2 * c12) / 3,
            "frames_normal": n_normal, "frames_shear": n_shear,
            "max_force_normal": max(normal_forces), "max_force_shear": max(shear_forces)}


def relaxed_constants(fit: dict, atoms_per_primitive_cell: int) -> set:
    """The constants of ``fit`` that equal their ion-relaxed values (module docstring)."""
    bravais = atoms_per_primitive_cell == 1
    out = set()
    if bravais or fit["max_force_normal"] <= FORCE_FREE:
        out |= {"C11", "C12", "bulk_modulus"}
    if bravais or fit["max_force_shear"] <= FORCE_FREE:
        out.add("C44")
    return out


# ------------------------------------------------------------------------------------- surfaces
def vacuum_axis(slab) -> int | None:
    """The cell vector along which the slab has a gap of vacuum (the largest, above 4 Å)."""
    best, axis = 4.0, None
    for i in range(3):
        normal = np.cross(slab.cell[(i + 1) % 3], slab.cell[(i + 2) % 3])
        spacing = slab.get_volume() / np.linalg.norm(normal)  # distance between the planes i = 0 and 1
        f = np.sort(slab.get_scaled_positions()[:, i] % 1.0)
        gaps = np.diff(np.concatenate([f, [f[0] + 1.0]])) * spacing
        if gaps.max() > best:
            best, axis = gaps.max(), i
    return axis


def plane_lattice(primitive_cell: np.ndarray, normal: np.ndarray, span: int = 6) -> np.ndarray:
    """The primitive 2D lattice (two rows) of the lattice vectors perpendicular to ``normal``."""
    n = normal / np.linalg.norm(normal)
    grid = np.array(list(itertools.product(range(-span, span + 1), repeat=3)))
    vectors = grid @ primitive_cell
    length = np.linalg.norm(vectors, axis=1)
    keep = (length > 1e-8) & (np.abs(vectors @ n) < 1e-6 * np.maximum(length, 1.0))
    vectors, length = vectors[keep], length[keep]
    order = np.argsort(length, kind="stable")
    v1 = vectors[order[0]]
    areas = np.linalg.norm(np.cross(v1, vectors), axis=1)
    candidates = np.nonzero(areas > 1e-6)[0]
    area = areas[candidates].min()
    v2 = vectors[min(candidates[np.abs(areas[candidates] - area) < 1e-6 * area], key=lambda k: length[k])]
    return np.array([v1, v2])


def facet_families(max_index: int = MAX_INDEX) -> list[tuple[int, int, int]]:
    out = []
    for h, k, l in itertools.product(range(max_index + 1), repeat=3):
        if (h, k, l) != (0, 0, 0) and h >= k >= l and gcd(gcd(h, k), l) == 1:
            out.append((h, k, l))
    return sorted(out, key=lambda f: (sum(i * i for i in f), f))


def supercell_of(metric: np.ndarray, lattice: np.ndarray, span: int = 5) -> int:
    """How many of ``lattice``'s 2D cells (two rows) the 2D cell of metric ``metric`` holds, when
    it is a superlattice of it (0 when not)."""
    g = lattice @ lattice.T
    ratio = np.sqrt(np.linalg.det(metric)) / np.sqrt(np.linalg.det(g))
    if abs(ratio - round(ratio)) > 0.05 or round(ratio) < 1:
        return 0
    for m in itertools.product(range(-span, span + 1), repeat=4):
        m = np.array(m, dtype=float).reshape(2, 2)
        if abs(abs(np.linalg.det(m)) - round(ratio)) > 1e-6:
            continue
        if np.allclose(m @ g @ m.T, metric, rtol=METRIC_TOLERANCE, atol=METRIC_TOLERANCE * np.abs(metric).max()):
            return int(round(ratio))
    return 0


def slab_facet(slab, axis: int, crystal_atoms) -> list[tuple[tuple[int, int, int], int]]:
    """The facet families whose lattice planes match the slab's in-plane cell (a superlattice of
    the plane's 2D lattice, metric within ``METRIC_TOLERANCE``), each with the number of the
    plane's primitive 2D cells the slab's cell holds, lowest indices first; empty when none up to
    ``MAX_INDEX``. Miller indices refer to the crystal's conventional cell."""
    import spglib

    from ridgeline.properties.defects import conventional_cell

    inplane = np.array([slab.cell[(axis + 1) % 3], slab.cell[(axis + 2) % 3]])
    metric = inplane @ inplane.T
    conventional = conventional_cell(crystal_atoms)
    lattice, _, _ = spglib.standardize_cell((conventional.cell[:], conventional.get_scaled_positions(), conventional.numbers),
                                             to_primitive=True, no_idealize=True)
    reciprocal = np.linalg.inv(conventional.cell[:]).T  # rows: the conventional cell's reciprocal vectors (no 2 pi)
    found = []
    for family in facet_families():
        n = supercell_of(metric, plane_lattice(np.asarray(lattice), np.asarray(family, dtype=float) @ reciprocal))
        if n:
            found.append((family, n))
    return found


def slabs(frames, crystal_info: dict) -> list[dict]:
    """Every relaxed Surface frame: its vacuum axis, area (Å^2), facet and DFT surface energy (J/m^2)."""
    out = []
    for index, slab in enumerate(group(frames, "Surface")):
        axis = vacuum_axis(slab)
        if axis is None or max_force(slab) > SLAB_FMAX:
            continue
        area = float(np.linalg.norm(np.cross(slab.cell[(axis + 1) % 3], slab.cell[(axis + 2) % 3])))
        facets = slab_facet(slab, axis, crystal_info["atoms"])
        energy = (dft_energy(slab) - len(slab) * crystal_info["energy_per_atom"]) / (2 * area)
        out.append({"index": index, "atoms": slab, "n_atoms": len(slab), "axis": axis, "area": area,
                    "facet": facets[0][0] if facets else None, "cells": facets[0][1] if facets else None,
                    "also_matches": [f for f, _ in facets[1:]],
                    "surface_energy": energy * J_PER_M2, "max_force": max_force(slab)})
    return out


def dft_surface_energies(slab_rows: list[dict]) -> dict:
    """Per facet, the DFT surface energy (J/m^2) of its thickest relaxed slab in the facet's
    primitive 2D cell, else of its thickest slab."""
    best: dict = {}

    def key(row):
        return row["cells"] == 1, row["n_atoms"] / row["area"]

    for row in slab_rows:
        if row["facet"] is None:
            continue
        name = "".join(str(i) for i in row["facet"])
        if name not in best or key(row) > key(best[name]):
            best[name] = row
    return best


def reference(frames) -> dict:
    """Everything the data gives: the crystal, the elastic fit (with which constants are
    relaxed), the slabs and the per-facet surface energies."""
    info = crystal(frames)
    fit = fit_elastic(frames)
    rows = slabs(frames, info)
    return {"crystal": info, "elastic": fit, "relaxed": relaxed_constants(fit, info["atoms_per_primitive_cell"]),
            "slabs": rows, "surfaces": dft_surface_energies(rows)}


def reference_table(element: str, ref: dict, facets=("100", "110", "111")) -> dict:
    """``ref`` as a ``validate --reference`` table: the lattice constant, the relaxed elastic
    constants, and the surface energies of ``facets`` (the workflow's) where the data's slab is
    the facet's primitive 2D cell. A slab of several cells may be reconstructed (Si(100) 2x1),
    which a workflow's unreconstructed slab is not: those are compared on the data's own slab."""
    props = {"lattice_constant": {"value": round(ref["crystal"]["lattice_constant"], 5), "unit": "Å"}}
    for name in ("C11", "C12", "C44", "bulk_modulus"):
        if name in ref["relaxed"]:
            props[name] = {"value": round(ref["elastic"][name], 2), "unit": "GPa"}
    for facet, row in sorted(ref["surfaces"].items()):
        if facet in facets and row["cells"] == 1:
            props[f"surface_energy_{facet}"] = {"value": round(row["surface_energy"], 4), "unit": "J/m^2"}
    return {"source": "derived from the mlearn DFT frames (Zuo et al., J. Phys. Chem. A 124, 731 (2020), PBE): "
                      "benchmarks/mlearn_reference.py", "structure": element, "properties": props}

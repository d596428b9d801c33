"""The migration barrier of a vacancy in a one-element crystal: a nearest-neighbour hop by NEB.

``vacancy_migration(atoms, calculator)`` repeats the cell into a supercell, removes atom 0 (the
initial state: the vacancy at site 0) and, for the final state, moves atom 0's nearest neighbour
j into site 0 (the vacancy now at j's site); both are relaxed at the fixed cell and joined by
:func:`ridgeline.properties.paths.neb` (climbing image). In a crystal where every site is alike
the two states are images of each other by symmetry, so the profile is symmetric and the barrier
forward equals the barrier backward; the result's ``vacancy_migration_barrier`` (eV) is the
forward one, with the linearised interval of the difference E(saddle) - E(initial) (see
``paths``). The supercell must be large enough that the vacancy does not meet its periodic
images within the calculator's cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, DataError
from .estimates import Estimate, Uncertainty
from .paths import PathResult, neb


@dataclass
class VacancyMigration(PathResult):
    """A :class:`PathResult` of the vacancy hop; ``hop_distance`` (Å): the distance from the
    hopping atom's site to the vacancy's, before relaxation; ``supercell``: the repeats."""

    hop_distance: float = 0.0
    supercell: tuple = (1, 1, 1)
    hopping_atom: int = 0  # index of the hopping atom in the path's images (the supercell less atom 0)

    def estimates(self) -> dict[str, Estimate]:
        return {"vacancy_migration_barrier": self.barrier_forward}


def vacancy_hop(atoms, supercell=(3, 3, 3)):
    """(initial, final, j, distance): the supercell without atom 0, the same with atom j (0's
    nearest neighbour) moved onto site 0, j's index in the structures, and the hop distance (Å)."""
    repeat = (int(supercell),) * 3 if np.isscalar(supercell) else tuple(int(n) for n in supercell)
    if len(repeat) != 3 or min(repeat) < 1:
        raise ConfigError(f"supercell must be one positive integer or three, got {supercell}")
    if not atoms.pbc.all():
        raise DataError(f"vacancy migration needs a crystal periodic in all three directions (pbc {atoms.pbc.tolist()})")
    if len(set(atoms.get_chemical_symbols())) != 1:
        raise DataError(f"vacancy migration needs a crystal of one element, got {atoms.get_chemical_formula()}")
    cell = atoms.repeat(repeat)
    if len(cell) < 3:
        raise DataError(f"a supercell of {len(cell)} atom(s) is too small for a vacancy hop: give a larger supercell")
    vectors = cell.get_distances(0, range(1, len(cell)), mic=True, vector=True)
    j = int(np.argmin(np.linalg.norm(vectors, axis=1))) + 1
    initial = cell.copy()
    final = cell.copy()
    final.positions[j] -= vectors[j - 1]  # onto site 0 (its periodic image nearest to j)
    del initial[0]
    del final[0]
    return initial, final, j - 1, float(np.linalg.norm(vectors[j - 1]))


def vacancy_migration(atoms, calculator, *, supercell=(3, 3, 3), images: int = 5, climb: bool = True,
                      fmax: float = 0.05, steps: int = 500, interpolation: str = "idpp", optimizer: str = "fire",
                      uncertainty: Uncertainty | None = None, progress: bool = False) -> VacancyMigration:
    """The nearest-neighbour vacancy hop in ``atoms`` (a one-element crystal, any cell of it)
    repeated ``supercell`` times (module docstring); the other arguments are :func:`neb`'s."""
    initial, final, j, distance = vacancy_hop(atoms, supercell)
    path = neb(initial, final, calculator, images=images, climb=climb, fmax=fmax, steps=steps,
               interpolation=interpolation, optimizer=optimizer, relax_endpoints=True, uncertainty=uncertainty,
               progress=progress)
    repeat = (int(supercell),) * 3 if np.isscalar(supercell) else tuple(int(n) for n in supercell)
    return VacancyMigration(**{name: getattr(path, name) for name in PathResult.__dataclass_fields__},
                            hop_distance=distance, supercell=repeat, hopping_atom=j)


__all__ = ["VacancyMigration", "vacancy_hop", "vacancy_migration"]

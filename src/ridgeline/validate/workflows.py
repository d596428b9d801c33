"""The property workflows that ``validate`` runs, by name, and the structure each is run on.

Each entry names a workflow of ``ridgeline.properties`` (a function ``f(atoms, calculator, *,
uncertainty, progress, **options)`` whose result has ``estimates()``), the kind of structure it
needs, the property names it reports (patterns), and the lighter options of ``--quick``. Before
any workflow, the structure is relaxed with each calculator on its own (positions, and the cell of
a crystal), so model and reference are each compared at their own minimum, as a user of either
would compute them.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field

from ..errors import ConfigError

CRYSTAL, MOLECULE = "crystal", "molecule"


@dataclass(frozen=True)
class Workflow:
    function: str  # "module:function" under ridgeline.properties
    kind: str  # CRYSTAL | MOLECULE
    produces: tuple  # property names (fnmatch patterns)
    options: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)  # replaces options with --quick
    in_quick: bool = True  # run by --quick when no workflow is named
    plot_function: str | None = None  # "module:function(result, path)"

    @property
    def plot(self):
        if self.plot_function is None:
            return None
        module, name = self.plot_function.split(":")
        return getattr(importlib.import_module(f"ridgeline.properties.{module}"), name, None)

    def __call__(self, atoms, calculator, uncertainty, progress: bool = False, quick: bool = False):
        module, name = self.function.split(":")
        function = getattr(importlib.import_module(f"ridgeline.properties.{module}"), name)
        options = {**self.options, **(self.quick if quick else {})}
        return function(atoms, calculator, uncertainty=uncertainty, progress=progress, **options)

    def makes(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.produces)


WORKFLOWS = {
    "eos": Workflow("eos:equation_of_state", CRYSTAL,
                    ("lattice_constant", "equilibrium_volume", "equilibrium_energy", "bulk_modulus", "bulk_modulus_derivative"),
                    quick={"points": 7}, plot_function="eos:plot_eos"),
    "elastic": Workflow("elastic:elastic_constants", CRYSTAL,
                        ("C[1-6][1-6]", "bulk_modulus_*", "shear_modulus_*", "youngs_modulus", "poisson_ratio"),
                        quick={"strains": (-0.005, 0.005)}, plot_function="elastic:plot_elastic"),
    "vacancy": Workflow("defects:vacancy_formation", CRYSTAL, ("vacancy_formation_energy",),
                        quick={"supercells": (2,)}, plot_function="defects:plot_vacancy"),
    "interstitial": Workflow("defects:interstitial_formation", CRYSTAL, ("interstitial_formation_energy",),
                             in_quick=False, plot_function="defects:plot_interstitial"),
    "surfaces": Workflow("surfaces:surface_energies", CRYSTAL, ("surface_energy_*",),
                         quick={"facets": ("111",), "layers": (4,)}, in_quick=False, plot_function="surfaces:plot_surfaces"),
    "phonons": Workflow("phonons:phonons", CRYSTAL,
                        ("max_frequency", "free_energy_*", "entropy_*", "heat_capacity_*", "zero_point_energy"),
                        quick={"mesh": (8, 8, 8)}, in_quick=False, plot_function="phonons:plot_phonons"),
    "migration": Workflow("migration:vacancy_migration", CRYSTAL, ("vacancy_migration_barrier",), in_quick=False,
                          plot_function="paths:plot_path"),
    "vibrations": Workflow("vibrations:vibrations", MOLECULE, ("frequency_*", "zero_point_energy")),
}


def structure_kind(atoms) -> str:
    """CRYSTAL when periodic in all three directions, MOLECULE when in none; else an error."""
    if atoms.pbc.all():
        return CRYSTAL
    if not atoms.pbc.any():
        return MOLECULE
    raise ConfigError("validate runs on crystals (periodic in x, y and z) and molecules (no periodicity); "
                      f"this structure is periodic in {''.join('xyz'[k] for k in range(3) if atoms.pbc[k])} only")


def choose_workflows(kind: str, names=None, quick: bool = False, wanted_properties=()) -> list[str]:
    """The workflows to run on a structure of ``kind``: ``names`` if given (checked), else those that
    make one of ``wanted_properties`` (a reference table's), else the defaults (``--quick``'s)."""
    if names:
        unknown = [n for n in names if n not in WORKFLOWS]
        if unknown:
            raise ConfigError(f"unknown workflow(s) {', '.join(unknown)}; known: {', '.join(WORKFLOWS)}")
        wrong = [n for n in names if WORKFLOWS[n].kind != kind]
        if wrong:
            raise ConfigError(f"workflow(s) {', '.join(wrong)} need a {WORKFLOWS[wrong[0]].kind}, and this structure is a {kind}")
        return list(names)
    if wanted_properties:
        chosen = [n for n, w in WORKFLOWS.items() if w.kind == kind and any(w.makes(p) for p in wanted_properties)]
        if not chosen:
            raise ConfigError(f"no workflow for a {kind} reports {', '.join(sorted(wanted_properties))}; "
                              f"known properties: {', '.join(p for w in WORKFLOWS.values() if w.kind == kind for p in w.produces)}")
        return chosen
    return [n for n, w in WORKFLOWS.items() if w.kind == kind and (w.in_quick or not quick)]


__all__ = ["CRYSTAL", "MOLECULE", "WORKFLOWS", "Workflow", "choose_workflows", "structure_kind"]

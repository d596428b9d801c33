"""Pass / fail tolerances of the validation report, by property name.

A tolerance is absolute (in the property's unit) or relative (a fraction of the reference's
size). The defaults follow what the field reports as agreement for a potential: DP-GEN's autotest
and the mlearn benchmark (Zuo et al., J. Phys. Chem. A 2020) compare lattice constants to ~1%,
elastic constants and moduli to ~10-15%, defect energies to ~0.05-0.1 eV (the vacancy formation
energy within 0.05 eV, as issue 27 asks), surface energies to ~10%, and phonon frequencies to a
few percent. A ``tolerances`` table (YAML: ``name: 0.05`` absolute, ``name: 5%`` relative) replaces
any of them; a name ending in ``*`` matches every name with that prefix.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Tolerance:
    value: float
    relative: bool = False

    def bound(self, reference: float) -> float:
        """The largest |model - reference| that passes."""
        return self.value * abs(reference) if self.relative else self.value

    def __str__(self) -> str:
        return f"{100 * self.value:g}%" if self.relative else f"{self.value:g}"

    def to_json(self):
        return f"{100 * self.value:g}%" if self.relative else self.value


DEFAULT_TOLERANCES = {
    "lattice_constant": Tolerance(0.01, True),
    "equilibrium_volume": Tolerance(0.03, True),
    "equilibrium_energy": Tolerance(0.01),
    "bulk_modulus*": Tolerance(0.10, True),
    "bulk_modulus_derivative": Tolerance(0.25, True),
    "C[1-6][1-6]": Tolerance(0.15, True),
    "shear_modulus*": Tolerance(0.15, True),
    "youngs_modulus": Tolerance(0.15, True),
    "poisson_ratio": Tolerance(0.05),
    "vacancy_formation_energy": Tolerance(0.05),
    "vacancy_migration_barrier": Tolerance(0.05),
    "interstitial_formation_energy": Tolerance(0.2),
    "surface_energy_*": Tolerance(0.10, True),
    "barrier_*": Tolerance(0.05),
    "reaction_energy": Tolerance(0.05),
    "max_frequency": Tolerance(0.05, True),
    "mean_frequency": Tolerance(0.05, True),
    "frequency_*": Tolerance(0.05, True),
    "zero_point_energy": Tolerance(0.03, True),
    "free_energy_*": Tolerance(0.01),
    "entropy_*": Tolerance(0.05, True),
    "heat_capacity_*": Tolerance(0.05, True),
    "rdf_first_peak_position": Tolerance(0.05),
    "rdf_first_peak_height": Tolerance(0.10, True),
    "rdf_difference": Tolerance(0.10),
}


def parse_tolerance(value, name: str = "tolerance") -> Tolerance:
    """``0.05`` (absolute) or ``"5%"`` (relative) as a :class:`Tolerance`."""
    try:
        if isinstance(value, str) and value.strip().endswith("%"):
            tol = Tolerance(float(value.strip()[:-1]) / 100, True)
        else:
            tol = Tolerance(float(value))
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: a tolerance is a number (absolute) or a percentage like '5%', got {value!r}") from None
    if not tol.value >= 0:
        raise ConfigError(f"{name}: a tolerance must be >= 0, got {value!r}")
    return tol


def tolerance_for(name: str, table: dict | None = None) -> Tolerance | None:
    """The tolerance of property ``name``: ``table``'s (exact name first, then patterns), else the
    defaults'; None where neither names it."""
    for source in (table or {}, DEFAULT_TOLERANCES):
        if name in source:
            return source[name]
        for pattern, tol in source.items():
            if fnmatch.fnmatchcase(name, pattern):
                return tol
    return None


__all__ = ["DEFAULT_TOLERANCES", "Tolerance", "parse_tolerance", "tolerance_for"]

"""Reference values read from a YAML table (e.g. DFT values from a paper).

One structure::

    source: Zuo et al., J. Phys. Chem. A 124, 731 (2020), PBE   # optional, quoted in the report
    structure: Si                     # a file, a molecule name or an element (simulate.named.structure)
    properties:
      lattice_constant: 5.469         # in the unit the workflow reports (Å, GPa, eV, J/m^2, THz, cm^-1)
      bulk_modulus: {value: 88.6, unit: GPa, tolerance: 10%}
      C11: 153

or several: ``structures: {Si: {lattice_constant: 5.469, ...}, ...}`` (each entry a property
mapping as above). A ``unit`` that differs from the workflow's is an error, not a conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from .tolerances import Tolerance, parse_tolerance


@dataclass
class ReferenceValue:
    value: float
    unit: str | None = None
    tolerance: Tolerance | None = None


@dataclass
class ReferenceTable:
    path: str
    source: str = ""
    structures: dict = field(default_factory=dict)  # structure name -> {property name: ReferenceValue}


def _values(path, where: str, entries) -> dict:
    if not isinstance(entries, dict) or not entries:
        raise ConfigError(f"{path}: {where} must be a non-empty mapping of property names to values")
    out = {}
    for name, entry in entries.items():
        key = f"{where}.{name}"
        if isinstance(entry, dict):
            unknown = sorted(set(entry) - {"value", "unit", "tolerance"})
            if unknown or "value" not in entry:
                raise ConfigError(f"{path}: {key} takes value (required), unit and tolerance; got {sorted(entry)}")
            raw, unit, tol = entry["value"], entry.get("unit"), entry.get("tolerance")
        else:
            raw, unit, tol = entry, None, None
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: {key}: the value must be a number, got {raw!r}") from None
        out[str(name)] = ReferenceValue(value, None if unit is None else str(unit),
                                        None if tol is None else parse_tolerance(tol, f"{path}: {key}.tolerance"))
    return out


def read_reference_table(path) -> ReferenceTable:
    """The table at ``path`` (module docstring), checked, with errors naming the file and key."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the reference table: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a reference table is a mapping with 'properties' (and 'structure') or 'structures'")
    unknown = sorted(set(raw) - {"source", "structure", "properties", "structures"})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; known: source, structure, properties, structures")
    if ("properties" in raw) == ("structures" in raw):
        raise ConfigError(f"{path}: give either 'properties' (one structure) or 'structures' (several), not both or neither")
    table = ReferenceTable(str(path), str(raw.get("source", "")))
    if "properties" in raw:
        table.structures[str(raw.get("structure", ""))] = _values(path, "properties", raw["properties"])
    else:
        if not isinstance(raw["structures"], dict) or not raw["structures"]:
            raise ConfigError(f"{path}: 'structures' must map structure names to property tables")
        for name, entries in raw["structures"].items():
            table.structures[str(name)] = _values(path, f"structures.{name}", entries)
    return table


__all__ = ["ReferenceTable", "ReferenceValue", "read_reference_table"]

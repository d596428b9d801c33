"""Calculators and structures by name, for the commands and workflows that take either.

``calculator(name)``: a ridgeline model file (``model.safetensors`` or an ensemble file: its
uncertainties come with it unless ``uncertainty=False``), or a reference calculator by name:
``emt`` (ASE's EMT), ``xtb`` / ``gfn2-xtb`` and ``gfn1-xtb`` (GFN-xTB through tblite, an optional
dependency: ``pip install tblite``). ``structure(name)``: a structure file ASE reads (its last
frame), a molecule of ``ase.build.molecule`` (``H2O``, ``CH3CH2OH``), or a crystal of one
element in its reference state (``Cu``, ``Si``, ``Mo``; ``bulk:Cu`` says so explicitly):
``ase.build.bulk``'s primitive cell.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, DataError

XTB_METHODS = {"xtb": "GFN2-xTB", "gfn2-xtb": "GFN2-xTB", "gfn1-xtb": "GFN1-xTB"}
REFERENCE_CALCULATORS = ("emt",) + tuple(XTB_METHODS)


def calculator(name: str, device: str = "cpu", dtype: str | None = None, uncertainty: bool | None = None):
    """The calculator ``name`` stands for (module docstring)."""
    key = str(name).lower()
    if key == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if key in XTB_METHODS:
        try:
            from tblite.ase import TBLite
        except ImportError:
            raise ConfigError(f"{name}: GFN-xTB needs tblite (pip install tblite)") from None
        return TBLite(method=XTB_METHODS[key], verbosity=0)
    if not Path(name).exists():
        raise ConfigError(f"{name}: no such model file, and not a reference calculator ({', '.join(REFERENCE_CALCULATORS)})")
    from .calculator import Calculator

    return Calculator(name, device=device, dtype=dtype, uncertainty=uncertainty)


def structure(name: str):
    """The structure ``name`` stands for (module docstring)."""
    from ase.build import bulk, molecule
    from ase.collections import g2
    from ase.data import atomic_numbers, reference_states
    from ase.io import read

    if Path(name).exists():
        try:
            return read(name)
        except Exception as err:  # ASE raises many kinds for a file it cannot parse
            raise DataError(f"{name}: cannot read a structure: {err}") from None
    symbol = name[5:] if name.startswith("bulk:") else name
    if not name.startswith("bulk:") and name in g2.names and len(g2[name]) > 1:
        return molecule(name)
    z = atomic_numbers.get(symbol)
    if z is not None and reference_states[z] is not None and reference_states[z].get("symmetry") in (
            "fcc", "bcc", "diamond", "hcp", "sc"):
        return bulk(symbol)
    raise DataError(f"{name}: no such file, not a molecule name of ase.build.molecule (e.g. H2O, CH3CH2OH), "
                    "and not an element with a crystal reference state (e.g. Cu, Si, Mo)")


__all__ = ["REFERENCE_CALCULATORS", "XTB_METHODS", "calculator", "structure"]

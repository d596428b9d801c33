"""Start structures of an active-learning run: a file any ASE reader knows, or a molecule by name
(``ase.build.molecule``'s G2 names, plus common names such as ``ethanol``)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, DataError

# common names -> ase.build.molecule's G2 names
ALIASES = {"ethanol": "CH3CH2OH", "water": "H2O", "methane": "CH4", "ammonia": "NH3", "benzene": "C6H6",
           "methanol": "CH3OH", "acetone": "CH3COCH3", "acetic acid": "CH3COOH", "formaldehyde": "H2CO"}


def load_structures(spec: str) -> list:
    """``ase.Atoms`` to start from: every frame of the file ``spec``, or the named molecule."""
    from ase.build import molecule
    from ase.collections import g2

    path = Path(spec)
    if path.exists():
        from ase.io import read

        try:
            frames = read(path, ":")
        except Exception as err:  # ASE raises many types for unreadable files
            raise DataError(f"{path}: cannot read start structures: {err}") from None
        if not frames:
            raise DataError(f"{path}: no structures in the file")
        for a in frames:
            a.calc = None
        return frames
    name = ALIASES.get(spec.lower(), spec)
    if name in g2.names:
        return [molecule(name)]
    raise ConfigError(f"config key 'structures': {spec!r} is neither a file nor a molecule name "
                      f"(e.g. {', '.join(sorted(ALIASES))}, or any G2 name such as CH3CH2OH)")

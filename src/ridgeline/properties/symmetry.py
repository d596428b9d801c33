"""spglib for the workflows: one tolerance and one quiet call.

spglib 2 warns on every call that its None-on-failure convention is deprecated, and later versions
raise ``SpglibError`` instead: both mean "no symmetry found here", which the workflows handle.
"""

from __future__ import annotations

SYMPREC = 1e-3  # Å: spglib's tolerance for a crystal's symmetry, its conventional cell and its sites


def quiet_spglib(function, *args, **kwargs):
    """``function`` of spglib, None where it finds no symmetry (module docstring)."""
    import warnings

    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return function(*args, **kwargs)
        except getattr(getattr(spglib, "error", None), "SpglibError", RuntimeError):
            return None


def symmetry_dataset(atoms, symprec: float = SYMPREC):
    """spglib's symmetry dataset of ``atoms`` (None where spglib finds none)."""
    import spglib

    return quiet_spglib(spglib.get_symmetry_dataset, (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers),
                        symprec=symprec)


__all__ = ["SYMPREC", "quiet_spglib", "symmetry_dataset"]

"""LAMMPS: the model exported as a compiled program (``export``) for the ``pair_style ridgeline``
plugin (design: docs/lammps.md)."""

"""Other engines driving ridgeline: LAMMPS (an exported program and its pair style)."""

"""Names of the entries of a graph batch: the one place where they are defined.

A batch is a plain ``dict[str, torch.Tensor]``. Many structures form one graph by
concatenation (no padding). ``N`` atoms, ``E`` directed edges, ``G`` structures.
Units: Å, eV, eV/Å, eV/Å^3 (ASE's units, converted nowhere else).
"""

# inputs
POSITIONS = "positions"  # (N, 3) float, Å
NUMBERS = "numbers"  # (N,) int64, atomic numbers
CELL = "cell"  # (G, 3, 3) float, Å, lattice vectors as rows (zeros where not periodic)
PBC = "pbc"  # (G, 3) bool
BATCH = "batch"  # (N,) int64, index of the structure each atom belongs to
N_ATOMS = "n_atoms"  # (G,) int64
EDGE_INDEX = "edge_index"  # (2, E) int64: row 0 = centre i, row 1 = neighbour j
EDGE_SHIFTS = "edge_shifts"  # (E, 3) float, integer lattice shifts: r_ij = r_j - r_i + S @ cell
FRAME_INDEX = "frame_index"  # (G,) int64, index of each structure in its dataset
SPECIES = "species"  # (N,) int64, optional: each atom's index in the model's elements (given by an engine
#                      that maps its own atom types, e.g. LAMMPS; else the model derives it from NUMBERS)

# derived inside the model
EDGE_VECTORS = "edge_vectors"  # (E, 3) float, Å
EDGE_LENGTHS = "edge_lengths"  # (E,) float, Å

# outputs (and, with the same names, reference labels)
ENERGY = "energy"  # (G,) float, eV
ATOMIC_ENERGIES = "atomic_energies"  # (N,) float, eV
FORCES = "forces"  # (N, 3) float, eV/Å
STRESS = "stress"  # (G, 3, 3) float, eV/Å^3, ASE sign (positive = tensile)
VIRIAL = "virial"  # (G, 3, 3) float, eV
DESCRIPTORS = "descriptors"  # (N, F) float: what the per-element readout networks read
READOUT_FEATURES = "readout_features"  # (N, H) float: last hidden layer of the readout

# label masks: a reference quantity a frame does not have is masked, never zero-filled
HAS_ENERGY = "has_energy"  # (G,) bool
HAS_FORCES = "has_forces"  # (N,) bool
HAS_STRESS = "has_stress"  # (G,) bool

LABEL_KEYS = (ENERGY, FORCES, STRESS)

"""The ZBL core against the universal potential's published form (Ziegler, Biersack, Littmark 1985;
LAMMPS pair_zbl: screening length 0.46850 Å / (Z_i^0.23 + Z_j^0.23))."""

import math

import torch

from ridgeline.nn.repulsion import ZBLRepulsion


def pair_energy(model: ZBLRepulsion, r: float) -> float:
    """Energy of one pair (both directed edges)."""
    lengths = torch.tensor([r, r], dtype=torch.float64)
    species = torch.zeros(2, dtype=torch.long)
    return float(model.double()(lengths, species, species).sum())


def test_zbl_matches_the_universal_potential_at_its_screening_length():
    """At r = a the screening function is sum c_k exp(-d_k) = 0.41644; inside the switch
    (r << r_covalent) the pair energy is Z^2 e^2 / a times that."""
    z = 42
    model = ZBLRepulsion([z])
    a = 0.46850 / (2 * z**0.23)  # Å
    expected = 14.399645 * z * z / a * 0.41644
    envelope = float(model.envelope(torch.tensor(a / (2 * 1.54), dtype=torch.float64)))
    assert math.isclose(pair_energy(model, a), expected * envelope, rel_tol=1e-4)


def test_zbl_tends_to_the_bare_coulomb_repulsion_at_short_range():
    """phi(0) = sum c_k = 1: r V(r) -> Z_i Z_j e^2 as r -> 0."""
    model = ZBLRepulsion([14])
    r = 1e-5
    assert math.isclose(r * pair_energy(model, r), 14.399645 * 14 * 14, rel_tol=1e-3)


def test_zbl_vanishes_smoothly_at_the_sum_of_covalent_radii():
    model = ZBLRepulsion([14])
    r_switch = 2 * 1.11
    assert pair_energy(model, r_switch) == 0.0
    assert 0.0 < pair_energy(model, r_switch - 1e-3) < 1e-6  # (1 - r / r_sw)^3 towards the switch
    assert pair_energy(model, r_switch - 0.5) > 0.01

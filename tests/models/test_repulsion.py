"""The ZBL core against the universal potential's published form (Ziegler, Biersack, Littmark 1985;
LAMMPS pair_zbl: screening length 0.46850 Å / (Z_i^0.23 + Z_j^0.23))."""

import math

import torch

from ridgeline.models.upgrade import upgrade_tensors
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


def test_switch_fitted_to_the_data_stays_below_the_shortest_distances():
    """``fit_switch``: each pair is switched off just below its shortest distance in the data where that
    is shorter than the covalent sum (but not below half of it); unseen pairs keep the covalent
    sum; the pair (i, j) is (j, i)."""
    model = ZBLRepulsion([14, 42]).double()
    covalent = model.switch_radius.clone()
    assert math.isclose(float(covalent[0, 0]), 2 * 1.11, rel_tol=1e-6) and math.isclose(float(covalent[1, 1]), 2 * 1.54, rel_tol=1e-6)
    lengths = torch.tensor([1.9, 2.3, 2.0, 2.4, 0.4], dtype=torch.float64)
    si_mo = 1.11 + 1.54
    model.fit_switch(lengths[:4], torch.tensor([0, 0, 1, 0]), torch.tensor([0, 0, 0, 1]))
    assert math.isclose(float(model.switch_radius[0, 0]), 0.95 * 1.9)  # Si-Si: just below its shortest distance
    assert float(model.switch_radius[0, 1]) == float(model.switch_radius[1, 0]) == 0.95 * 2.0  # Mo-Si seen as (1, 0)
    assert math.isclose(float(model.switch_radius[1, 1]), 2 * 1.54)  # Mo-Mo not in the data
    assert model.max_switch == float(model.switch_radius[1, 1])
    # no core energy at the switch, and some well inside it
    species = torch.zeros(2, dtype=torch.long)
    assert float(model(torch.tensor([0.95 * 1.9] * 2, dtype=torch.float64), species, species).sum()) == 0.0
    assert pair_energy(model, 1.5) > 0.01
    # overlapping atoms in the data do not switch the core off: half the covalent sum at least
    model.fit_switch(lengths[4:], torch.tensor([0]), torch.tensor([1]))
    assert math.isclose(float(model.switch_radius[0, 1]), 0.5 * si_mo)
    assert math.isclose(float(model.switch_radius[0, 0]), 2 * 1.11)  # refitted: not in these data


def test_models_saved_before_the_fitted_switch_load_the_covalent_one():
    fitted = ZBLRepulsion([14]).double()
    fitted.fit_switch(torch.tensor([1.8 / 0.95], dtype=torch.float64), torch.tensor([0]), torch.tensor([0]))
    old = {f"zbl.{k}": v for k, v in fitted.state_dict().items() if k != "switch_radius"}
    old["zbl.radii"] = torch.tensor([1.11], dtype=torch.float64)  # what those files kept
    again = ZBLRepulsion([14]).double()
    again.load_state_dict({k.removeprefix("terms.zbl."): v for k, v in upgrade_tensors(old).items()}, strict=True)
    assert math.isclose(float(again.switch_radius), 2 * 1.11, rel_tol=1e-6) and math.isclose(again.max_switch, 2 * 1.11, rel_tol=1e-6)
    again.load_state_dict(fitted.state_dict())
    assert math.isclose(again.max_switch, 1.8)

"""The moment tensor network against the shared architecture checks, plus equivariance of its moments."""

import torch

from ridgeline import keys
from ridgeline.models import ARCHITECTURES, build_model
from ridgeline.models.upgrade import upgrade, upgrade_tensors
from ridgeline.testing import EnergyModelTests, example_structures
from ridgeline.testing.model_tests import batch_of, _rotation


class TestMomentNetwork(EnergyModelTests):
    def make_model(self, elements, cutoff):
        return build_model("moment", elements, preset="small", cutoff=cutoff)


class TestMomentNetworkTwoLayers(EnergyModelTests):
    """With a second layer (scalar messages from neighbours' first-layer invariants)."""

    def make_model(self, elements, cutoff):
        return build_model("moment", elements, preset="small", cutoff=cutoff, layers=2)


class TestMomentNetworkShortMessages(EnergyModelTests):
    """A second layer with its own, shorter cutoff and fewer invariants (``message_cutoff``,
    ``message_invariants``): the edges it sees are a subset of the first layer's."""

    def make_model(self, elements, cutoff):
        return build_model("moment", elements, preset="small", cutoff=cutoff, layers=2,
                           message_cutoff=0.7 * cutoff, message_invariants=["0", "11", "121"])


def test_message_cutoff_sets_the_receptive_field():
    """With message_cutoff r_m, atom 0 feels atom 2 through atom 1 only if |r_01| < r_m: the
    receptive field is r_c + r_m."""
    from ase import Atoms

    moved_energy = {}
    for d01 in (1.8, 2.5):  # atom 1 inside, then outside r_m = 2 Å (both inside r_c = 3 Å)
        torch.manual_seed(4)
        model = build_model("moment", [14], preset="small", cutoff=3.0, layers=2, message_cutoff=2.0, zbl=False).double()
        chain = Atoms("Si3", positions=[[0, 0, 0], [d01, 0, 0], [d01 + 2.5, 0, 0]])  # atom 2 beyond r_c of atom 0
        model.fit_statistics([batch_of([chain])], [0.0], [1.0])
        moved = chain.copy()
        moved.positions[2, 1] += 0.3
        e0 = model(batch_of([chain]))[keys.ATOMIC_ENERGIES][0].detach()
        e1 = model(batch_of([moved]))[keys.ATOMIC_ENERGIES][0].detach()
        moved_energy[d01] = float(abs(e1 - e0))
    assert moved_energy[1.8] > 1e-8 and moved_energy[2.5] == 0.0


def test_message_layer_neighbour_average():
    """Each message layer normalises its moments by the average number of neighbours within its
    own cutoff, fitted on the training structures."""
    from ase.build import bulk

    model = build_model("moment", [14], preset="small", cutoff=5.0, layers=2, message_cutoff=3.0).double()
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=1)
    model.fit_statistics([batch_of([atoms], cutoff=5.0)], [0.0], [1.0])
    from ase.neighborlist import neighbor_list

    assert float(model.avg_num_neighbors) == len(neighbor_list("i", atoms, 5.0)) / len(atoms)
    assert float(model.layers[1].avg_num_neighbors) == len(neighbor_list("i", atoms, 3.0)) / len(atoms)
    assert float(model.layers[1].avg_num_neighbors) < float(model.avg_num_neighbors)


def test_two_layer_state_from_before_message_cutoffs_loads():
    """A two-layer model saved before message layers had their own basis and neighbour average
    (their cutoff was the model's) loads and gives the same energies."""
    from ase.build import bulk

    torch.manual_seed(2)
    model = build_model("moment", [14], preset="small", cutoff=4.0, layers=2).double()
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=2)
    model.fit_statistics([batch_of([atoms])], [0.0], [1.0])
    old = {k: v for k, v in model.state_dict().items() if k not in ("layers.1.avg_num_neighbors", "layers.1.basis.frequencies")}
    old = {k.replace("terms.zbl.", "zbl."): v for k, v in old.items()}  # where that version kept the core
    again = build_model("moment", [14], preset="small", cutoff=4.0, layers=2).double()
    again.load_state_dict(upgrade_tensors(old), strict=True)
    torch.testing.assert_close(again(batch_of([atoms]))[keys.ENERGY], model(batch_of([atoms]))[keys.ENERGY])


def test_message_cutoff_must_not_exceed_the_cutoff():
    import pytest

    with pytest.raises(ValueError, match="message_cutoff"):
        build_model("moment", [14], preset="small", cutoff=3.0, layers=2, message_cutoff=3.5)


def test_second_layer_reaches_twice_the_cutoff():
    """A change beyond r_c but within 2 r_c of an atom moves its energy only with two layers."""
    from ase import Atoms

    energies = {}
    for layers in (1, 2):
        torch.manual_seed(4)
        model = build_model("moment", [14], preset="small", cutoff=3.0, layers=layers, zbl=False).double()
        chain = Atoms("Si3", positions=[[0, 0, 0], [2.5, 0, 0], [5.0, 0, 0]])
        model.fit_statistics([batch_of([chain])], [0.0], [1.0])
        moved = chain.copy()
        moved.positions[2, 1] += 0.3  # atom 2 is 5 Å from atom 0 (> r_c), 2.5 Å from atom 1
        e0 = model(batch_of([chain]))[keys.ATOMIC_ENERGIES][0].detach()
        e1 = model(batch_of([moved]))[keys.ATOMIC_ENERGIES][0].detach()
        energies[layers] = float(abs(e1 - e0))
    assert energies[1] == 0.0 and energies[2] > 1e-8


def test_moments_rotate_as_tensors():
    torch.manual_seed(0)
    model = build_model("moment", [8, 14], preset="small", cutoff=4.0).double()
    atoms = example_structures()["molecule"]
    rot = _rotation(0.4, -1.2, 2.0)
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rot.T
    m0 = model.environment_moments(batch_of([atoms]))
    m1 = model.environment_moments(batch_of([rotated]))
    R = torch.as_tensor(rot)
    torch.testing.assert_close(m1[0], m0[0])
    torch.testing.assert_close(m1[1], torch.einsum("ab,nbc->nac", R, m0[1]))
    torch.testing.assert_close(m1[2], torch.einsum("ab,de,nbec->nadc", R, R, m0[2]))
    torch.testing.assert_close(m1[3], torch.einsum("ab,de,fg,nbegc->nadfc", R, R, R, m0[3]))
    assert m0[3].abs().max() > 1e-3  # not trivially zero


import pytest


@pytest.mark.parametrize("radial_hidden", [[], [6]])
def test_moments_equal_edge_sums(radial_hidden):
    """The moments formed in the dense neighbour layout equal the direct sum over each atom's
    edges of R_nu(r_ij) u_ij^(x)nu, for every rank: from the basis functions' moments where the
    radial functions are linear in the basis (two elements: per-pair weights), and from the
    radial functions themselves where a radial network makes them nonlinear."""
    torch.manual_seed(1)
    model = build_model("moment", [8, 14], preset="small", cutoff=4.0, radial_hidden=radial_hidden).double()
    layer = model.layers[0]
    assert layer.linear_radial == (not radial_hidden)
    batch = batch_of(list(example_structures().values()))
    species = model.species(batch[keys.NUMBERS])
    moments = model.environment_moments(batch, species)
    vectors, lengths = model.edge_geometry(batch)
    i, j = batch[keys.EDGE_INDEX]
    radial = layer.radial(model.basis(lengths), species[i] * 2 + species[j]) / model.avg_num_neighbors
    C = model._hp["channels"]
    u = vectors / lengths[:, None]
    for atom in (0, 5, 20):
        e = i == atom
        for nu, moment in enumerate(moments):
            power = torch.ones(int(e.sum()), *([1] * nu), dtype=u.dtype)
            for _ in range(nu):  # u (x) u (x) ..., one axis at a time
                power = power[..., None] * u[e].reshape(-1, *([1] * (power.dim() - 1)), 3)
            expected = torch.einsum("e...,ec->...c", power.reshape(-1, *([3] * nu)), radial[e, nu * C:(nu + 1) * C])
            torch.testing.assert_close(moment[atom], expected)


def test_core_from_short_edges_equals_all_edges():
    """The ZBL core is summed over the edges inside its largest switch radius only; over all
    edges it is the same (zero beyond the switch)."""
    from ase.build import bulk

    model = build_model("moment", [8, 14], preset="small", cutoff=4.0).double()
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.numbers[::3] = 8
    atoms.rattle(0.3, seed=3)
    batch = batch_of([atoms], cutoff=4.0)
    species = model.species(batch[keys.NUMBERS])
    _, lengths = model.edge_geometry(batch)
    zbl = model.terms["zbl"]
    core = zbl.atomic_energies(batch, species, lengths)
    i, j = batch[keys.EDGE_INDEX]
    assert (lengths < zbl.max_switch).any() and (lengths >= zbl.max_switch).any()
    every = torch.zeros(len(species), dtype=lengths.dtype).index_add_(0, i, zbl(lengths, species[i], species[j]))
    torch.testing.assert_close(core, every)


def test_zbl_repels_atoms_pushed_together():
    model = build_model("moment", [14], preset="small", cutoff=4.0).double()
    torch.nn.init.zeros_(model.networks.networks[0][-1].weight)  # no learned part: only the core
    torch.nn.init.zeros_(model.networks.networks[0][-1].bias)
    from ase import Atoms

    energies = [float(model(batch_of([Atoms("Si2", positions=[[0, 0, 0], [r, 0, 0]])]))[keys.ENERGY].detach()) for r in (0.3, 0.6, 1.0, 3.0)]
    assert energies[0] > energies[1] > energies[2] > energies[3] and energies[0] > 100


def test_contractions_equal_their_einsum_definition():
    """The broadcast implementation of every invariant equals its einsum definition, for general
    (non-symmetric) tensors."""
    from ridgeline.nn.moments import CONTRACTIONS, _contract

    torch.manual_seed(2)
    for name, (ranks, equation) in CONTRACTIONS.items():
        tensors = [torch.randn(5, *([3] * nu), 4, dtype=torch.float64) for nu in ranks]
        torch.testing.assert_close(_contract(name, tensors), torch.einsum(equation, *tensors))


def test_symmetric_storage_equals_the_full_tensors():
    """Moments are formed in symmetric storage (one entry per sorted index tuple); expanded they
    are the full outer-product sums, and a self-contraction weighted by multiplicity equals the
    full one, for ranks 0 to 4."""
    from ridgeline.nn.moments import MomentInvariants, expand_symmetric, unit_powers

    torch.manual_seed(5)
    unit = torch.nn.functional.normalize(torch.randn(7, 3, dtype=torch.float64), dim=1)
    weights = torch.randn(7, 2, dtype=torch.float64)
    for nu, power in enumerate(unit_powers(unit, 4)):
        assert power.shape == (7, [1, 3, 6, 10, 15][nu])
        full = torch.ones(7, dtype=torch.float64)
        for _ in range(nu):  # u (x) u (x) ... built index by index
            full = full[..., None] * unit.reshape(7, *([1] * (full.dim() - 1)), 3)
        stored = (power[:, :, None] * weights[:, None]).sum(0, keepdim=True)  # one atom, all edges
        expected = torch.einsum("e...,ec->...c", full, weights)[None]
        torch.testing.assert_close(expand_symmetric(stored, nu), expected.reshape(1, *([3] * nu), 2))
        if nu >= 2:
            name = str(nu) * 2
            torch.testing.assert_close(MomentInvariants._invariant(name, [stored, 2 * stored]),
                                       MomentInvariants._invariant(name, [expected, 2 * expected]))


def test_rank4_moments_rotate_and_see_cubic_order():
    """The rank-4 moment rotates as a tensor, and its invariant ("44") tells a bcc site from an fcc
    site with the same first-shell radial distribution scaled away (ranks <= 3 cannot: their l = 2
    and l = 3 parts vanish at both sites)."""
    from ase.build import bulk

    torch.manual_seed(6)
    model = build_model("moment", [42], preset="small", cutoff=3.0, invariants=["0", "22", "33", "44"], zbl=False).double()
    atoms = bulk("Mo", "bcc", a=3.15, cubic=True).repeat(2)
    atoms.rattle(0.1, seed=1)
    rot = torch.as_tensor(_rotation(0.3, 1.1, -0.7))
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rot.numpy().T
    rotated.cell = atoms.cell.array @ rot.numpy().T
    m0 = model.environment_moments(batch_of([atoms]))[4]
    m1 = model.environment_moments(batch_of([rotated]))[4]
    torch.testing.assert_close(m1, torch.einsum("ab,cd,ef,gh,nbdfhk->nacegk", rot, rot, rot, rot, m0))

    def first_shell(structure):  # raw invariants (no statistics fitted), rows "0", "22", "33", "44"
        return model.atomic_features(batch_of([structure]))[0].reshape(4, -1)

    # one shell of neighbours at 2.6 Å inside the 3 Å cutoff: 8 along <111> (bcc), 12 along <110> (fcc)
    f_bcc = first_shell(bulk("Mo", "bcc", a=2 * 2.6 / 3**0.5, cubic=True))
    f_fcc = first_shell(bulk("Mo", "fcc", a=2.6 * 2**0.5, cubic=True))
    # divided by the squared rank-0 invariant, the neighbour count and radial values drop out:
    # "22" -> 1/3 for both, "33" -> 0 for both, "44" -> sum_jk (u_j . u_k)^4 / N^2: 0.259 against 0.208
    ratio_bcc, ratio_fcc = f_bcc[1:] / f_bcc[0] ** 2, f_fcc[1:] / f_fcc[0] ** 2
    torch.testing.assert_close(ratio_bcc[:2], ratio_fcc[:2])
    assert ((ratio_bcc[2] - ratio_fcc[2]).abs() > 1e-3 * ratio_bcc[2].abs()).all()


def test_atom_blocks_change_nothing():
    """The per-atom part evaluated in blocks of atoms gives the same energies and forces."""
    from ridgeline.models import ForceStressOutput

    torch.manual_seed(3)
    model = build_model("moment", [8, 14], preset="small", cutoff=4.0).double()
    batch = batch_of(list(example_structures().values()))
    whole = ForceStressOutput(model)(batch, forces=True)
    model.atom_block = 7
    blocked = ForceStressOutput(model)(batch, forces=True)
    torch.testing.assert_close(blocked[keys.ENERGY], whole[keys.ENERGY])
    torch.testing.assert_close(blocked[keys.FORCES], whole[keys.FORCES])


class TestMomentNetworkEquivariantMessages(EnergyModelTests):
    """With a second layer that receives the neighbours' rank-1 and rank-2 moments."""

    def make_model(self, elements, cutoff):
        return build_model("moment", elements, preset="small", cutoff=cutoff, layers=2, messages="equivariant")


def test_equivariant_messages_rotate_as_tensors():
    """The second layer's moments (message sums included) rotate as tensors, and the messages
    are not trivially zero."""
    torch.manual_seed(5)
    model = build_model("moment", [8, 14], preset="small", cutoff=4.0, layers=2, messages="equivariant").double()
    atoms = example_structures()["molecule"]
    rot = _rotation(-0.7, 0.9, 1.3)
    rotated = atoms.copy()
    rotated.positions = atoms.positions @ rot.T
    m0 = model.environment_moments(batch_of([atoms]), layer=1)
    m1 = model.environment_moments(batch_of([rotated]), layer=1)
    R = torch.as_tensor(rot)
    torch.testing.assert_close(m1[0], m0[0])
    torch.testing.assert_close(m1[1], torch.einsum("ab,nbc->nac", R, m0[1]))
    torch.testing.assert_close(m1[2], torch.einsum("ab,de,nbec->nadc", R, R, m0[2]))
    torch.testing.assert_close(m1[3], torch.einsum("ab,de,fg,nbegc->nadfc", R, R, R, m0[3]))
    torch.nn.init.zeros_(model.layers[1].equivariant.radial_weights)
    plain = model.environment_moments(batch_of([atoms]), layer=1)
    for nu in range(3):
        assert (plain[nu] - m0[nu]).abs().max() > 1e-4


def test_equivariant_messages_see_relative_orientation():
    """Two neighbours whose environments are the same up to a rotation about their bond to the
    centre give the same scalar messages; the equivariant messages tell them apart."""
    from ase import Atoms

    def cluster(angle):
        import numpy as np

        # centre at 0, neighbours at +-x; each neighbour has a satellite perpendicular to x,
        # the second one's rotated by ``angle`` about x
        # (the satellites lie beyond the cutoff from the centre)
        sat = 1.3
        pos = [[0, 0, 0], [2.2, 0, 0], [-2.2, 0, 0], [2.2, sat, 0], [-2.2, sat * np.cos(angle), sat * np.sin(angle)]]
        return Atoms("Si5", positions=pos)

    energies = {}
    for messages in ("scalar", "equivariant"):
        torch.manual_seed(6)
        model = build_model("moment", [14], preset="small", cutoff=2.5, layers=2, messages=messages, zbl=False).double()
        model.fit_statistics([batch_of([cluster(0.0)])], [0.0], [1.0])
        e = [float(model(batch_of([cluster(a)]))[keys.ATOMIC_ENERGIES][0].detach()) for a in (0.0, 1.5)]
        energies[messages] = abs(e[1] - e[0])
    assert energies["scalar"] < 1e-10 and energies["equivariant"] > 1e-6


class TestMomentNetworkRadialNetworkLinearPath(EnergyModelTests):
    """With radial functions from a small network on the basis (``radial_hidden``) instead of a
    linear map of it, and a linear path from the invariants to the energy (``linear_path``)."""

    def make_model(self, elements, cutoff):
        return build_model("moment", elements, preset="small", cutoff=cutoff, radial_hidden=[8], linear_path=True)


def test_linear_path_feeds_the_invariants_to_the_last_layer():
    """The last-layer features (used by the Laplace uncertainty) end with the invariants themselves."""
    torch.manual_seed(2)
    model = build_model("moment", [8, 14], preset="small", cutoff=4.0, linear_path=True).double()
    batch = batch_of([example_structures()["molecule"]])
    species = model.species(batch[keys.NUMBERS])
    x = model.atomic_features(batch, species)
    hidden = model.networks.hidden(x, species)
    width = ARCHITECTURES["moment"][1]["small"]["hidden"][-1]  # the network's last hidden layer
    assert model.networks.n_hidden == width + x.shape[1] == hidden.shape[1]
    torch.testing.assert_close(hidden[:, width:], x)


def test_unknown_invariant_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="unknown moment invariants.*'77'.*valid names"):
        build_model("moment", [14], preset="small", invariants=["0", "77"])


def test_standardize_scales_small_features_and_keeps_constant_ones():
    """A feature is constant only relative to its own size: tiny but varying features (the
    5-body invariants' raw values are ~1e-8) get unit variance; zero and constant ones keep unit
    scale, and so do tails negligible against every other feature (1e-18 of them)."""
    from ridgeline.nn.readout import Standardize

    torch.manual_seed(0)
    x = torch.stack([1e-9 * torch.randn(200), torch.zeros(200), torch.full((200,), 3.7), 1e-4 * torch.randn(200),
                     1e-22 * torch.randn(200)], 1).float()
    s = Standardize(1, 5)
    s.fit(x, torch.zeros(200, dtype=torch.long))
    z = s(x, torch.zeros(200, dtype=torch.long))
    torch.testing.assert_close(z[:, [0, 3]].std(0, unbiased=False), torch.ones(2), rtol=1e-4, atol=0)
    assert s.std[0, 1] == 1.0 and s.std[0, 2] == 1.0 and s.std[0, 4] == 1.0
    assert z[:, [1, 2, 4]].abs().max() < 1e-5


def test_every_invariant_channel_is_standardised_in_float32():
    """In a hot bcc crystal every channel of every default invariant (up to the 5-body ones, whose
    raw values are products of four small moments) varies and comes out with unit spread: none is
    left unscaled (dead)."""
    from ase.build import bulk

    torch.manual_seed(0)
    model = build_model("moment", [42], preset="medium")
    frames = []
    for seed in range(4):
        atoms = bulk("Mo", "bcc", a=3.16, cubic=True).repeat((2, 2, 2))
        atoms.rattle(0.15, seed=seed)
        frames.append(atoms)
    batch = batch_of(frames, dtype=torch.float32, cutoff=model.cutoff)
    model.fit_statistics([batch], [0.0], [1.0])
    with torch.no_grad():
        z = model.atomic_features(batch)
    spread = z.std(0, unbiased=False).reshape(len(model.layers[0].invariants.invariants), -1)
    assert (model.layers[0].standardize.std != 1.0).all()
    torch.testing.assert_close(spread, torch.ones_like(spread), rtol=1e-3, atol=0)


def core_energies(model, batch):
    """The ZBL term's per-atom energies of ``batch``."""
    return model.terms["zbl"].atomic_energies(batch, model.species(batch[keys.NUMBERS]), model.edge_geometry(batch)[1])


def test_core_switched_off_below_the_training_data():
    """``zbl_switch: data``: the statistics fit puts the core's switch just below the shortest
    training distance, so the core adds nothing to the training structures, and still repels closer atoms;
    the switch is saved with the model."""
    import pytest
    from ase import Atoms
    from ase.build import bulk

    from ridgeline.models.io import load_model, save_model

    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.15, seed=4)
    batch = batch_of([atoms], cutoff=4.0)
    model = build_model("moment", [14], preset="small", cutoff=4.0, zbl_switch="data").double()
    model.fit_statistics([batch], [0.0], [1.0])
    shortest = float(model.edge_geometry(batch)[1].min())
    assert shortest < 2 * 1.11 and float(model.terms["zbl"].switch_radius) == pytest.approx(0.95 * shortest)
    assert float(core_energies(model, batch).abs().max()) == 0.0
    covalent = build_model("moment", [14], preset="small", cutoff=4.0, zbl_switch="covalent").double()
    covalent.fit_statistics([batch], [0.0], [1.0])
    assert float(core_energies(covalent, batch).abs().max()) > 0.0
    pair = batch_of([Atoms("Si2", positions=[[0, 0, 0], [1.0, 0, 0]])], cutoff=4.0)
    assert float(core_energies(model, pair).sum()) > 1.0  # eV
    import tempfile, pathlib

    with tempfile.TemporaryDirectory() as d:
        path = save_model(model, pathlib.Path(d) / "m.safetensors")
        again, _ = load_model(path, dtype=torch.float64)
    assert again.terms["zbl"].max_switch == pytest.approx(0.95 * shortest)
    torch.testing.assert_close(again(batch)[keys.ENERGY], model(batch)[keys.ENERGY])


def test_model_saved_before_the_fitted_switch_loads_with_the_covalent_one():
    """A moment model file from before ``zbl_switch`` (no switch radius in its weights) loads with
    the covalent switch it was trained with, says so, and gives the same energies."""
    from ase.build import bulk

    torch.manual_seed(3)
    model = build_model("moment", [14], preset="small", cutoff=4.0, zbl_switch="covalent").double()
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.3, seed=5)
    batch = batch_of([atoms], cutoff=4.0)
    model.fit_statistics([batch], [0.0], [1.0])
    assert float(core_energies(model, batch).abs().max()) > 0.0  # the core acts
    # what those files kept: the core inside the network, its covalent radii, no zbl_switch
    old = {k.replace("terms.zbl.", "zbl."): v for k, v in model.state_dict().items() if k != "terms.zbl.switch_radius"}
    old["zbl.radii"] = torch.tensor([1.11], dtype=torch.float64)
    hp = {k: v for k, v in model.hyperparameters().items() if k != "elements"}
    description = {"format_version": 1, "architecture": "moment", "hyperparameters": {**hp, "zbl": True}}
    description, tensors = upgrade(description, old)
    assert description["terms"] == {"zbl": {"switch": "covalent"}}
    again = build_model("moment", [14], terms=description["terms"], **description["hyperparameters"]).double()
    again.load_state_dict(tensors, strict=True)
    torch.testing.assert_close(again(batch)[keys.ENERGY], model(batch)[keys.ENERGY])


def test_unknown_zbl_switch_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="zbl_switch must be one of covalent, data"):
        build_model("moment", [14], preset="small", zbl_switch="lammps")

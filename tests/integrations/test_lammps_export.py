"""The model exported for LAMMPS: the traced program against the eager model and ridgeline's
calculator (energies, forces and per-atom virials from edge gradients), ghost atoms as LAMMPS gives
them (one and two layers), the compiled package and its metadata, bad input."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from ridgeline.errors import ConfigError, ModelFileError
from ridgeline.integrations.lammps.export import (EdgeForces, _trace, edge_inputs, export_model, forces_and_virials,
                                                  load_exported, receptive_field)
from ridgeline.models.io import save_model
from ridgeline.simulate.calculator import Calculator

from .conftest import close_pair, sic, two_element_model


@pytest.fixture(scope="module", params=[1, 2], ids=["one layer", "two layers"])
def traced(request):
    model = two_element_model(request.param)
    example = edge_inputs(model, sic((2, 2, 2), seed=3), torch.float64)
    return model, _trace(model, example, torch.float64).module()


def reference(model, atoms):
    """Energy, forces and (periodic cells) the virial, -stress x volume, from ridgeline's calculator."""
    atoms = atoms.copy()
    atoms.calc = Calculator.from_model(model)
    virial = -atoms.get_stress(voigt=False) * atoms.get_volume() if atoms.pbc.all() else None
    return atoms.get_potential_energy(), atoms.get_forces(), virial


@pytest.mark.parametrize("cell", ["other size", "core", "finite"])
def test_traced_program_matches_the_calculator(traced, cell):
    model, program = traced
    atoms = {"other size": sic((3, 2, 2), seed=5), "core": close_pair(sic((2, 2, 2), seed=7)),
             "finite": Atoms(sic((2, 2, 2), seed=9)[:13], pbc=False)}[cell]
    inputs = edge_inputs(model, atoms, torch.float64)
    atomic, gradient = program(*[x.clone() for x in inputs])
    forces, virials = forces_and_virials(inputs[1], inputs[2], gradient, len(atoms))
    energy, want_forces, want_virial = reference(model, atoms)
    assert float(atomic.sum()) == pytest.approx(energy, abs=1e-10)
    np.testing.assert_allclose(forces.numpy(), want_forces, atol=1e-10)
    if want_virial is not None:
        np.testing.assert_allclose(virials.sum(0).numpy(), want_virial, atol=1e-9)
    if cell == "core":
        short = inputs[2].norm(dim=1) < 1.5
        assert short.any()  # the ZBL core is in the program


def test_more_neighbour_slots_than_needed_change_nothing(traced):
    model, program = traced
    inputs = list(edge_inputs(model, sic((2, 2, 2), seed=11), torch.float64))
    atomic, gradient = program(*[x.clone() for x in inputs])
    inputs[4] = torch.zeros(inputs[4].shape[0] + 7, dtype=torch.float64)
    atomic2, gradient2 = program(*inputs)
    assert torch.allclose(atomic, atomic2, atol=1e-12) and torch.allclose(gradient, gradient2, atol=1e-12)


def ghost_cluster(atoms, shell: float, cutoff: float):
    """What LAMMPS hands a pair style: the cell's atoms (local) and their periodic images within
    ``shell`` of them (ghosts, each with its owner), every atom's edges within ``cutoff`` as plain
    vectors, sorted by centre. Ghosts near the shell's edge have incomplete neighbourhoods, as in
    LAMMPS."""
    positions, owners = [atoms.positions], [np.arange(len(atoms))]
    for shift in np.ndindex(5, 5, 5):
        if shift == (2, 2, 2):
            continue
        pos = atoms.positions + (np.array(shift) - 2) @ atoms.cell.array
        keep = np.linalg.norm(pos[:, None] - atoms.positions[None], axis=2).min(1) < shell
        positions.append(pos[keep])
        owners.append(np.arange(len(atoms))[keep])
    positions, owners = np.concatenate(positions), np.concatenate(owners)
    cluster = Atoms(numbers=atoms.numbers[owners], positions=positions, pbc=False)
    i, j, d = neighbor_list("ijD", cluster, cutoff)
    order = np.argsort(i, kind="stable")
    return cluster, owners, torch.tensor(np.stack([i[order], j[order]])), torch.tensor(d[order])


def test_ghost_atoms_as_lammps_gives_them(traced):
    """Local energy and forces folded back onto their owners (Newton on) equal the periodic
    calculation, with ghosts out to the model's receptive field (a message layer needs the ghosts'
    own neighbours)."""
    model, program = traced
    atoms = sic((2, 2, 2), seed=13)
    cluster, owners, edge_index, vectors = ghost_cluster(atoms, receptive_field(model), model.cutoff)
    species = model.species(torch.tensor(cluster.numbers))
    most = int(torch.bincount(edge_index[0]).max())
    atomic, gradient = program(species, edge_index, vectors, torch.tensor([len(atoms)]), torch.zeros(most, dtype=torch.float64))
    forces, virials = forces_and_virials(edge_index, vectors, gradient, len(cluster))
    folded = torch.zeros(len(atoms), 3, dtype=torch.float64).index_add_(0, torch.tensor(owners), forces)
    energy, want_forces, want_virial = reference(model, atoms)
    assert float(atomic[: len(atoms)].sum()) == pytest.approx(energy, abs=1e-9)
    np.testing.assert_allclose(folded.numpy(), want_forces, atol=1e-9)
    np.testing.assert_allclose(virials.sum(0).numpy(), want_virial, atol=1e-8)  # per-atom virials sum to the global one


def test_export_writes_a_checked_package_with_its_description(tmp_path, capsys):
    """``ridgeline export MODEL --dtype float64``: the package beside the model, checked."""
    from ridgeline.cli.main import main

    model = two_element_model(1)
    path = save_model(model, tmp_path / "sic.safetensors")
    assert main(["export", str(path), "--dtype", "float64"]) == 0
    out = tmp_path / "sic-float64.pt2"
    assert out.stat().st_size > 0 and f"{out} (float64; checked: energy within" in capsys.readouterr().out
    program, meta = load_exported(out)
    assert meta["elements"] == "C Si" and float(meta["cutoff"]) == 3.6 and meta["dtype"] == "float64"
    assert float(meta["ghost_cutoff"]) == pytest.approx(receptive_field(model)) and meta["source"] == "sic.safetensors"
    atoms = sic((2, 3, 2), seed=17)
    inputs = edge_inputs(model, atoms, torch.float64)
    atomic, gradient = program(*inputs)
    forces, _ = forces_and_virials(inputs[1], inputs[2], gradient, len(atoms))
    energy, want_forces, _ = reference(model, atoms)
    assert float(atomic.sum()) == pytest.approx(energy, abs=1e-9)
    np.testing.assert_allclose(forces.numpy(), want_forces, atol=1e-9)


def test_bad_input_gives_one_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        export_model(tmp_path / "missing.safetensors")
    path = save_model(two_element_model(1), tmp_path / "m.safetensors")
    with pytest.raises(ConfigError, match="dtype"):
        export_model(path, dtype="float16")
    from ridgeline.cli.main import main

    assert main(["export", str(path), "-o", str(tmp_path / "x.pt2")]) == 2  # one output file, two dtypes
    assert not (tmp_path / "x.pt2").exists()
    (tmp_path / "junk.pt2").write_bytes(b"not a package")
    with pytest.raises(ModelFileError, match="junk.pt2"):
        load_exported(tmp_path / "junk.pt2")


def test_receptive_field_adds_the_message_cutoffs():
    assert receptive_field(two_element_model(1)) == pytest.approx(3.6)
    assert receptive_field(two_element_model(2)) == pytest.approx(3.6 + 2.8)


def test_eager_entry_point_is_the_models_energy():
    model = two_element_model(2)
    atoms = sic((2, 2, 2), seed=19)
    inputs = edge_inputs(model, atoms, torch.float64)
    atomic, _ = EdgeForces(model)(*inputs)
    assert float(atomic.sum()) == pytest.approx(reference(model, atoms)[0], abs=1e-10)


def test_committee_program_gives_the_mean_and_each_member():
    """An ensemble's program: the members' mean energies and gradients, then each member's (the
    engine's committee sigma), equal to ridgeline's own member forces; its metadata carry the
    committee's size and calibration."""
    from ridgeline.integrations.lammps.export import metadata
    from ridgeline.models import ForceStressOutput
    from ridgeline.data.graph import atoms_to_batch
    from ridgeline.models.ensemble import Ensemble

    committee = Ensemble([two_element_model(1, seed=seed, invariants=("0", "11", "22")) for seed in (0, 1)])
    program = _trace(committee, edge_inputs(committee, sic((2, 2, 2), seed=3), torch.float64), torch.float64).module()
    atoms = sic((3, 2, 2), seed=27)
    inputs = edge_inputs(committee, atoms, torch.float64)
    atomic, gradient, member_energies, member_gradients = program(*[x.clone() for x in inputs])
    members = ForceStressOutput(committee).members(atoms_to_batch(atoms, committee.cutoff, dtype=torch.float64))
    for k, want in enumerate(members):
        forces, _ = forces_and_virials(inputs[1], inputs[2], member_gradients[k].detach(), len(atoms))
        np.testing.assert_allclose(forces.numpy(), want["forces"].detach().numpy(), atol=1e-10)
        assert float(member_energies[k].sum()) == pytest.approx(float(want["energy"]), abs=1e-10)
    energy, mean_forces, _ = reference(committee, atoms)
    assert float(atomic.sum()) == pytest.approx(energy, abs=1e-10)
    np.testing.assert_allclose(forces_and_virials(inputs[1], inputs[2], gradient.detach(), len(atoms))[0].numpy(),
                               mean_forces, atol=1e-10)
    alpha = {"energy": 2.0, "forces": 1.5, "forces_power": 0.8, "forces_floor": 0.01}
    meta = metadata({"uncertainty": {"method": "ensemble", "alpha": alpha}}, committee, "float64", "c.safetensors")
    assert meta["members"] == "2" and float(meta["forces_power"]) == 0.8 and float(meta["energy_alpha"]) == 2.0
    assert metadata({}, committee, "float64", "c")["forces_alpha"] == "1.0"  # uncalibrated: the raw spread
    single = metadata({"uncertainty": {"method": "laplace", "alpha": alpha}}, two_element_model(1), "float64", "m")
    assert single["members"] == "1" and "forces_alpha" not in single

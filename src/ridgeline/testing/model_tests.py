"""The checks every energy model must pass. Subclass ``EnergyModelTests`` in a pytest module and
define ``make_model(self, elements, cutoff)`` returning an untrained model of the architecture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk, fcc111

from .. import keys
from ..data.frame import Frame
from ..data.graph import collate, frame_to_graph
from ..models import ForceStressOutput, hessian
from ..models.io import load_model, save_model
from ..simulate.calculator import Calculator

ELEMENTS = [8, 14]
CUTOFF = 4.0
DTYPES = [torch.float32, torch.float64]


def example_structures() -> dict:
    """Periodic (small triclinic cell: many images), non-periodic and mixed-periodic structures of O and Si."""
    crystal = bulk("Si", "diamond", a=5.43).repeat((2, 2, 2))
    crystal.rattle(0.08, seed=1)
    crystal.numbers[[1, 6]] = 8
    molecule = Atoms("SiO2Si", positions=[[0, 0, 0], [1.6, 0.1, 0.0], [-0.5, 1.5, 0.2], [0.4, -1.2, 2.1]], pbc=False)
    slab = fcc111("Cu", (2, 2, 3), vacuum=4.0, a=4.2)
    slab.numbers[:] = 14
    slab.numbers[[0, 5]] = 8
    slab.rattle(0.05, seed=2)
    return {"crystal": crystal, "molecule": molecule, "slab": slab}


def batch_of(structures, dtype=torch.float64, cutoff=CUTOFF) -> dict:
    return collate([frame_to_graph(Frame.from_atoms(a), cutoff, frame_index=k) for k, a in enumerate(structures)], dtype=dtype)


class EnergyModelTests:
    """Mixin of architecture-independent tests; subclasses define ``make_model``."""

    def make_model(self, elements, cutoff):  # pragma: no cover - defined by subclasses
        raise NotImplementedError

    # ---------------------------------------------------------------- fixtures
    @pytest.fixture
    def model64(self):
        torch.manual_seed(0)
        model = self.make_model(ELEMENTS, CUTOFF).double()
        structures = list(example_structures().values())
        model.fit_statistics([batch_of(structures)], np.array([-3.0, -5.0]), np.array([0.7, 1.3]))
        return model.eval()

    def _model(self, model64, dtype):
        return model64 if dtype == torch.float64 else self.make_model_copy(model64, dtype)

    def make_model_copy(self, model, dtype):
        copy = self.make_model(ELEMENTS, CUTOFF).to(dtype)
        copy.load_state_dict(model.state_dict())
        return copy.eval()

    @staticmethod
    def _energy_forces(model, atoms, dtype=torch.float64):
        out = ForceStressOutput(model)(batch_of([atoms], dtype), forces=True)
        return float(out[keys.ENERGY].detach().sum()), out[keys.FORCES].detach().double().numpy()

    # ---------------------------------------------------------------- derivatives
    @pytest.mark.parametrize("name", ["crystal", "molecule", "slab"])
    def test_forces_are_finite_differences(self, model64, name):
        atoms = example_structures()[name]
        _, forces = self._energy_forces(model64, atoms)
        h = 1e-4
        rng = np.random.default_rng(0)

        def energy_displaced(a, c, d):
            moved = atoms.copy()
            moved.positions[a, c] += d
            return self._energy_forces(model64, moved)[0]

        for a in rng.choice(len(atoms), size=min(4, len(atoms)), replace=False):
            for c in range(3):
                # fourth-order central difference: truncation error O(h^4), round-off ~1e-12 here
                e = [energy_displaced(a, c, k * h) for k in (-2, -1, 1, 2)]
                fd = -(e[0] - 8 * e[1] + 8 * e[2] - e[3]) / (12 * h)
                assert forces[a, c] == pytest.approx(fd, abs=1e-6, rel=1e-6)

    def test_gradcheck(self, model64):
        batch = batch_of([example_structures()["molecule"]])

        def energy(pos):
            return model64({**batch, keys.POSITIONS: pos})[keys.ENERGY]

        assert torch.autograd.gradcheck(energy, (batch[keys.POSITIONS].clone().requires_grad_(True),), eps=1e-6, atol=1e-5)

    def test_stress_is_numerical_stress(self, model64, tmp_path):
        path = save_model(model64, tmp_path / "m.safetensors")
        atoms = example_structures()["crystal"]
        atoms.calc = Calculator(path, dtype="float64")
        from ase.calculators.fd import calculate_numerical_stress

        numerical = calculate_numerical_stress(atoms, eps=1e-5)
        np.testing.assert_allclose(atoms.get_stress(), numerical, atol=1e-7, rtol=1e-5)
        assert np.abs(numerical).max() > 1e-4  # the check is not trivially zero

    def test_hessian(self, model64):
        atoms = example_structures()["molecule"]
        h = hessian(model64, batch_of([atoms])).double().numpy()
        np.testing.assert_allclose(h, h.T, atol=1e-8)
        step, pos = 1e-4, atoms.positions.copy()

        def forces_at(col, shift):
            moved = atoms.copy()
            moved.positions.flat[col] = pos.flat[col] + shift
            return self._energy_forces(model64, moved)[1].ravel()

        for col in (0, 4, 11):
            # five-point stencil (error ~ step^4): short cutoffs give untrained models large
            # third derivatives, against which the central difference's step^2 error is too big
            fd = -(8 * (forces_at(col, step) - forces_at(col, -step)) - (forces_at(col, 2 * step) - forces_at(col, -2 * step))) / (12 * step)
            np.testing.assert_allclose(h[:, col], fd, atol=1e-5, rtol=1e-5)

    # ---------------------------------------------------------------- invariances
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_rotation_translation_invariance(self, model64, dtype):
        model = self._model(model64, dtype)
        tol = 1e-9 if dtype == torch.float64 else 2e-4
        for atoms in example_structures().values():
            e0, f0 = self._energy_forces(model, atoms, dtype)
            moved = atoms.copy()
            if not atoms.pbc.any():
                rot = _rotation(0.3, 1.1, -0.7)
                moved.positions = atoms.positions @ rot.T + [1.3, -2.0, 0.5]
                f_expected = f0 @ rot.T
            else:  # rotate cell and atoms together
                rot = _rotation(0.3, 1.1, -0.7)
                moved.set_cell(atoms.cell.array @ rot.T, scale_atoms=False)
                moved.positions = atoms.positions @ rot.T + [1.3, -2.0, 0.5]
                f_expected = f0 @ rot.T
            e1, f1 = self._energy_forces(model, moved, dtype)
            assert e1 == pytest.approx(e0, abs=tol * max(1, abs(e0)))
            # relative to the largest force, as the energy (an untrained model's forces reach ~100)
            np.testing.assert_allclose(f1, f_expected, atol=tol * max(10.0, np.abs(f0).max()))

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_permutation_and_wrapping_invariance(self, model64, dtype):
        model = self._model(model64, dtype)
        tol = 1e-9 if dtype == torch.float64 else 2e-4
        atoms = example_structures()["crystal"]
        e0, f0 = self._energy_forces(model, atoms, dtype)
        perm = np.random.default_rng(3).permutation(len(atoms))
        e1, f1 = self._energy_forces(model, atoms[perm], dtype)
        assert e1 == pytest.approx(e0, abs=tol * abs(e0))
        np.testing.assert_allclose(f1, f0[perm], atol=tol * 10)
        shifted = atoms.copy()
        shifted.positions += np.array([2, -1, 3]) @ atoms.cell.array  # whole lattice vectors
        shifted.positions[::3] -= atoms.cell.array[1]
        e2, f2 = self._energy_forces(model, shifted, dtype)
        assert e2 == pytest.approx(e0, abs=tol * abs(e0))
        np.testing.assert_allclose(f2, f0, atol=tol * 10)

    # ---------------------------------------------------------------- batching
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_batch_equals_one_by_one(self, model64, dtype):
        model = self._model(model64, dtype)
        structures = list(example_structures().values())
        out = ForceStressOutput(model)(batch_of(structures, dtype), forces=True)
        offsets = np.cumsum([0] + [len(a) for a in structures])
        for k, atoms in enumerate(structures):
            e, f = self._energy_forces(model, atoms, dtype)
            tol = 1e-10 if dtype == torch.float64 else 1e-4
            assert float(out[keys.ENERGY][k].detach()) == pytest.approx(e, abs=tol * max(1, abs(e)))
            np.testing.assert_allclose(out[keys.FORCES][offsets[k]:offsets[k + 1]].detach().double().numpy(), f, atol=tol * 10)

    def test_no_gradient_between_structures(self, model64):
        structures = list(example_structures().values())
        batch = batch_of(structures)
        pos = batch[keys.POSITIONS].clone().requires_grad_(True)
        energy = model64({**batch, keys.POSITIONS: pos})[keys.ENERGY]
        (grad,) = torch.autograd.grad(energy[1], pos)
        first, second = len(structures[0]), len(structures[0]) + len(structures[1])
        assert torch.all(grad[:first] == 0) and torch.all(grad[second:] == 0)
        assert torch.any(grad[first:second] != 0)

    # ---------------------------------------------------------------- smoothness
    def test_smooth_through_cutoff(self, model64):
        """A dimer pulled through r_c: energy and forces go continuously to their far values."""
        far = Atoms("SiO", positions=[[0, 0, 0], [CUTOFF + 1.0, 0, 0]])
        e_far, _ = self._energy_forces(model64, far)
        for delta in (1e-3, 1e-5):
            for r in (CUTOFF - delta, CUTOFF + delta):
                e, f = self._energy_forces(model64, Atoms("SiO", positions=[[0, 0, 0], [r, 0, 0]]))
                assert abs(e - e_far) < 50 * delta
                assert np.abs(f).max() < 50 * delta
        e_in, f_in = self._energy_forces(model64, Atoms("SiO", positions=[[0, 0, 0], [CUTOFF - 0.5, 0, 0]]))
        assert abs(e_in - e_far) > 1e-6 and np.abs(f_in).max() > 1e-6  # the pair does interact inside

    # ---------------------------------------------------------------- files
    def test_save_load_roundtrip(self, model64, tmp_path):
        path = save_model(model64, tmp_path / "model.safetensors")
        loaded, desc = load_model(path)
        assert desc["architecture"] == model64.architecture and desc["elements"] == ELEMENTS
        assert desc["cutoff"] == CUTOFF
        for atoms in example_structures().values():
            e0, f0 = self._energy_forces(model64, atoms)
            e1, f1 = self._energy_forces(loaded, atoms)
            assert e1 == e0
            np.testing.assert_array_equal(f1, f0)

    def test_calculator_agrees_with_model(self, model64, tmp_path):
        calc = Calculator(save_model(model64, tmp_path / "m.safetensors"), dtype="float64")
        for atoms in example_structures().values():
            e, f = self._energy_forces(model64, atoms)
            atoms.calc = calc
            assert atoms.get_potential_energy() == pytest.approx(e, abs=1e-10)
            assert atoms.get_potential_energies().sum() == pytest.approx(e, abs=1e-9)
            np.testing.assert_allclose(atoms.get_forces(), f, atol=1e-10)


def _rotation(a, b, c) -> np.ndarray:
    def rx(t):
        return np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])

    def rz(t):
        return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])

    return rz(a) @ rx(b) @ rz(c)

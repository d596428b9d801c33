"""The vectorised Hessian equals the row-by-row one (one backward pass per row) to round-off, in
float64, for every architecture, an ensemble, periodic and not; and the calculator's
``get_hessian`` gives it in ASE's layout."""

import numpy as np
import pytest
import torch

from ridgeline import keys
from ridgeline.errors import ConfigError
from ridgeline.models import Ensemble, build_model, hessian
from ridgeline.models.io import save_model
from ridgeline.simulate.calculator import Calculator
from ridgeline.testing import example_structures
from ridgeline.testing.model_tests import CUTOFF, ELEMENTS, batch_of

MODELS = {
    "bpnn": lambda: build_model("bpnn", ELEMENTS, preset="small", cutoff=CUTOFF),
    "moment": lambda: build_model("moment", ELEMENTS, preset="small", cutoff=CUTOFF),
    "moment_2_layers": lambda: build_model("moment", ELEMENTS, preset="small", cutoff=CUTOFF, layers=2),
    "ensemble": lambda: Ensemble([build_model("moment", ELEMENTS, preset="small", cutoff=CUTOFF) for _ in range(3)]),
}


def _fitted(name):
    torch.manual_seed(0)
    model = MODELS[name]().double()
    batch = batch_of(list(example_structures().values()))
    members = model.members if isinstance(model, Ensemble) else [model]
    for k, member in enumerate(members):
        member.fit_statistics([batch], np.array([-3.0, -5.0]) + k, np.array([0.7, 1.3]))
    return model.eval()


def row_by_row_hessian(model, batch) -> torch.Tensor:
    """The reference: one backward pass of the gradient per row."""
    batch = dict(batch)
    pos = batch[keys.POSITIONS].detach().requires_grad_(True)
    batch[keys.POSITIONS] = pos
    (grad,) = torch.autograd.grad(model(batch)[keys.ENERGY].sum(), pos, create_graph=True)
    grad = grad.reshape(-1)
    return torch.stack([torch.autograd.grad(g, pos, retain_graph=True)[0].reshape(-1) for g in grad])


@pytest.mark.parametrize("structure", ["crystal", "molecule"])
@pytest.mark.parametrize("name", list(MODELS))
def test_vectorised_hessian_equals_row_by_row(name, structure):
    model = _fitted(name)
    atoms = example_structures()[structure]
    batch = batch_of([atoms])
    reference = row_by_row_hessian(model, batch)
    scale = float(reference.abs().max())
    assert scale > 1e-3  # not trivially zero
    for chunk_size in (7, 48):  # blocks that do and do not divide 3N
        h = hessian(model, batch, chunk_size=chunk_size)
        assert h.shape == (3 * len(atoms), 3 * len(atoms))
        torch.testing.assert_close(h, reference, atol=1e-12 * scale, rtol=1e-12)


def test_ensemble_hessian_is_the_mean_of_the_members():
    model = _fitted("ensemble")
    batch = batch_of([example_structures()["molecule"]])
    mean = torch.stack([hessian(m, batch) for m in model.members]).mean(0)
    torch.testing.assert_close(hessian(model, batch), mean, atol=1e-10, rtol=1e-10)


def test_calculator_get_hessian(tmp_path):
    model = _fitted("moment")
    path = save_model(model, tmp_path / "m.safetensors")
    atoms = example_structures()["molecule"]
    calc = Calculator(path, dtype="float64")
    h = calc.get_hessian(atoms)
    assert isinstance(h, np.ndarray) and h.shape == (3 * len(atoms), 3 * len(atoms)) and h.dtype == np.float64
    np.testing.assert_allclose(h, hessian(model, batch_of([atoms])).numpy(), atol=1e-10)
    atoms.calc = calc
    atoms.get_potential_energy()
    np.testing.assert_allclose(calc.get_hessian(), h, atol=1e-12)  # atoms=None: the last structure computed
    with pytest.raises(ConfigError, match="no structure"):
        Calculator(path, dtype="float64").get_hessian()  # no structure at all


def test_chunk_size_must_be_positive():
    with pytest.raises(ConfigError, match="chunk_size"):
        hessian(_fitted("bpnn"), batch_of([example_structures()["molecule"]]), chunk_size=0)

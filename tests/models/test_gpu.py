"""GPU path: the same model on CUDA gives the CPU's energies, forces and stress (skipped without CUDA)."""

import pytest
import torch

from ridgeline import keys
from ridgeline.models import ForceStressOutput, build_model
from ridgeline.testing import example_structures
from ridgeline.testing.model_tests import batch_of

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("architecture", ["bpnn", "moment"])
def test_cuda_matches_cpu(architecture):
    torch.manual_seed(0)
    model = build_model(architecture, [8, 14], preset="small", cutoff=4.0).double()
    structures = list(example_structures().values())
    batch = batch_of(structures)
    model.fit_statistics([batch], [-3.0, -5.0], [1.0, 1.0])
    cpu = ForceStressOutput(model)(batch, forces=True, stress=True)
    gpu_model = model.to("cuda")
    gpu = ForceStressOutput(gpu_model)({k: v.to("cuda") for k, v in batch.items()}, forces=True, stress=True)
    for key in (keys.ENERGY, keys.FORCES):
        torch.testing.assert_close(gpu[key].cpu(), cpu[key], rtol=1e-9, atol=1e-9)
    periodic = torch.isfinite(cpu[keys.STRESS])
    torch.testing.assert_close(gpu[keys.STRESS].cpu()[periodic], cpu[keys.STRESS][periodic], rtol=1e-9, atol=1e-9)

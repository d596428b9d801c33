"""A committee's one forward pass (weight-free parts shared by its members) against its members
evaluated one by one."""

import numpy as np
import pytest
import torch

from ridgeline import keys
from ridgeline.models import ForceStressOutput, build_model
from ridgeline.models.ensemble import Ensemble
from ridgeline.nn.moments import CartesianMoments
from ridgeline.testing import example_structures
from ridgeline.testing.model_tests import CUTOFF, ELEMENTS, batch_of

MEMBERS = {
    # the last member has another radial basis: it must not take the others' basis moments
    "moment": [dict(preset="small"), dict(preset="small"), dict(preset="small", n_basis=6)],
    "moment, short messages": [dict(preset="small", layers=2, message_cutoff=3.0, message_invariants=["0", "11", "121"])] * 2,
    "bpnn": [dict(preset="small")] * 2,
}


def committee(name: str) -> Ensemble:
    batch = batch_of(list(example_structures().values()))
    members = []
    for seed, hp in enumerate(MEMBERS[name]):
        torch.manual_seed(seed)
        m = build_model(name.split(",")[0], ELEMENTS, cutoff=CUTOFF, **hp).double()
        m.fit_statistics([batch], np.array([-3.0, -5.0]), np.array([0.7, 1.3]))
        members.append(m.eval())
    return Ensemble(members)


@pytest.mark.parametrize("name", list(MEMBERS))
def test_shared_pass_equals_members_one_by_one(name):
    ens = committee(name)
    batch = batch_of(list(example_structures().values()))
    alone = [ForceStressOutput(m)(batch, forces=True, stress=True) for m in ens.members]
    mean = ForceStressOutput(ens)(batch, forces=True, stress=True)
    together = ForceStressOutput(ens).members(batch, stress=True, readout=True)
    for key in (keys.ENERGY, keys.FORCES, keys.STRESS):
        expected = torch.stack([o[key] for o in alone])
        finite = torch.isfinite(expected)  # the molecule's stress is NaN
        assert torch.allclose(mean[key][finite[0]], expected.mean(0)[finite[0]], rtol=1e-12, atol=1e-12), key
        got = torch.stack([o[key] for o in together])
        assert torch.equal(torch.isfinite(got), finite)
        assert torch.allclose(got[finite], expected[finite], rtol=1e-12, atol=1e-12), key
    assert keys.READOUT_FEATURES in together[0] and keys.READOUT_FEATURES not in together[1]
    # the members differ (else equality above would prove nothing about who computed what)
    assert not torch.allclose(alone[0][keys.FORCES], alone[1][keys.FORCES])


def test_members_with_one_basis_compute_its_moments_once(monkeypatch):
    ens = committee("moment")
    calls = []
    original = CartesianMoments.of_basis
    monkeypatch.setattr(CartesianMoments, "of_basis", lambda self, *a: calls.append(a[0].shape) or original(self, *a))
    batch = batch_of(list(example_structures().values()))
    shared = {}
    ens.member_outputs(batch, shared=shared)
    # members 0 and 1 share one basis (8 functions), member 2 has its own (6)
    assert len(calls) == 2 and sorted(shape[1] for shape in calls) == [2 * 6, 2 * 8]  # two elements' column blocks
    assert sum(key[0] == "dense edges" and len(key) == 4 for key in shared) == 2
    calls.clear()
    for m in ens.members:  # one by one: every member computes its own
        m(batch)
    assert len(calls) == 3

"""The Behler-Parrinello model against the shared architecture checks, plus its descriptor."""

import pytest
import torch

from ridgeline import keys
from ridgeline.models import build_model
from ridgeline.testing import EnergyModelTests, example_structures
from ridgeline.testing.model_tests import batch_of


class TestBehlerParrinello(EnergyModelTests):
    def make_model(self, elements, cutoff):
        return build_model("bpnn", elements, preset="small", cutoff=cutoff)


def test_g5_equals_triplet_sum():
    """The moment-expansion G5 equals Behler's triplet sum over j != k, evaluated directly."""
    torch.manual_seed(0)
    model = build_model("bpnn", [8, 14], preset="small", cutoff=4.0).double()
    atoms = example_structures()["crystal"]
    batch = batch_of([atoms])
    species = model.species(batch[keys.NUMBERS])
    features = model.atomic_features(batch, species)
    d = model.descriptor
    vectors, lengths = model.edge_geometry(batch)
    i, j = batch[keys.EDGE_INDEX]
    g = torch.exp(-d.angular_etas * (lengths[:, None] - d.angular_centers) ** 2) * d.cutoff_fn(lengths)[:, None]
    K, R, S, A = d.n_elements, d.n_radial, d.n_angular_shells, d.n_angular
    for atom in (0, 1):
        edges = (i == atom).nonzero().flatten().tolist()
        for p, (b, c) in enumerate(d.pairs):
            expected = torch.zeros(S, A, dtype=torch.float64)
            for e1 in edges:
                for e2 in edges:
                    if e1 == e2 or species[j[e1]] != b or species[j[e2]] != c:
                        continue
                    cos = vectors[e1] @ vectors[e2] / (lengths[e1] * lengths[e2])
                    for k, (zeta, lam) in enumerate(d.angular_labels):
                        expected[:, k] += 2.0 ** (1 - zeta) * (1 + lam * cos) ** zeta * g[e1] * g[e2]
            got = features[atom, K * R + p * S * A: K * R + (p + 1) * S * A].reshape(S, A)
            torch.testing.assert_close(got, expected, atol=1e-10, rtol=1e-10)
        assert features[atom].abs().sum() > 0


def test_presets_and_unknown_preset():
    from ridgeline.errors import ConfigError

    sizes = [build_model("bpnn", [14], preset=p).descriptor.n_features for p in ("small", "medium", "large")]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    with pytest.raises(ConfigError, match="available: small, medium, large"):
        build_model("bpnn", [14], preset="huge")


def test_unknown_element_is_refused():
    from ridgeline.errors import UnknownElementError

    model = build_model("bpnn", [14], preset="small", cutoff=4.0).double()
    atoms = example_structures()["crystal"]  # holds O
    with pytest.raises(UnknownElementError, match="O not known"):
        model(batch_of([atoms]))

"""Domain of applicability in descriptor space: nearest neighbour, Mahalanobis, convex hull."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from ridgeline.uncertainty.domain import (
    DOMAIN_MODELS,
    ConvexHullDomain,
    DomainModel,
    MahalanobisDomain,
    NearestNeighbourDomain,
    conformal_quantile,
    ledoit_wolf_shrinkage,
)

ALL = [
    pytest.param(lambda: NearestNeighbourDomain(quantile=0.99), id="nearest"),
    pytest.param(lambda: MahalanobisDomain(confidence=0.99), id="mahalanobis"),
    pytest.param(lambda: ConvexHullDomain(n_components=3), id="hull"),
]


def two_elements(n=300, seed=0):
    """Element 0 ~ N(0, I) in 3-D, element 1 ~ N(5, 0.3^2 I) stretched along one axis."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=(n, 3))
    x1 = 5.0 + 0.3 * rng.normal(size=(n, 3)) * np.array([3.0, 1.0, 0.5])
    return np.concatenate([x0, x1]), np.repeat([0, 1], n)


# ---------------------------------------------------------------------------- Mahalanobis
def correlated_gaussian(n, rng, eigenvalues=(4.0, 2.0, 1.0, 0.5, 0.2)):
    """Samples of a 5-D Gaussian with a fixed rotated (correlated) covariance."""
    q = np.linalg.qr(np.random.default_rng(100).normal(size=(5, 5)))[0]
    cov = q @ np.diag(eigenvalues) @ q.T
    mean = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
    return mean + rng.normal(size=(n, 5)) @ np.linalg.cholesky(cov).T, mean, cov


@pytest.mark.parametrize("confidence, tolerance", [(0.99, 0.004), (0.95, 0.01)])
def test_mahalanobis_false_positive_rate_matches_confidence(confidence, tolerance):
    rng = np.random.default_rng(1)
    train, mean, cov = correlated_gaussian(20000, rng)
    fresh = correlated_gaussian(20000, rng)[0]
    model = MahalanobisDomain(confidence=confidence).fit(train, np.zeros(20000, dtype=int), n_elements=1)
    # the training atoms' own T^2 at the conformal rank; for Gaussian features, close to chi^2's quantile
    assert model.threshold[0] == conformal_quantile(model.score(train, np.zeros(20000, dtype=int)), confidence)
    assert model.threshold[0] == pytest.approx(stats.chi2.ppf(confidence, df=5), rel=0.01)
    rate = model.flag(fresh, np.zeros(20000, dtype=int)).mean()
    assert abs(rate - (1 - confidence)) < tolerance

    # 10 sigma along the smallest-variance direction of the true distribution
    eigval, eigvec = np.linalg.eigh(cov)
    far = mean + 10.0 * np.sqrt(eigval[0]) * eigvec[:, 0]
    score = model.score(far[None], [0])[0]
    assert score == pytest.approx(100.0, rel=0.1)
    assert model.flag(far[None], [0])[0]
    # the same Euclidean step along the largest-variance direction is unremarkable
    assert model.score((mean + 10.0 * np.sqrt(eigval[0]) * eigvec[:, -1])[None], [0])[0] < 10.0


def test_mahalanobis_ill_conditioned_covariance_needs_no_shrinkage():
    """Shrinkage towards mu * I inflates tiny-variance directions: with a condition number of
    ~1e4 even the small Ledoit-Wolf intensity of 20000 samples under-flags, and shrinkage=0
    restores the nominal false-positive rate."""
    rng = np.random.default_rng(14)
    eigenvalues = (8.0, 2.0, 1.0, 0.1, 6e-4)
    train = correlated_gaussian(20000, rng, eigenvalues)[0]
    fresh = correlated_gaussian(20000, rng, eigenvalues)[0]
    zeros = np.zeros(20000, dtype=int)
    plain = MahalanobisDomain(confidence=0.99, shrinkage=0.0).fit(train, zeros, 1)
    assert abs(plain.flag(fresh, zeros).mean() - 0.01) < 0.004
    shrunk = MahalanobisDomain(confidence=0.99).fit(train, zeros, 1)
    assert 0 < shrunk.shrinkage_used[0] < 1e-3
    assert shrunk.flag(fresh, zeros).mean() < plain.flag(fresh, zeros).mean()


def test_mahalanobis_threshold_holds_its_rate_on_heavy_tailed_features():
    """Features with heavy tails (a multivariate Student t, 4 degrees of freedom): the chi^2
    threshold, right for Gaussian features only, flags several times the nominal rate of fresh
    in-distribution atoms; the conformal quantile of the training T^2 holds it."""
    rng = np.random.default_rng(21)
    n, d = 20000, 6

    def sample():
        return rng.normal(size=(n, d)) / np.sqrt(rng.chisquare(4, size=(n, 1)) / 4)

    train, fresh, zeros = sample(), sample(), np.zeros(n, dtype=int)
    for confidence in (0.99, 0.999):
        model = MahalanobisDomain(confidence=confidence).fit(train, zeros, 1)
        rate = model.flag(fresh, zeros).mean()
        chi2_rate = (model.score(fresh, zeros) > stats.chi2.ppf(confidence, df=d)).mean()
        assert abs(rate - (1 - confidence)) < 0.3 * (1 - confidence) + 0.001
        assert chi2_rate > 2.5 * (1 - confidence)


def test_conformal_quantile_rank():
    scores = np.random.default_rng(3).permutation(np.arange(1.0, 100.0))  # 1 .. 99
    assert conformal_quantile(scores, 0.9) == 90.0  # ceil(100 * 0.9) = 90th smallest
    assert conformal_quantile(scores, 0.99) == 99.0
    assert conformal_quantile(np.arange(1.0, 20.0), 0.9) == 18.0  # ceil(20 * 0.9) = 18, not 19 by round-off
    assert conformal_quantile([3.0, 1.0, 2.0], 0.99) == 3.0  # too few for the level: the largest


def test_mahalanobis_threshold_stored_in_a_file_is_kept():
    """A file written with the chi^2 threshold flags as it did."""
    x, s = two_elements(n=200)
    model = MahalanobisDomain(confidence=0.99).fit(x, s, n_elements=2)
    old = model.to_arrays()
    old["threshold"] = np.full(2, stats.chi2.ppf(0.99, df=3))
    rebuilt = MahalanobisDomain.from_arrays(old, model.params())
    np.testing.assert_array_equal(rebuilt.threshold, old["threshold"])
    np.testing.assert_array_equal(rebuilt.flag(x, s), model.score(x, s) > stats.chi2.ppf(0.99, df=3))


def test_ledoit_wolf_matches_reference_formula():
    """Independent transcription of the Ledoit-Wolf (2004) estimate (as in scikit-learn)."""
    rng = np.random.default_rng(2)
    for n, d in [(30, 10), (200, 4), (5, 8)]:
        x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
        xc = x - x.mean(axis=0)
        x2 = xc**2
        trace = x2.sum(axis=0) / n
        mu = trace.sum() / d
        beta_ = np.sum(x2.T @ x2)
        delta_ = np.sum((xc.T @ xc) ** 2) / n**2
        beta = (beta_ / n - delta_) / (d * n)
        delta = (delta_ - 2 * mu * trace.sum() + d * mu**2) / d
        expected = min(beta, delta) / delta
        assert ledoit_wolf_shrinkage(x) == pytest.approx(expected, rel=1e-10)
    # isotropic data needs little correction relative to its spread, few samples of a
    # correlated distribution need much more than many samples of it
    many, few = rng.normal(size=(5000, 6)), rng.normal(size=(12, 6))
    assert ledoit_wolf_shrinkage(few) > ledoit_wolf_shrinkage(many @ np.diag([5, 1, 1, 1, 1, 0.2]))


def test_mahalanobis_fixed_shrinkage_and_singular_covariance():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50, 3))
    x[:, 2] = 1.0  # constant feature: singular covariance
    model = MahalanobisDomain(shrinkage=0.0).fit(x, np.zeros(50, dtype=int), 1)
    assert np.all(np.isfinite(model.score(x, np.zeros(50, dtype=int))))
    assert model.flag(np.array([[0.0, 0.0, 1.01]]), [0])[0]
    full = MahalanobisDomain(shrinkage=1.0).fit(x, np.zeros(50, dtype=int), 1)
    c = np.cov(x.T, bias=True)
    np.testing.assert_allclose(full.covariance[0], np.trace(c) / 3 * np.eye(3), rtol=1e-9)


# ---------------------------------------------------------------------------- convex hull
def square_training(rng, n_inside=40):
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return np.concatenate([corners, rng.uniform(0.05, 0.95, size=(n_inside, 2))])


def test_hull_unit_square():
    rng = np.random.default_rng(4)
    train = square_training(rng)
    model = ConvexHullDomain(n_components=2).fit(train, np.zeros(len(train), dtype=int), 1)
    assert model.threshold[0] == pytest.approx(1.0, abs=1e-8)
    assert len(model.vertices) == 4  # only the corners enter the LPs

    inside = rng.uniform(0.02, 0.98, size=(20, 2))
    s_in = model.score(inside, np.zeros(20, dtype=int))
    assert np.all(s_in < 1.0) and not model.flag(inside, np.zeros(20, dtype=int)).any()
    assert not model.flag(train, np.zeros(len(train), dtype=int)).any()

    outside = np.array([[1.5, 0.5], [-0.2, -0.2]])
    assert np.all(model.score(outside, [0, 0]) > 1.1)
    assert model.flag(outside, [0, 0]).all()

    assert model.score(np.array([[1.0, 1.0]]), [0])[0] == pytest.approx(1.0, abs=1e-6)
    assert model.score(train.mean(axis=0)[None], [0])[0] == pytest.approx(0.0, abs=1e-9)


def test_hull_gauge_of_square_is_chebyshev_norm():
    """With only the corners, the centroid is (0.5, 0.5) and the gauge is 2 max|x - 0.5|."""
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    model = ConvexHullDomain(n_components=2).fit(corners, np.zeros(4, dtype=int), 1)
    x = np.random.default_rng(5).uniform(-1.0, 2.0, size=(25, 2))
    np.testing.assert_allclose(model.score(x, np.zeros(25, dtype=int)), 2 * np.abs(x - 0.5).max(axis=1), atol=1e-7)


def test_hull_unit_cube():
    rng = np.random.default_rng(6)
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)
    train = np.concatenate([corners, rng.uniform(0.1, 0.9, size=(60, 3))])
    model = ConvexHullDomain(n_components=3).fit(train, np.zeros(len(train), dtype=int), 1)
    inside = rng.uniform(0.03, 0.97, size=(15, 3))
    assert np.all(model.score(inside, np.zeros(15, dtype=int)) < 1.0)
    assert model.score(np.array([[1.0, 0.0, 1.0]]), [0])[0] == pytest.approx(1.0, abs=1e-6)
    assert model.score(np.array([[0.5, 0.5, 1.0]]), [0])[0] == pytest.approx(1.0, abs=1e-6)  # on a face
    assert model.score(train.mean(axis=0)[None], [0])[0] == pytest.approx(0.0, abs=1e-9)
    outside = np.array([[0.5, 0.5, 1.1], [1.2, 1.2, 1.2], [-0.05, 0.5, 0.5]])
    assert model.flag(outside, [0, 0, 0]).all()


def test_hull_flat_data_falls_back_to_all_points_and_off_plane_is_infinite():
    rng = np.random.default_rng(7)
    train = np.zeros((30, 3))
    train[:, :2] = rng.uniform(size=(30, 2))  # all on the plane z = 0: qhull fails in 3-D
    model = ConvexHullDomain(n_components=3).fit(train, np.zeros(30, dtype=int), 1)
    assert len(model.vertices) == 30
    assert not model.flag(train, np.zeros(30, dtype=int)).any()
    assert model.score(np.array([[0.5, 0.5, 0.3]]), [0])[0] == np.inf
    assert model.score(train.mean(axis=0)[None], [0])[0] == pytest.approx(0.0, abs=1e-9)


def test_hull_caps_components_and_projects():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(100, 2))
    assert ConvexHullDomain(n_components=5).fit(x, np.zeros(100, dtype=int), 1).components.shape == (1, 2, 2)
    # 6-D data with variance in 2 directions only beyond noise: 2 components see the hull there
    y = np.zeros((200, 6))
    y[:, :2] = rng.uniform(-1, 1, size=(200, 2))
    y[:, 2:] = 1e-3 * rng.normal(size=(200, 4))
    model = ConvexHullDomain(n_components=2).fit(y, np.zeros(200, dtype=int), 1)
    assert model.components.shape == (1, 2, 6)
    q = np.zeros((2, 6))
    q[1, 0] = 3.0
    assert model.flag(q, [0, 0]).tolist() == [False, True]


# ---------------------------------------------------------------------------- nearest neighbour
def test_nearest_training_points_never_flagged_and_far_point_flagged():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(400, 4)) * np.array([1.0, 10.0, 0.1, 3.0])
    model = NearestNeighbourDomain(quantile=0.95).fit(x, np.zeros(400, dtype=int), 1)
    np.testing.assert_array_equal(model.score(x, np.zeros(400, dtype=int)), 0.0)
    assert not model.flag(x, np.zeros(400, dtype=int)).any()
    far = np.array([[0.0, 0.0, 2.0, 0.0]])  # 20 sigma in the narrow feature
    assert model.score(far, [0])[0] > 10 * model.threshold[0]
    assert model.flag(far, [0])[0]


def test_nearest_threshold_and_score_against_brute_force():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(60, 3)) * np.array([2.0, 0.5, 7.0]) + np.array([1.0, -3.0, 0.0])
    model = NearestNeighbourDomain(quantile=0.9).fit(x, np.zeros(60, dtype=int), 1)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    dist = np.linalg.norm(z[:, None] - z[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    assert model.threshold[0] == pytest.approx(np.quantile(dist.min(axis=1), 0.9), rel=1e-12)

    q = rng.normal(size=(10, 3)) * 3
    zq = (q - x.mean(axis=0)) / x.std(axis=0)
    expected = np.linalg.norm(zq[:, None] - z[None], axis=-1).min(axis=1)
    np.testing.assert_allclose(model.score(q, np.zeros(10, dtype=int)), expected, rtol=1e-12)


def test_nearest_subsamples_to_max_points_reproducibly():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(500, 2))
    a = NearestNeighbourDomain(max_points=50, seed=3).fit(x, np.zeros(500, dtype=int), 1)
    b = NearestNeighbourDomain(max_points=50, seed=3).fit(x, np.zeros(500, dtype=int), 1)
    assert a.to_arrays()["points"].shape == (50, 2)
    np.testing.assert_array_equal(a.to_arrays()["points"], b.to_arrays()["points"])
    scores = a.score(x, np.zeros(500, dtype=int))
    assert np.sum(scores == 0.0) == 50  # exactly the kept points are at distance 0


# ---------------------------------------------------------------------------- all models
@pytest.mark.parametrize("make", ALL)
def test_each_element_judged_against_its_own_statistics(make):
    x, s = two_elements()
    model = make().fit(x, s, n_elements=2)
    typical = np.array([[5.0, 5.0, 5.0], [0.0, 0.0, 0.0]])  # element 1's and element 0's mean
    assert model.flag(typical, [1, 0]).tolist() == [False, False]
    assert model.flag(typical, [0, 1]).tolist() == [True, True]


@pytest.mark.parametrize("make", ALL)
def test_element_absent_from_training_is_out_of_domain(make):
    x, s = two_elements(n=100)
    model = make().fit(x, s, n_elements=3)
    assert np.isnan(model.threshold[2]) and model.counts.tolist() == [100, 100, 0]
    q = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    score = model.score(q, [2, 0, 2])
    assert score[0] == np.inf and score[2] == np.inf and np.isfinite(score[1])
    assert model.flag(q, [2, 0, 2]).tolist() == [True, False, True]
    # non-finite query features: out of domain, not an error
    assert model.score(np.array([[np.nan, 0.0, 0.0]]), [0])[0] == np.inf


@pytest.mark.parametrize("make", ALL)
def test_round_trip_through_arrays_and_safetensors(make, tmp_path):
    x, s = two_elements(n=150)
    model = make().fit(x, s, n_elements=3)
    arrays, params = model.to_arrays(), model.params()
    assert json.loads(json.dumps(params)) == params and params["name"] == model.name
    for key, value in arrays.items():
        assert "." not in key and isinstance(value, np.ndarray) and value.dtype in (np.float64, np.int64)

    q = np.concatenate([x[::10], np.random.default_rng(12).normal(size=(20, 3)) * 4])
    sq = np.random.default_rng(13).integers(0, 3, size=len(q))
    expected = model.score(q, sq)

    rebuilt = type(model).from_arrays(arrays, params)
    np.testing.assert_array_equal(rebuilt.score(q, sq), expected)
    np.testing.assert_array_equal(rebuilt.threshold, model.threshold)

    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    path = tmp_path / "domain.safetensors"
    safetensors_numpy.save_file({f"domain.{k}": v for k, v in arrays.items()}, str(path))
    loaded = {k.removeprefix("domain."): v for k, v in safetensors_numpy.load_file(str(path)).items()}
    again = DomainModel.from_arrays(loaded, json.loads(json.dumps(params)))
    assert type(again) is type(model) and again.params() == params
    np.testing.assert_array_equal(again.score(q, sq), expected)
    np.testing.assert_array_equal(again.flag(q, sq), model.flag(q, sq))


def test_registry_names():
    assert {name: cls.name for name, cls in DOMAIN_MODELS.items()} == {
        "nearest": "nearest",
        "mahalanobis": "mahalanobis",
        "hull": "hull",
    }


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make", ALL)
def test_bad_input_raises_value_error_naming_the_problem(make):
    x, s = two_elements(n=50)
    model = make()
    with pytest.raises(ValueError, match="not fitted"):
        model.score(x, s)
    with pytest.raises(ValueError, match="2-D"):
        model.fit(x[:, 0], s, 2)
    with pytest.raises(ValueError, match="shape mismatch"):
        model.fit(x, s[:-1], 2)
    bad = x.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        model.fit(bad, s, 2)
    with pytest.raises(ValueError, match="out of range"):
        model.fit(x, s, 1)
    with pytest.raises(ValueError, match="integers"):
        model.fit(x, s.astype(float), 2)
    with pytest.raises(ValueError, match="n_elements"):
        model.fit(x, s, 0)

    model.fit(x, s, 2)
    with pytest.raises(ValueError, match="fitted on 3 features"):
        model.score(x[:, :2], s)
    with pytest.raises(ValueError, match="out of range"):
        model.flag(x, np.full(len(x), 2))
    with pytest.raises(ValueError, match="out of range"):
        model.score(x[:1], [-1])
    with pytest.raises(ValueError, match="shape mismatch"):
        model.flag(x, s[:3])

    other = "hull" if model.name != "hull" else "nearest"
    with pytest.raises(ValueError, match="not"):
        type(model).from_arrays(model.to_arrays(), {**model.params(), "name": other})
    arrays = model.to_arrays()
    del arrays["threshold"]
    with pytest.raises(ValueError, match="missing key.*threshold"):
        DomainModel.from_arrays(arrays, model.params())
    with pytest.raises(ValueError, match="unknown domain model"):
        DomainModel.from_arrays(model.to_arrays(), {**model.params(), "name": "bogus"})


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="quantile"):
        NearestNeighbourDomain(quantile=0.0)
    with pytest.raises(ValueError, match="max_points"):
        NearestNeighbourDomain(max_points=1)
    with pytest.raises(ValueError, match="confidence"):
        MahalanobisDomain(confidence=1.0)
    with pytest.raises(ValueError, match="shrinkage"):
        MahalanobisDomain(shrinkage=1.5)
    with pytest.raises(ValueError, match="n_components"):
        ConvexHullDomain(n_components=0)


def test_element_with_too_few_atoms_is_treated_as_absent():
    x, s = two_elements(n=50)
    x, s = np.concatenate([x, [[9.0, 9.0, 9.0]]]), np.concatenate([s, [2]])
    with pytest.warns(UserWarning, match="fewer than 2"):
        model = NearestNeighbourDomain().fit(x, s, 3)
    assert model.flag(np.array([[9.0, 9.0, 9.0]]), [2])[0]

from __future__ import annotations

import numpy as np
import pytest

from ridgeline.uncertainty.calibration import (
    calibration_curve,
    calibration_summary,
    expected_calibration_error,
    fit_variance_scale,
    gaussian_nll,
    miscalibration_area,
    reliability_diagram,
    spearman,
)


def synthetic(alpha_true: float, n: int = 200_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sigmas = 10.0 ** rng.uniform(-2.0, -1.0, n)  # log-uniform over one decade
    errors = np.sqrt(alpha_true) * sigmas * rng.standard_normal(n)
    return errors, sigmas


def test_recalibration_of_overconfident_gaussian_data():
    errors, sigmas = synthetic(4.0)
    alpha = fit_variance_scale(errors, sigmas)
    assert alpha == pytest.approx(4.0, rel=0.02)
    assert expected_calibration_error(errors, sigmas) > 0.1
    assert expected_calibration_error(errors, sigmas, alpha) < 0.01
    assert miscalibration_area(errors, sigmas) > 0.1
    assert miscalibration_area(errors, sigmas, alpha) < 0.01
    assert gaussian_nll(errors, sigmas, alpha) < gaussian_nll(errors, sigmas)
    assert spearman(sigmas, np.abs(errors)) > 0.3

    summary = calibration_summary(errors, sigmas, alpha)
    assert set(summary) == {"alpha", "n", "nll_before", "nll_after", "ece_before", "ece_after",
                            "area_before", "area_after", "spearman"}
    assert summary["n"] == errors.size and type(summary["n"]) is int
    assert all(type(v) is float for k, v in summary.items() if k != "n")
    assert summary["alpha"] == alpha
    assert summary["ece_before"] > 0.1 > 0.01 > summary["ece_after"]
    assert summary["nll_after"] < summary["nll_before"]
    assert summary["area_after"] < 0.01
    assert summary["spearman"] > 0.3


def test_gaussian_nll_matches_scipy():
    errors, sigmas = synthetic(1.0, n=1000, seed=3)
    from scipy import stats

    expected = -np.mean(stats.norm.logpdf(errors, scale=np.sqrt(2.5) * sigmas))
    assert gaussian_nll(errors, sigmas, 2.5) == pytest.approx(expected, rel=1e-12)


def test_calibrated_data_follows_the_diagonal():
    errors, sigmas = synthetic(1.0, seed=1)
    expected, observed = calibration_curve(errors, sigmas)
    np.testing.assert_allclose(expected, np.linspace(0.01, 0.99, 99))
    assert np.max(np.abs(observed - expected)) < 0.01


@pytest.mark.parametrize("alpha_true, underestimates", [(0.25, True), (4.0, False)])
def test_detects_over_and_underconfidence(alpha_true, underestimates):
    errors, sigmas = synthetic(alpha_true, n=20_000, seed=2)
    expected, observed = calibration_curve(errors, sigmas, levels=[0.5])
    assert expected[0] == 0.5
    # sigmas too large (alpha_true < 1): more errors inside the interval than promised
    assert bool(observed[0] > expected[0]) is underestimates
    assert bool(observed[0] < expected[0]) is not underestimates


@pytest.mark.parametrize(
    "errors, sigmas, message",
    [
        (np.zeros(3), np.ones(4), "same shape"),
        (np.zeros((2, 3)), np.ones((3, 2)), "same shape"),
        (np.zeros(3), np.array([1.0, 0.0, 1.0]), "positive"),
        (np.zeros(3), np.array([1.0, -2.0, 1.0]), "positive"),
        (np.array([]), np.array([]), "empty"),
        (np.array([np.nan, 1.0]), np.array([1.0, np.inf]), "empty"),
    ],
)
def test_bad_input_raises(errors, sigmas, message):
    for fn in (fit_variance_scale, gaussian_nll, calibration_curve, expected_calibration_error,
               miscalibration_area):
        with pytest.raises(ValueError, match=message):
            fn(errors, sigmas)
    with pytest.raises(ValueError, match=message):
        calibration_summary(errors, sigmas, 1.0)


def test_bad_alpha_raises():
    with pytest.raises(ValueError, match="alpha"):
        gaussian_nll([0.1], [1.0], alpha=0.0)


def test_reliability_diagram_writes_png_atomically(tmp_path):
    errors, sigmas = synthetic(4.0, n=2000, seed=4)
    alpha = fit_variance_scale(errors, sigmas)
    curves = {"raw": calibration_curve(errors, sigmas), "scaled": calibration_curve(errors, sigmas, alpha)}
    path = reliability_diagram(curves, tmp_path / "reliability.png", title="test")
    assert path == tmp_path / "reliability.png"
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reliability.png"]


def test_non_finite_pairs_are_ignored():
    errors, sigmas = synthetic(2.0, n=5000, seed=5)
    dirty_e, dirty_s = errors.copy(), sigmas.copy()
    dirty_e[::7] = np.nan
    dirty_s[3::11] = np.nan
    dirty_e[5::13] = np.inf
    keep = np.isfinite(dirty_e) & np.isfinite(dirty_s)
    clean_e, clean_s = errors[keep], sigmas[keep]
    assert 0 < keep.sum() < keep.size

    assert fit_variance_scale(dirty_e, dirty_s) == fit_variance_scale(clean_e, clean_s)
    assert gaussian_nll(dirty_e, dirty_s, 2.0) == gaussian_nll(clean_e, clean_s, 2.0)
    np.testing.assert_array_equal(calibration_curve(dirty_e, dirty_s)[1], calibration_curve(clean_e, clean_s)[1])
    assert expected_calibration_error(dirty_e, dirty_s) == expected_calibration_error(clean_e, clean_s)
    assert miscalibration_area(dirty_e, dirty_s) == miscalibration_area(clean_e, clean_s)
    assert spearman(dirty_s, np.abs(dirty_e)) == spearman(clean_s, np.abs(clean_e))
    assert calibration_summary(dirty_e, dirty_s, 2.0) == calibration_summary(clean_e, clean_s, 2.0)


def test_area_criterion_recovers_alpha_on_gaussian_data():
    from ridgeline.uncertainty.calibration import fit_variance_scale

    rng = np.random.default_rng(7)
    sigma = np.exp(rng.uniform(np.log(0.01), np.log(0.1), 100000))
    errors = np.sqrt(4.0) * sigma * rng.standard_normal(sigma.size)
    assert fit_variance_scale(errors, sigma, criterion="area") == pytest.approx(4.0, rel=0.03)
    with pytest.raises(ValueError, match="criterion"):
        fit_variance_scale(errors, sigma, criterion="ece")


def test_roc_auc_against_pairwise_definition():
    from ridgeline.uncertainty.report import roc_auc

    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=300), 1)  # ties on purpose
    positive = rng.random(300) < 0.3
    pos, neg = scores[positive], scores[~positive]
    pairwise = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert roc_auc(scores, positive) == pytest.approx(pairwise, rel=1e-12)
    assert np.isnan(roc_auc(scores, np.zeros(300, bool)))


def _map_data(n=60_000, seed=11, alpha=4.0, power=1.0, floor=0.0):
    """Errors drawn from N(0, alpha sigma^(2 power) + floor^2), sigma log-uniform over four decades."""
    rng = np.random.default_rng(seed)
    sigma = 10.0 ** rng.uniform(-5.0, -1.0, n)
    var = alpha * sigma ** (2 * power) + floor**2
    return np.sqrt(var) * rng.standard_normal(n), sigma


@pytest.mark.parametrize("criterion", ["area", "nll"])
def test_variance_map_recovers_a_noise_floor(criterion):
    from ridgeline.uncertainty.calibration import apply_variance_map, fit_variance_map

    errors, sigma = _map_data(alpha=4.0, floor=1e-3)
    fit = fit_variance_map(errors, sigma, criterion=criterion, floor=True)
    assert fit["power"] == 1.0
    assert fit["alpha"] == pytest.approx(4.0, rel=0.05)
    assert fit["floor"] == pytest.approx(1e-3, rel=0.1)
    calibrated = np.sqrt(apply_variance_map(sigma**2, fit["alpha"], fit["power"], fit["floor"]))
    ece = expected_calibration_error(errors, calibrated)
    assert ece < 0.01
    # a scale alone cannot serve both ends: the errors of the small sigmas are the floor's
    alpha = fit_variance_scale(errors, sigma, criterion)
    assert expected_calibration_error(errors, sigma, alpha) > 3 * ece + 0.02


@pytest.mark.parametrize("criterion", ["area", "nll"])
def test_variance_map_recovers_a_power(criterion):
    from ridgeline.uncertainty.calibration import fit_variance_map

    errors, sigma = _map_data(alpha=0.5, power=0.8)
    fit = fit_variance_map(errors, sigma, criterion=criterion, floor=False, power=True)
    assert fit["power"] == pytest.approx(0.8, abs=0.02) and fit["floor"] == 0.0
    assert fit["alpha"] == pytest.approx(0.5, rel=0.2)
    # the median variance is mapped right (alpha alone correlates strongly with the power)
    v = np.median(sigma**2)
    assert fit["alpha"] * v ** fit["power"] == pytest.approx(0.5 * v**0.8, rel=0.05)


def test_variance_map_without_shape_is_the_plain_scale():
    from ridgeline.uncertainty.calibration import apply_variance_map, fit_variance_map

    errors, sigma = synthetic(4.0, n=50_000, seed=12)
    for criterion in ("area", "nll"):
        fit = fit_variance_map(errors, sigma, criterion=criterion, floor=False)
        assert fit == {"alpha": pytest.approx(fit_variance_scale(errors, sigma, criterion), rel=1e-3), "power": 1.0, "floor": 0.0,
                       "nu": None}
    # with a floor on data that need none: the floor stays below the smallest calibrated sigma and the
    # calibration is as good (the area hardly changes with a floor that small, so it is not 0)
    fit = fit_variance_map(errors, sigma, floor=True)
    assert fit["floor"] < 2.0 * sigma.min() and fit["alpha"] == pytest.approx(4.0, rel=0.1)
    calibrated = np.sqrt(apply_variance_map(sigma**2, fit["alpha"], 1.0, fit["floor"]))
    assert expected_calibration_error(errors, calibrated) < 0.01
    np.testing.assert_allclose(apply_variance_map([0.0, 4.0], 2.0, 0.5, 1.0), [1.0, 5.0])
    # zero sigmas are allowed with a floor only
    with pytest.raises(ValueError, match="positive"):
        fit_variance_map([0.1, 0.2], [0.0, 1.0], floor=False)
    assert fit_variance_map([1e-3, 0.2, -0.1, 0.05], [0.0, 1.0, 0.5, 0.2])["floor"] >= 0


def test_summary_with_calibrated_sigmas():
    errors, sigmas = synthetic(4.0, n=5000, seed=13)
    a = calibration_summary(errors, sigmas, 4.0)
    b = calibration_summary(errors, sigmas, 4.0, calibrated=2.0 * sigmas)
    assert a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize("criterion", ["area", "nll"])
def test_tails_recover_student_t_errors(criterion):
    """Errors drawn from a Student t (nu = 4) of standard deviation sqrt(alpha) sigma: the fit with
    tails finds nu and alpha, and its intervals are calibrated where a Gaussian's cannot be."""
    from scipy import stats

    from ridgeline.uncertainty.calibration import apply_variance_map, fit_variance_map, standard_distribution

    rng = np.random.default_rng(21)
    n, nu, alpha = 200_000, 4.0, 3.0
    sigma = 10.0 ** rng.uniform(-2.0, -1.0, n)
    errors = np.sqrt(alpha) * sigma * stats.t(nu).rvs(n, random_state=rng) / np.sqrt(nu / (nu - 2.0))
    fit = fit_variance_map(errors, sigma, criterion=criterion, floor=False, tails=True)
    assert fit["nu"] == 4.0
    assert fit["alpha"] == pytest.approx(alpha, rel=0.05)
    calibrated = np.sqrt(apply_variance_map(sigma**2, fit["alpha"]))
    ece_t = expected_calibration_error(errors, calibrated, nu=fit["nu"])
    gaussian = fit_variance_map(errors, sigma, criterion="area", floor=False)
    assert gaussian["nu"] is None
    assert ece_t < 0.005 and expected_calibration_error(errors, sigma, gaussian["alpha"]) > 2 * ece_t + 0.005
    # the likelihood under the t is the scipy density's; the unit-variance t has variance 1
    e, s = errors[:1000], calibrated[:1000]
    scale = s * np.sqrt((nu - 2.0) / nu)
    assert gaussian_nll(e, s, nu=nu) == pytest.approx(float(np.mean(-stats.t(nu, scale=scale).logpdf(e))), rel=1e-10)
    assert standard_distribution(nu).var() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="> 2"):
        standard_distribution(2.0)
    # Gaussian errors: the tails fit keeps a Gaussian or a t close to one
    g_err, g_sig = synthetic(2.0, n=100_000, seed=22)
    assert fit_variance_map(g_err, g_sig, floor=False, tails=True)["nu"] in (None, 30.0)


def test_interval_half_width():
    from scipy import stats

    from ridgeline.uncertainty.calibration import interval_half_width

    assert interval_half_width(2.0, 0.95) == pytest.approx(2.0 * 1.959964, rel=1e-5)
    np.testing.assert_allclose(interval_half_width([1.0, 3.0], 0.9, nu=5.0),
                               np.array([1.0, 3.0]) * stats.t(5.0).ppf(0.95) * np.sqrt(3.0 / 5.0))


@pytest.mark.parametrize("criterion", ["area", "nll"])
def test_variance_map_power_never_reverses_the_order(criterion):
    """Sigmas anti-correlated with the errors: a negative power would fit the calibration curve by
    ranking the atoms backwards; the power stays in POWER_RANGE."""
    from ridgeline.uncertainty.calibration import POWER_RANGE, fit_variance_map

    rng = np.random.default_rng(31)
    sigma = 10.0 ** rng.uniform(-3.0, -1.0, 50_000)
    errors = 1e-4 / sigma * rng.standard_normal(sigma.size)
    fit = fit_variance_map(errors, sigma, criterion=criterion, floor=False, power=True)  # unbounded: power -1
    assert POWER_RANGE[0] <= fit["power"] <= POWER_RANGE[1]


def test_area_objective_is_the_miscalibration_area():
    """The searches' objective gives miscalibration_area's numbers, bit for bit."""
    from ridgeline.uncertainty.calibration import AreaObjective

    errors, sigmas = synthetic(2.0, n=3000, seed=5)
    for nu in (None, 4.0):
        area = AreaObjective(errors, nu)
        for alpha in (0.5, 1.0, 3.0):
            assert area(sigmas, alpha) == miscalibration_area(errors, sigmas, alpha, nu)
        odd = sigmas.copy()
        odd[:2] = np.inf, np.nan  # pairs the general function drops
        assert area(odd) == miscalibration_area(errors, odd, nu=nu)
        with pytest.raises(ValueError, match="positive"):
            area(np.where(np.arange(sigmas.size) == 3, 0.0, sigmas))
    assert area.evaluations == 5


def test_variance_map_with_every_option_builds_each_distribution_once(monkeypatch):
    """With floor, power and tails the area is evaluated thousands of times; building the scipy
    distribution and its quantiles on each evaluation took 90% of the time (2 min 18 s for 9
    validation frames): they are built once per degrees of freedom tried."""
    from ridgeline.uncertainty import calibration

    monkeypatch.setattr(calibration, "NU_GRID", (3.0, 10.0, None))
    built, evaluations = [], []
    standard, within = calibration.standard_distribution, getattr(calibration, "_observed_within", None)
    monkeypatch.setattr(calibration, "standard_distribution", lambda nu=None: built.append(nu) or standard(nu))
    monkeypatch.setattr(calibration, "_observed_within", lambda *a: evaluations.append(1) or within(*a), raising=False)
    rng = np.random.default_rng(7)
    sigmas = 10.0 ** rng.uniform(-2.0, -1.0, 2000)
    errors = 1.5 * sigmas * rng.standard_t(4, sigmas.size)
    fmap = calibration.fit_variance_map(errors, sigmas, "area", floor=True, power=True, tails=True, progress=True)
    assert len(built) <= 2 * 3
    assert len(evaluations) > 5000
    assert fmap["nu"] in (3.0, 10.0, None) and fmap["alpha"] > 0 and fmap["floor"] >= 0

"""Butler-Volmer from barriers at several potentials: a noise-free line gives alpha exactly, the
standard errors are the weighted-least-squares formulas and match the scatter of refits to noisy
barriers, the Tafel slope and the rate's log-normal band, the field variant, and bad input."""

import numpy as np
import pytest

from ridgeline.errors import ConfigError
from ridgeline.properties.electrochemistry import butler_volmer
from ridgeline.properties.rates import KB, PLANCK

U = np.array([-0.2, 0.0, 0.3, 0.5, 0.8])
SIGMAS = np.array([0.05, 0.03, 0.04, 0.06, 0.05])


def line(alpha=0.45, barrier0=0.7, reference=0.1, sign=-1.0):
    return barrier0 + sign * alpha * (U - reference)


def test_a_line_gives_alpha_exactly():
    result = butler_volmer(U, line(), SIGMAS, temperature=300.0, reference=0.1)
    assert result.alpha.value == pytest.approx(0.45, abs=1e-12)
    assert result.barrier_at_reference.value == pytest.approx(0.7, abs=1e-12)
    assert result.chi_squared == pytest.approx(0.0, abs=1e-18) and result.degrees_of_freedom == 3 and not result.warnings
    kt = KB * 300.0
    assert result.tafel_slope.value == pytest.approx(np.log(10) * kt / 0.45 * 1000, rel=1e-12)
    assert 125 < result.tafel_slope.value < 140  # mV/decade: ~119 mV/dec at alpha = 1/2, room temperature
    assert result.rate_at_reference.value == pytest.approx(kt / PLANCK * np.exp(-0.7 / kt), rel=1e-10)
    cathodic = butler_volmer(U, line(sign=1.0), SIGMAS, temperature=300.0, reference=0.1, process="cathodic")
    assert cathodic.alpha.value == pytest.approx(0.45, abs=1e-12)
    k, _, _ = cathodic.rate([0.1, 0.3])
    assert np.log(k[0] / k[1]) == pytest.approx(0.45 * 0.2 / kt, rel=1e-10)  # a reduction slows as U rises


def test_standard_errors_are_the_weighted_least_squares_formulas():
    result = butler_volmer(U, line(), SIGMAS, reference=0.1)
    x, w = U - 0.1, 1 / SIGMAS**2
    s, sx, sxx = w.sum(), (w * x).sum(), (w * x * x).sum()
    delta = s * sxx - sx**2
    assert result.alpha.sigma == pytest.approx(np.sqrt(s / delta), rel=1e-10)
    assert result.barrier_at_reference.sigma == pytest.approx(np.sqrt(sxx / delta), rel=1e-10)
    assert result.covariance[0, 1] == pytest.approx(-sx / delta, rel=1e-10)
    lower, upper = result.tafel_slope.lower, result.tafel_slope.upper  # alpha's interval mapped through b(alpha)
    assert lower == pytest.approx(np.log(10) * KB * 298.15 / result.alpha.upper * 1000, rel=1e-12)
    assert upper == pytest.approx(np.log(10) * KB * 298.15 / result.alpha.lower * 1000, rel=1e-12)


def test_refits_of_noisy_barriers_scatter_as_the_standard_errors_say():
    rng = np.random.default_rng(3)
    alphas, log_rates = [], []
    for _ in range(2000):
        noisy = line() + rng.normal(0.0, SIGMAS)
        fit = butler_volmer(U, noisy, SIGMAS, temperature=300.0, reference=0.1)
        alphas.append(fit.alpha.value)
        log_rates.append(np.log(fit.rate([0.6])[0][0]))
    reference = butler_volmer(U, line(), SIGMAS, temperature=300.0, reference=0.1)
    assert np.std(alphas) == pytest.approx(reference.alpha.sigma, rel=0.07)
    assert np.mean(alphas) == pytest.approx(0.45, abs=3 * reference.alpha.sigma / np.sqrt(2000))
    # the rate's log-normal band at U = 0.6 V covers the refits' rates as often as it says
    k, lower, upper = reference.rate([0.6])
    inside = np.mean((np.log(lower[0]) <= log_rates) & (np.array(log_rates) <= np.log(upper[0])))
    assert inside == pytest.approx(0.95, abs=0.015)


def test_scatter_beyond_the_sigmas_is_flagged():
    bumpy = line() + np.array([0.0, 0.2, -0.2, 0.2, 0.0])
    assert any("do not lie on a line" in w for w in butler_volmer(U, bumpy, SIGMAS).warnings)


def test_a_field_gives_a_dipole_difference_and_no_tafel_slope(tmp_path):
    fields = np.array([-0.5, 0.0, 0.5])  # V/Å
    result = butler_volmer(fields, 0.6 - 0.12 * fields, [0.02] * 3, variable="field")
    assert result.alpha.value == pytest.approx(0.12, abs=1e-12) and result.alpha.unit == "e Å"
    assert result.tafel_slope is None and set(result.estimates()) == {"dipole_difference", "barrier_at_reference",
                                                                      "rate_at_reference"}
    result.plot(tmp_path / "bv.png")
    assert (tmp_path / "bv.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, kwargs, message", [
    (([0.1], [0.5], [0.05]), {}, "two or more different potentials"),
    (([0.1, 0.1], [0.5, 0.4], [0.05, 0.05]), {}, "two or more different potentials"),
    (([0.0, 0.1], [0.5, 0.4], [0.05, 0.0]), {}, "positive sigma"),
    (([0.0, 0.1], [0.5, 0.4], [0.05]), {}, "one entry each"),
    (([0.0, 0.1], [0.5, 0.4], [0.05, 0.05]), {"process": "anode"}, "process must be one of anodic, cathodic"),
    (([0.0, 0.1], [0.5, 0.4], [0.05, 0.05]), {"variable": "voltage"}, "variable must be one of potential, field"),
])
def test_bad_input(args, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        butler_volmer(*args, **kwargs)


def test_a_barrier_that_rises_with_an_anodic_potential_has_no_tafel_slope():
    result = butler_volmer(U, line(sign=1.0), SIGMAS)
    assert result.alpha.value < 0 and result.tafel_slope is None and "is the process right" in result.warnings[0]

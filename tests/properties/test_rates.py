"""Harmonic transition-state theory: the formulas on hand-made modes (the quantum rate's classical
limit, Eyring, Arrhenius), the log-normal interval, and a Cu adatom hop on Cu(100) with EMT (a
NEB's climbing image as the saddle): Vineyard's prefactor in the physical range, rates that follow
Arrhenius exactly, the barrier's sigma carried into ln k, and wrong saddles refused."""

import numpy as np
import pytest
from ase.build import add_adsorbate, fcc100
from ase.calculators.emt import EMT

from ridgeline.errors import ConfigError
from ridgeline.properties.estimates import Uncertainty, make_estimate
from ridgeline.properties.paths import neb
from ridgeline.properties.rates import (KB, PLANCK, arrhenius_fit, eyring, harmonic_rate, log_quantum_rate,
                                        log_vineyard_prefactor, lognormal_interval)


def test_one_mode_rates_by_hand():
    """A minimum with one mode of quantum h nu = 0.03 eV, a saddle with none: Vineyard's
    prefactor is nu; the quantum rate is (kT/h) 2 sinh(h nu / 2kT) exp(-dE/kT), which tends to
    the classical one as kT grows."""
    quantum, barrier = 0.03, 0.5
    assert np.exp(log_vineyard_prefactor([quantum], [])) == pytest.approx(quantum / PLANCK, rel=1e-12)
    for t in (50.0, 300.0):
        kt = KB * t
        want = kt / PLANCK * 2 * np.sinh(quantum / (2 * kt)) * np.exp(-barrier / kt)
        assert np.exp(log_quantum_rate([quantum], [], barrier, t)) == pytest.approx(want, rel=1e-10)
    hot = 1e5
    classical = quantum / PLANCK * np.exp(-barrier / (KB * hot))
    assert np.exp(log_quantum_rate([quantum], [], barrier, hot)) == pytest.approx(classical, rel=1e-4)
    with pytest.raises(ConfigError, match="one real mode more"):
        log_vineyard_prefactor([0.01, 0.02], [0.01, 0.02])


def test_eyring_and_arrhenius():
    t = np.array([300.0, 400.0, 600.0])
    k = eyring(0.7, t)
    assert k[0] == pytest.approx(KB * 300 / PLANCK * np.exp(-0.7 / (KB * 300)), rel=1e-12)
    fit = arrhenius_fit(t, 1e13 * np.exp(-0.45 / (KB * t)))
    assert fit["activation_energy"] == pytest.approx(0.45, rel=1e-10) and fit["prefactor"] == pytest.approx(1e13, rel=1e-8)
    with pytest.raises(ConfigError, match="temperatures"):
        eyring(0.7, [300.0, -5.0])
    with pytest.raises(ConfigError, match="two or more"):
        arrhenius_fit([300.0], [1.0])


def test_lognormal_interval_never_goes_negative():
    """A linear interval of 0.064 +- 0.311 reaches below zero; the rate's log-normal one is
    positive, contains the rate, and is asymmetric as the exponential is."""
    lower, upper = lognormal_interval(0.064, 1.5)
    assert 0 < lower < 0.064 < upper and upper / 0.064 == pytest.approx(0.064 / lower, rel=1e-12)
    assert upper / 0.064 == pytest.approx(np.exp(1.959964 * 1.5), rel=1e-6)


def adatom_hop():
    slab = fcc100("Cu", size=(2, 2, 2), vacuum=6.0)
    add_adsorbate(slab, "Cu", 1.7, "hollow")
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / 2
    return slab, final


@pytest.fixture(scope="module")
def hop():
    path = neb(*adatom_hop(), EMT(), images=3, fmax=0.01, steps=1000)
    assert path.converged
    return path.images[0], path.images[path.climbing_image]


class KnownBarrierSigma(Uncertainty):
    """An uncertainty that gives the barrier a known calibrated sigma (the propagation under test)."""

    def __init__(self, sigma):
        super().__init__(EMT())
        self.available, self.sigma = True, sigma

    def energies(self, observable, structures, unit, value=None, out_of_domain=None):
        return make_estimate(value, unit, self.sigma, self.confidence, "linearised", out_of_domain)


def test_adatom_hop_rates(hop):
    minimum, saddle = hop
    temperatures = [300.0, 500.0, 800.0]
    result = harmonic_rate(minimum, saddle, EMT(), temperatures, method="finite_differences")
    assert 0.2 < result.barrier.value < 0.8 and result.barrier.sigma is None and result.lower is None
    assert 1e11 < result.prefactor < 1e14  # an attempt frequency: THz
    assert np.sum(result.saddle_frequencies_cm < 0) == 1 and np.all(result.minimum_frequencies_cm > 0)
    fit = arrhenius_fit(temperatures, result.classical)
    assert fit["activation_energy"] == pytest.approx(result.barrier.value, rel=1e-9)
    assert fit["prefactor"] == pytest.approx(result.prefactor, rel=1e-7)
    hot = harmonic_rate(minimum, saddle, EMT(), [20000.0], method="finite_differences")
    assert hot.quantum[0] == pytest.approx(hot.classical[0], rel=1e-3)  # the classical limit
    assert result.to_dict()["prefactor"] == result.prefactor


def test_the_barriers_sigma_becomes_a_lognormal_rate_interval(hop, tmp_path):
    minimum, saddle = hop
    result = harmonic_rate(minimum, saddle, EMT(), [300.0, 600.0], method="finite_differences",
                           uncertainty=KnownBarrierSigma(0.05))
    np.testing.assert_allclose(result.sigma_ln_rate, 0.05 / (KB * np.array([300.0, 600.0])), rtol=1e-12)
    assert np.all(result.lower > 0) and np.all(result.lower < result.classical) and np.all(result.classical < result.upper)
    assert result.estimates()["rate_300K"].upper == pytest.approx(result.upper[0])
    result.plot(tmp_path / "arrhenius.png")
    assert (tmp_path / "arrhenius.png").stat().st_size > 0


def test_a_minimum_is_not_a_saddle(hop):
    minimum, _ = hop
    with pytest.raises(ConfigError, match="the saddle has 0 imaginary mode"):
        harmonic_rate(minimum, minimum, EMT(), [300.0], method="finite_differences")
    with pytest.raises(ConfigError, match="same atoms"):
        harmonic_rate(minimum, minimum[:-1], EMT(), [300.0], method="finite_differences")


def test_the_rate_interval_of_a_gaussian_barrier_against_monte_carlo(hop):
    """Barriers drawn from N(dE, sigma) and pushed through k = nu* exp(-dE/kT): the draws' central
    quantiles are the log-normal interval's ends, and the interval holds its share of the draws."""
    minimum, saddle = hop
    temperatures, sigma = np.array([300.0, 700.0]), 0.06
    result = harmonic_rate(minimum, saddle, EMT(), temperatures, method="finite_differences",
                           uncertainty=KnownBarrierSigma(sigma))
    barriers = np.random.default_rng(7).normal(result.barrier.value, sigma, size=200_000)
    for k, t in enumerate(temperatures):
        rates = result.prefactor * np.exp(-barriers / (KB * t))
        low, high = np.quantile(rates, [0.025, 0.975])
        s = sigma / (KB * t)  # the sigma of ln k
        assert np.log(result.lower[k] / low) == pytest.approx(0.0, abs=0.03 * s)
        assert np.log(result.upper[k] / high) == pytest.approx(0.0, abs=0.03 * s)
        assert np.mean((result.lower[k] <= rates) & (rates <= result.upper[k])) == pytest.approx(0.95, abs=0.003)
        assert np.median(rates) == pytest.approx(result.classical[k], rel=0.02 * s)  # the rate of the mean barrier
    # the linear interval k +- z sigma_k of the same draws goes below zero at 300 K; the log-normal one cannot
    cold = result.prefactor * np.exp(-barriers / (KB * 300.0))
    assert np.mean(cold) - 1.96 * np.std(cold) < 0 < result.lower[0]

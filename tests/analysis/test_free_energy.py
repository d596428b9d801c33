"""The free-energy estimators on samples drawn exactly from known distributions: the MBAR profile of
umbrella windows on a double well (also a periodic one), the overlap diagnostics, the time-series
error, and the quadratures."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units

from ridgeline.analysis.free_energy import (MIN_OVERLAP, integrate, quadrature, reweighted_profiles, timeseries_mean,
                                            umbrella_profile)
from ridgeline.errors import ConfigError, DataError

T = 300.0
KT = units.kB * T


def double_well(s):
    return 0.15 * ((s / 1.0) ** 2 - 1.0) ** 2  # eV: minima at ±1, barrier 0.15 eV (5.8 kT)


def draw(free_energy, bias, grid, n, rng):
    """n exact samples of p(s) ∝ exp(-(F + bias)/kT) on a fine grid (inverse CDF)."""
    logp = -(free_energy(grid) + bias(grid)) / KT
    p = np.exp(logp - logp.max())
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    return np.interp(rng.random(n), cdf, grid)


def windows(free_energy, centers, k, grid, n, seed=0, period=None):
    rng = np.random.default_rng(seed)
    def wrap(d):
        return (d + 0.5 * period) % period - 0.5 * period if period else d
    return [draw(free_energy, lambda s, c=c: 0.5 * k * wrap(s - c) ** 2, grid, n, rng) for c in centers]


def test_umbrella_profile_recovers_a_double_well_within_its_errors():
    centers = np.linspace(-1.6, 1.6, 17)
    grid = np.linspace(-2.5, 2.5, 20001)
    samples = windows(double_well, centers, 3.0, grid, 2000)
    profile = umbrella_profile(samples, centers, 3.0, T, bins=np.linspace(-1.6, 1.6, 33))
    ok = np.isfinite(profile.free_energy)
    assert ok.sum() >= 30
    s = profile.bin_centers[ok]
    # the exact profile averaged over each bin, aligned at the profile's reference (its lowest bin)
    exact = np.array([-KT * np.log(np.mean(np.exp(-double_well(np.linspace(a - 0.05, a + 0.05, 201)) / KT)))
                      for a in s])
    shift = np.mean(profile.free_energy[ok] - exact)
    deviation = profile.free_energy[ok] - exact - shift
    err = np.maximum(profile.error[ok], 1e-4)
    assert np.sqrt(np.mean((deviation / err) ** 2)) < 2.0  # errors are honest: chi per bin about 1
    assert np.abs(deviation).max() < 0.01  # eV
    barrier, barrier_err = profile.barrier(-1.2, 0.0)
    assert barrier == pytest.approx(0.15, abs=max(4 * barrier_err, 0.006))
    assert profile.gaps == [] and np.all(profile.neighbour_overlap > MIN_OVERLAP)
    assert np.all(profile.inefficiency < 1.5)  # iid samples


def test_umbrella_profile_flags_windows_that_do_not_overlap():
    centers = np.array([-1.2, -1.0, 1.0, 1.2])
    grid = np.linspace(-2.5, 2.5, 20001)
    profile = umbrella_profile(windows(double_well, centers, 3.0, grid, 500), centers, 3.0, T)
    assert profile.gaps == [(-1.0, 1.0)]
    assert profile.neighbour_overlap[1] < MIN_OVERLAP < profile.neighbour_overlap[0]


def test_umbrella_profile_of_a_periodic_cv_wraps_the_bias():
    def torsion(phi):
        return 0.05 * (1 + np.cos(3 * phi))  # a threefold torsion, barriers 0.1 eV at 0, ±2π/3

    period = 2 * np.pi
    centers = np.linspace(-np.pi, np.pi, 24, endpoint=False)
    grid = np.linspace(-np.pi, np.pi, 40001)
    samples = windows(torsion, centers, 2.0, grid, 1500, seed=1, period=period)
    profile = umbrella_profile(samples, centers, 2.0, T, bins=36, period=period)
    ok = np.isfinite(profile.free_energy)
    assert ok.all()
    width = 2 * np.pi / 36
    exact = np.array([-KT * np.log(np.mean(np.exp(-torsion(np.linspace(a - width / 2, a + width / 2, 101)) / KT)))
                      for a in profile.bin_centers])
    deviation = profile.free_energy - exact - np.mean(profile.free_energy - exact)
    assert np.abs(deviation).max() < 0.01
    # the windows at -π and just below +π are neighbours through the period
    assert profile.overlap[0, -1] > MIN_OVERLAP


def test_umbrella_profile_errors_name_the_window():
    with pytest.raises(DataError, match=r"window 1 \(centre 0.5\)"):
        umbrella_profile([np.zeros(10), np.array([np.nan, 1.0])], [0.0, 0.5], 1.0, T)
    with pytest.raises(ConfigError, match="one sample array per window"):
        umbrella_profile([np.zeros(10)], [0.0, 0.5], 1.0, T)


def test_timeseries_mean_error_of_a_correlated_series_is_honest():
    rng = np.random.default_rng(3)
    # AR(1) with rho = 0.9: g = (1 + rho) / (1 - rho) = 19
    means, errors, gs = [], [], []
    for _ in range(40):
        x = np.zeros(4000)
        for t in range(1, x.size):
            x[t] = 0.9 * x[t - 1] + rng.normal()
        m, e, g = timeseries_mean(x)
        means.append(m)
        errors.append(e)
        gs.append(g)
    assert np.mean(gs) == pytest.approx(19.0, rel=0.25)
    # the spread of the means over independent runs matches the reported error
    assert np.std(means) == pytest.approx(np.mean(errors), rel=0.3)


def test_quadratures_integrate_polynomials():
    x, w = quadrature("gauss_legendre", 4)
    assert integrate(w, x**7, np.zeros(4))[0] == pytest.approx(1 / 8, rel=1e-12)  # degree 2n - 1
    x, w = quadrature("trapezoid", 11)
    assert integrate(w, x, np.zeros(11))[0] == pytest.approx(0.5, rel=1e-12)
    value, error = integrate(w, np.ones(11), np.full(11, 0.1))
    assert value == pytest.approx(1.0) and error == pytest.approx(0.1 * np.sqrt(np.sum(w**2)))
    with pytest.raises(ConfigError, match="unknown quadrature 'simpson'"):
        quadrature("simpson", 5)


def test_reweighting_to_a_perturbed_hamiltonian_adds_the_perturbation():
    # samples of the double well, reweighted by dU(s) = 0.05 s: the profile becomes F(s) + 0.05 s
    centers = np.linspace(-1.6, 1.6, 17)
    grid = np.linspace(-2.5, 2.5, 20001)
    samples = windows(double_well, centers, 3.0, grid, 2000, seed=4)
    edges = np.linspace(-1.6, 1.6, 33)
    x = np.concatenate(samples)
    tilt = 0.05 * x
    f0, fd, ess = reweighted_profiles(samples, centers, 3.0, T, edges, np.stack([tilt, 2 * tilt]), reference=-1.0)
    mids = 0.5 * (edges[1:] + edges[:-1])
    ok = np.isfinite(f0)
    ref = mids[np.argmin(np.abs(mids + 1.0))]
    def exact(slope):  # -kT ln of the tilted distribution in each bin, zero at the reference bin
        f = np.array([-KT * np.log(np.mean(np.exp(-(double_well(g) + slope * g) / KT)))
                      for g in (np.linspace(a - 0.05, a + 0.05, 201) for a in mids)])
        return f - f[np.argmin(np.abs(mids - ref))]

    for row, slope in zip(fd, (0.05, 0.1)):
        np.testing.assert_allclose((row - f0)[ok], (exact(slope) - exact(0.0))[ok], atol=2e-3)
    assert f0[np.argmin(np.abs(mids + 1.0))] == 0.0
    assert ess.shape == (2, len(mids))
    assert np.all(ess[:, ok] > 0.9) and np.all(ess[:, ok] < 1.1)  # a gentle tilt keeps the samples
    assert np.median(ess[1, ok]) < np.median(ess[0, ok])  # a larger one keeps fewer
    # energies spread over many kT from sample to sample: a few samples take each bin's weight
    noise = np.random.default_rng(0).normal(0.0, 10 * KT, x.size)
    assert np.median(reweighted_profiles(samples, centers, 3.0, T, edges, noise[None], reference=-1.0)[2]) < 0.1

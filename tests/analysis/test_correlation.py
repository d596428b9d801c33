"""Autocorrelations, VACF and VDOS of synthetic harmonic oscillators, and Green-Kubo of an
Ornstein-Uhlenbeck signal against its analytic integral sigma^2 tau."""

import numpy as np
import pytest
from ase import Atoms, units

from ridgeline.analysis import autocorrelation, green_kubo, vacf, vdos
from ridgeline.errors import DataError


def test_autocorrelation_is_the_average_over_time_origins():
    x = np.random.default_rng(0).normal(size=(50, 4, 3))
    direct = np.array([np.mean(np.sum(x[m:] * x[:50 - m], axis=(1, 2))) for m in range(50)])
    np.testing.assert_allclose(autocorrelation(x), direct, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(autocorrelation(x, columns_per_fft=5), direct, rtol=1e-9, atol=1e-12)  # in chunks
    scalar = x[:, 0, 0]
    np.testing.assert_allclose(autocorrelation(scalar)[3], np.mean(scalar[3:] * scalar[:-3]))


def _oscillators(frequencies_thz, n_each=20, n_frames=2000, dt_fs=2.0, seed=0):
    """Frames of independent harmonic oscillators (random amplitudes and phases) with velocities."""
    rng = np.random.default_rng(seed)
    symbols, omega = [], []
    for element, f in frequencies_thz.items():
        symbols += [element] * n_each
        omega += [2 * np.pi * f / 1000.0] * n_each  # rad/fs
    omega = np.array(omega)[None, :, None]
    t = (np.arange(n_frames) * dt_fs)[:, None, None]
    amplitude = rng.uniform(0.05, 0.1, (1, len(symbols), 3))
    phase = rng.uniform(0, 2 * np.pi, (1, len(symbols), 3))
    x = amplitude * np.cos(omega * t + phase)
    v = -amplitude * omega * np.sin(omega * t + phase)  # Å/fs
    frames = []
    for positions, velocities in zip(x + 5.0, v):
        atoms = Atoms(symbols, positions=positions, cell=[10.0] * 3, pbc=True)
        atoms.set_velocities(velocities / units.fs)
        frames.append(atoms)
    return frames, v


def test_vdos_of_harmonic_oscillators_peaks_at_their_frequencies():
    frames, v = _oscillators({"H": 20.0, "O": 5.0})
    correlation = vacf(frames, dt=2.0)
    assert correlation.time_ps[1] == pytest.approx(0.002)
    # unnormalised VACF(0) = <|v|^2> per atom; the normalised one starts at 1
    assert correlation.vacf["all"][0] == pytest.approx(np.mean(np.sum(v ** 2, axis=-1)), rel=1e-9)
    assert correlation.normalised["O"][0] == pytest.approx(1.0)
    # <v(0).v(t)> of an oscillator is <|v|^2> cos(omega t): zero at a quarter period of O (50 fs)
    assert abs(correlation.normalised["O"][25]) < 0.05
    dos = vdos(correlation)
    assert dos.peak_thz("H") == pytest.approx(20.0, abs=0.1)
    assert dos.peak_thz("O") == pytest.approx(5.0, abs=0.1)
    assert dos.frequency_cm1[np.argmax(dos.dos["O"])] == pytest.approx(5.0 * 33.356, abs=4.0)
    assert np.trapezoid(dos.dos["all"], dos.frequency_thz) == pytest.approx(1.0)
    assert set(dos.to_dict()) == {"frequency_thz", "frequency_cm1", "dos"}


def test_total_vdos_counts_every_mode_once():
    # thermal oscillators: velocity amplitude sqrt(kT/m) per component, so every degree of freedom
    # carries the same kinetic energy; H (1 amu) at 20 THz and O (16 amu) at 5 THz, as many of each
    rng = np.random.default_rng(1)
    n_frames, dt_fs = 2000, 2.0
    symbols = ["H"] * 20 + ["O"] * 20
    masses = Atoms(symbols).get_masses()
    omega = np.where(np.array(symbols) == "H", 20.0, 5.0) * 2 * np.pi / 1000.0  # rad/fs
    t = (np.arange(n_frames) * dt_fs)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (1, 40, 3))
    v = -np.sqrt(1.0 / masses)[None, :, None] * np.sin(omega[None, :, None] * t + phase)
    frames = []
    for velocities in v:
        atoms = Atoms(symbols, positions=rng.uniform(0, 10.0, (40, 3)), cell=[10.0] * 3, pbc=True)
        atoms.set_velocities(velocities / units.fs)
        frames.append(atoms)
    correlation = vacf(frames, dt=dt_fs)
    expected = np.mean(np.sum(masses[None, :, None] * v ** 2, axis=-1))
    assert correlation.mass_weighted[0] == pytest.approx(expected, rel=1e-9)
    dos = vdos(correlation)
    low = dos.frequency_thz < 12.5
    share = np.trapezoid(dos.dos["all"][low], dos.frequency_thz[low])
    assert share == pytest.approx(0.5, abs=0.03)  # unweighted, H's 16-fold kinetic energy would take 94 %
    np.testing.assert_allclose(dos.dos["all"], 0.5 * dos.dos["H"] + 0.5 * dos.dos["O"], atol=0.02 * dos.dos["all"].max())


def test_vacf_needs_velocities():
    frames = [Atoms("Ar2", positions=[[0, 0, 0], [2, 0, 0]]) for _ in range(5)]
    with pytest.raises(DataError, match="frame 0 has no velocities"):
        vacf(frames, dt=1.0)


def test_green_kubo_of_an_ornstein_uhlenbeck_signal():
    sigma, tau, dt, n = 1.5, 0.5, 0.05, 400_000
    rng = np.random.default_rng(4)
    decay = np.exp(-dt / tau)
    kicks = rng.normal(size=n) * sigma * np.sqrt(1 - decay ** 2)
    x = np.empty(n)
    x[0] = rng.normal() * sigma
    for k in range(1, n):  # exact discretisation of dx = -x/tau dt + noise
        x[k] = decay * x[k - 1] + kicks[k]
    acf = autocorrelation(x)[:400]  # to 20 tau
    assert acf[0] == pytest.approx(sigma ** 2, rel=0.02)
    result = green_kubo(acf, dt)
    assert result.value == pytest.approx(sigma ** 2 * tau, rel=0.05)
    assert 2 * tau < result.cutoff < 20 * tau  # the first zero crossing, in the noise
    fixed = green_kubo(acf, dt, cutoff=5 * tau)
    assert fixed.cutoff == pytest.approx(5 * tau)
    assert fixed.value == pytest.approx(sigma ** 2 * tau * (1 - np.exp(-5)), rel=0.05)
    # the running integral follows sigma^2 tau (1 - exp(-t/tau)) where the signal dominates the noise
    early = result.time <= tau
    np.testing.assert_allclose(result.running_integral[early], sigma ** 2 * tau * (1 - np.exp(-result.time[early] / tau)),
                               atol=0.03 * sigma ** 2 * tau)
    with pytest.raises(DataError, match="cutoff"):
        green_kubo(acf, dt, cutoff=100.0)

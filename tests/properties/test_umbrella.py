"""Umbrella sampling on a pair with a double-well bond: the profile against the exact
F(r) = V(r) - 2 kT ln r, the windows' diagnostics, resuming, and the errors."""

from __future__ import annotations

import concurrent.futures as cf

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes

from ridgeline.errors import ConfigError
from ridgeline.properties.umbrella import umbrella_sampling, window_centers
from ridgeline.simulate.colvars import Distance

T = 300.0
KT = units.kB * T


class DoubleWellBond(Calculator):
    """V(r) = h ((r - r0)^2 / w^2 - 1)^2 between atoms 0 and 1: minima at r0 ± w, barrier h."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, h=0.1, r0=3.0, w=0.5):
        super().__init__()
        self.h, self.r0, self.w = h, r0, w

    def potential(self, r):
        return self.h * ((r - self.r0) ** 2 / self.w**2 - 1.0) ** 2

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        d = self.atoms.positions[1] - self.atoms.positions[0]
        r = np.linalg.norm(d)
        x = (r - self.r0) / self.w
        dvdr = self.h * 2.0 * (x**2 - 1.0) * 2.0 * x / self.w
        forces = np.zeros((len(self.atoms), 3))
        forces[1] = -dvdr * d / r
        forces[0] = -forces[1]
        energy = float(self.potential(r))
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def pair():
    return Atoms("Ar2", positions=[[0, 0, 0], [2.5, 0, 0]])


def exact_profile(calc, s, width):
    def bin_average(a):
        r = np.linspace(a - width / 2, a + width / 2, 101)
        return -KT * np.log(np.mean(np.exp(-(calc.potential(r) - 2 * KT * np.log(r)) / KT)))
    return np.array([bin_average(a) for a in s])


RUN = dict(temperature=T, steps=1500, equilibration=200, timestep=4.0, interval=2, pull_steps=100,
           parameters={"friction": 0.02})


def test_umbrella_sampling_recovers_the_bond_free_energy(tmp_path):
    calc = DoubleWellBond()
    centers = window_centers(2.2, 3.8, 17)
    edges = np.linspace(2.2, 3.8, 17)
    result = umbrella_sampling(pair(), calc, Distance(0, 1), centers, 3.0, bins=edges, output_dir=tmp_path, **RUN)
    profile = result.profile
    ok = np.isfinite(profile.free_energy)
    assert ok.all()
    exact = exact_profile(calc, profile.bin_centers, 0.1)
    deviation = profile.free_energy - exact - np.mean(profile.free_energy - exact)
    assert np.abs(deviation).max() < max(0.012, 4 * profile.error.max())
    # the barrier between the wells (r = 2.5 and 3.5, top at 3.0): 0.1 eV less the Jacobian's share
    barrier, err = profile.barrier(2.45, 3.05)
    expected = np.max(exact[(profile.bin_centers >= 2.45) & (profile.bin_centers <= 3.05)]) - np.min(
        exact[(profile.bin_centers >= 2.45) & (profile.bin_centers <= 3.05)])
    assert barrier == pytest.approx(expected, abs=max(0.012, 4 * err))
    assert profile.gaps == []
    assert all(w.status == "completed" and w.samples.size == RUN["steps"] // RUN["interval"] for w in result.windows)
    assert all(w.max_forces_sigma is None and not w.flagged for w in result.windows)  # no uncertainty from this calculator
    # each window sampled near its own centre (the outer ones pulled inward by the steep walls), in order
    means = np.array([w.samples.mean() for w in result.windows])
    assert np.abs(means - centers).max() < 0.25 and np.all(np.diff(means) > 0)
    # resuming: every window is on disk, so a rerun loads them all and calls the calculator no more
    class Counting(DoubleWellBond):
        calls = 0

        def calculate(self, *args, **kwargs):
            Counting.calls += 1
            super().calculate(*args, **kwargs)

    again = umbrella_sampling(pair(), Counting(), Distance(0, 1), centers, 3.0, bins=edges, output_dir=tmp_path, **RUN)
    assert Counting.calls == 0
    np.testing.assert_array_equal(again.profile.free_energy, profile.free_energy)
    # a window with other settings is run again, the others are kept
    (tmp_path / "windows" / "window_003.npz").unlink()
    Counting.calls = 0
    umbrella_sampling(pair(), Counting(), Distance(0, 1), centers, 3.0, bins=edges, output_dir=tmp_path, **RUN)
    assert 0 < Counting.calls < 2 * (RUN["steps"] + RUN["equilibration"]) + 10
    # another structure (here: another run_key) pulls its own starts and runs every window again
    from ase.io import read

    tag = read(tmp_path / "starts.extxyz", index=0).info["umbrella_run"]
    Counting.calls = 0
    umbrella_sampling(pair(), Counting(), Distance(0, 1), centers, 3.0, bins=edges, output_dir=tmp_path,
                      run_key={"model": "other"}, **RUN)
    assert read(tmp_path / "starts.extxyz", index=0).info["umbrella_run"] != tag
    assert Counting.calls > len(centers) * (RUN["steps"] + RUN["equilibration"] + RUN["pull_steps"])


def test_windows_on_a_thread_pool_equal_the_serial_ones():
    centers = window_centers(2.6, 3.4, 3)
    run = dict(RUN, steps=40, equilibration=10, pull_steps=10)
    serial = umbrella_sampling(pair(), DoubleWellBond(), Distance(0, 1), centers, 3.0, **run)
    with cf.ThreadPoolExecutor(2) as pool:
        threaded = umbrella_sampling(pair(), DoubleWellBond(), Distance(0, 1), centers, 3.0, executor=pool, **run)
    for a, b in zip(serial.windows, threaded.windows):
        np.testing.assert_array_equal(a.samples, b.samples)


def test_umbrella_sampling_errors():
    with pytest.raises(ConfigError, match="at least 2 windows"):
        umbrella_sampling(pair(), DoubleWellBond(), Distance(0, 1), [3.0], 3.0)
    with pytest.raises(ConfigError, match=r"atom indices \[5\] are not in a structure of 2 atoms"):
        umbrella_sampling(pair(), DoubleWellBond(), Distance(0, 5), [2.5, 3.0], 3.0)
    with pytest.raises(ConfigError, match="unknown executor 'mpi'"):
        umbrella_sampling(pair(), DoubleWellBond(), Distance(0, 1), [2.5, 3.0], 3.0, steps=4, equilibration=0,
                          pull_steps=2, executor="mpi")


def test_profile_uncertainty_scales_with_the_models_sigma(ensemble_file):
    from ase.calculators.emt import EMT

    from ridgeline.properties.umbrella import profile_uncertainty
    from ridgeline.simulate.calculator import Calculator

    cluster = Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [1.25, 2.1, 0], [1.25, 0.7, 2.0]])
    centers = window_centers(2.3, 2.9, 4)
    result = umbrella_sampling(cluster, EMT(), Distance(0, 1), centers, 4.0, temperature=T, steps=200, equilibration=20,
                               timestep=2.0, interval=2, pull_steps=20, bins=8, frame_every=5)
    assert all(w.frames.shape == (20, 4, 3) for w in result.windows)
    uq = Calculator(ensemble_file).uq
    widths = []
    for alpha in (1e-6, 4e-6):
        uq.alpha["energy"] = alpha
        band = profile_uncertainty(result, uq, draws=100, seed=1)
        assert band.frames == 80 and band.draws == 100
        ok = np.isfinite(result.profile.free_energy)
        assert np.array_equal(band.resolved, ok)  # tiny sigmas: every sampled bin reweights well
        assert np.all(band.lower[ok] <= result.profile.free_energy[ok] + 1e-12)
        assert np.all(band.upper[ok] >= result.profile.free_energy[ok] - 1e-12)
        reference = np.nanargmin(result.profile.free_energy)
        assert band.upper[reference] - band.lower[reference] == pytest.approx(0.0, abs=1e-12)
        assert np.all(band.effective_fraction[ok] > 0.9)
        widths.append(np.nanmean(band.upper - band.lower))
    assert widths[0] > 0 and widths[1] / widths[0] == pytest.approx(2.0, rel=0.1)  # sigma ∝ sqrt(alpha)
    uq.alpha["energy"] = 1e4  # sigmas of many kT: the reweighting cannot resolve bins, and says which
    wide = profile_uncertainty(result, uq, draws=50, seed=1)
    assert (~wide.resolved).any() and np.isnan(wide.lower[~wide.resolved]).all()
    assert np.isfinite(wide.lower[wide.resolved]).all()
    assert np.mean(wide.effective_fraction) < np.mean(band.effective_fraction)
    with pytest.raises(ConfigError, match="frame_every > 0"):
        profile_uncertainty(umbrella_sampling(cluster, EMT(), Distance(0, 1), centers, 4.0, steps=4, equilibration=0,
                                              pull_steps=2), uq)

"""Ionic conductivity: Nernst-Einstein against a hand calculation, and Green-Kubo of uncorrelated
ions (Ornstein-Uhlenbeck velocities), for which the two must agree."""

import numpy as np
import pytest
from ase import Atoms, units

from ridgeline.analysis import green_kubo_conductivity, nernst_einstein
from ridgeline.errors import DataError


def test_nernst_einstein_by_hand():
    # 32 Li+ (D 0.5 Å^2/ps) and 32 Cl- (D 0.2 Å^2/ps) in 1000 Å^3 at 1000 K:
    # sigma = e^2 / (V k_B T) * sum N q^2 D
    #       = (1.602176634e-19 C)^2 / (1e-27 m^3 * 1.380649e-23 J/K * 1000 K) * 32 * (0.5 + 0.2) * 1e-8 m^2/s
    #       = 2.566969932e-38 / 1.380649e-47 * 2.24e-7 = 416.47 S/m
    result = nernst_einstein({"Li": 0.5, "Cl": 0.2}, {"Li": 32, "Cl": 32}, {"Li": 1, "Cl": -1}, 1000.0, 1000.0)
    assert result.sigma == pytest.approx(416.47, rel=1e-4)
    assert result.method == "nernst_einstein" and result.charges == {"Li": 1.0, "Cl": -1.0}
    doubled = nernst_einstein({"Li": 0.5, "Cl": 0.2}, {"Li": 32, "Cl": 32}, {"Li": 2, "Cl": -2}, 1000.0, 1000.0)
    assert doubled.sigma == pytest.approx(4 * result.sigma)
    with pytest.raises(DataError, match="no charge given for Cl"):
        nernst_einstein({"Li": 0.5, "Cl": 0.2}, {"Li": 32, "Cl": 32}, {"Li": 1}, 1000.0, 1000.0)


def _ou_ions(n_frames=20000, n_each=32, dt_fs=2.0, tau_fs=10.0, seed=0):
    """Frames of independent ions whose velocity components are Ornstein-Uhlenbeck processes of
    variance s^2 (Å/fs)^2 and correlation time tau: D = s^2 tau for each ion."""
    rng = np.random.default_rng(seed)
    s = {"Li": 0.02, "Cl": 0.01}
    symbols = ["Li"] * n_each + ["Cl"] * n_each
    scale = np.array([s[e] for e in symbols])[:, None]
    decay = np.exp(-dt_fs / tau_fs)
    v = np.empty((n_frames, len(symbols), 3))
    v[0] = rng.normal(size=(len(symbols), 3)) * scale
    kicks = rng.normal(size=v.shape) * scale * np.sqrt(1 - decay ** 2)
    for k in range(1, n_frames):
        v[k] = decay * v[k - 1] + kicks[k]
    frames = []
    base = Atoms(symbols, positions=np.random.default_rng(1).uniform(0, 10.0, (len(symbols), 3)), cell=[10.0] * 3, pbc=True)
    for velocities in v:
        atoms = base.copy()
        atoms.set_velocities(velocities / units.fs)
        frames.append(atoms)
    d = {e: s[e] ** 2 * tau_fs * 1000.0 for e in s}  # Å^2/fs -> Å^2/ps
    return frames, d


def test_green_kubo_agrees_with_nernst_einstein_for_uncorrelated_ions():
    frames, d = _ou_ions()
    charges = {"Li": 1, "Cl": -1}
    gk = green_kubo_conductivity(frames, dt=2.0, charges=charges, temperature=500.0, max_lag=0.4)
    ne = nernst_einstein(d, {"Li": 32, "Cl": 32}, charges, 1000.0, 500.0)
    assert gk.volume == pytest.approx(1000.0) and gk.temperature == 500.0
    assert gk.sigma == pytest.approx(ne.sigma, rel=0.15)
    assert gk.running_sigma[-1] == pytest.approx(ne.sigma, rel=0.3)
    assert gk.time_ps[1] == pytest.approx(0.002) and 0 < gk.cutoff_ps <= 0.4
    # by default the temperature is the frames' kinetic one
    default = green_kubo_conductivity(frames[:200], dt=2.0, charges=charges)
    assert default.temperature == pytest.approx(np.mean([a.get_temperature() for a in frames[:200]]))


def test_green_kubo_needs_charges_and_velocities():
    frames, _ = _ou_ions(n_frames=10, n_each=2)
    with pytest.raises(DataError, match="no charge given for Li"):
        green_kubo_conductivity(frames, dt=2.0, charges={"Cl": -1}, temperature=300.0)
    bare = [Atoms("LiCl", positions=[[0, 0, 0], [2, 0, 0]], cell=[5.0] * 3, pbc=True)] * 4
    with pytest.raises(DataError, match="no velocities"):
        green_kubo_conductivity(bare, dt=2.0, charges={"Li": 1, "Cl": -1}, temperature=300.0)

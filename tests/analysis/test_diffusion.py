"""Mean squared displacement and diffusion: unwrapping across periodic boundaries, the FFT MSD
against the direct average, a random walk's known D within its error bar, a vibrating crystal's
plateau and D ~ 0."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

from ridgeline.analysis import msd, msd_per_atom, unwrap
from ridgeline.errors import DataError


def test_unwrap_recovers_a_straight_line_through_a_triclinic_cell():
    cell = np.array([[5.0, 0.0, 0.0], [2.0, 6.0, 0.0], [1.0, -1.5, 7.0]])
    times = np.arange(60)
    true = np.array([0.5, 0.5, 0.5]) + np.outer(times, [0.9, -1.3, 0.7])[:, None, :]  # (T, 1, 3), < half a cell per frame
    wrapped = np.array([Atoms("Ar", positions=p, cell=cell, pbc=True).get_positions(wrap=True) for p in true])
    assert not np.allclose(wrapped, true)
    np.testing.assert_allclose(unwrap(wrapped, cell, [True] * 3), true, atol=1e-10)
    # only the periodic directions are unwrapped
    free_z = true.copy()
    free_z[..., 2] = 0.5
    wrapped_xy = np.array([Atoms("Ar", positions=p, cell=cell, pbc=[True, True, False]).get_positions(wrap=True)
                           for p in free_z])
    np.testing.assert_allclose(unwrap(wrapped_xy, cell, [True, True, False]), free_z, atol=1e-10)


def test_fft_msd_is_the_average_over_time_origins():
    x = np.cumsum(np.random.default_rng(0).normal(size=(40, 5, 3)), axis=0)
    direct = np.array([[np.mean(np.sum((x[m:, a] - x[:40 - m, a]) ** 2, axis=-1)) for a in range(5)] for m in range(40)])
    np.testing.assert_allclose(msd_per_atom(x), direct, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(msd_per_atom(x, atoms_per_fft=2), direct, rtol=1e-9, atol=1e-9)  # in chunks of atoms


def _random_walk(d_by_element, n_each=100, n_frames=2000, dt_fs=10.0, box=12.0, seed=0):
    """Wrapped frames of independent Gaussian walks with D (Å^2/ps) per element."""
    rng = np.random.default_rng(seed)
    symbols, sigmas = [], []
    for element, d in d_by_element.items():
        symbols += [element] * n_each
        sigmas += [np.sqrt(2 * d * dt_fs / 1000.0)] * n_each  # per Cartesian component per frame
    steps = rng.normal(size=(n_frames, len(symbols), 3)) * np.array(sigmas)[None, :, None]
    path = rng.uniform(0, box, (len(symbols), 3)) + np.cumsum(steps, axis=0)
    return [Atoms(symbols, positions=p, cell=[box] * 3, pbc=True).copy() for p in path], path


def test_random_walk_gives_its_diffusion_coefficient_within_the_error_bar():
    true = {"Li": 0.5, "Cl": 0.1}
    frames, path = _random_walk(true)
    for atoms in frames:
        atoms.wrap()
    result = msd(frames, dt=10.0, n_blocks=5)
    for element, d in true.items():
        found, error = result.diffusion[element], result.diffusion_error[element]
        assert 0 < error < 0.15 * d
        assert abs(found - d) < 3 * error, (element, found, d, error)
    # the wrapped frames give the MSD of the continuous path
    np.testing.assert_allclose(result.msd["all"], msd_per_atom(path).mean(axis=1), rtol=1e-8, atol=1e-10)
    assert result.counts == {"Li": 100, "Cl": 100}
    d, e = result.diffusion_cm2_per_s("Li")
    assert d == pytest.approx(result.diffusion["Li"] * 1e-4) and e == pytest.approx(result.diffusion_error["Li"] * 1e-4)
    assert result.to_dict()["fit_window_ps"] == list(result.fit_window_ps)


def test_remove_drift_takes_out_the_centre_of_mass_motion():
    frames, _ = _random_walk({"Ar": 0.2}, n_each=200, n_frames=1000, seed=3)
    drift = np.cumsum(np.random.default_rng(4).normal(scale=np.sqrt(2 * 2.0 * 0.01), size=(1000, 1, 3)), axis=0)
    for atoms, shift in zip(frames, drift):
        atoms.positions += shift  # every atom carried by one walk of D = 2 Å^2/ps
    assert msd(frames, dt=10.0).diffusion["Ar"] > 1.0
    relative = msd(frames, dt=10.0, remove_drift=True)
    expected = 0.2 * (1 - 1 / 200)
    assert abs(relative.diffusion["Ar"] - expected) < 3 * relative.diffusion_error["Ar"]
    assert relative.diffusion_error["Ar"] < 0.15 * expected


@pytest.fixture(scope="module")
def crystal_frames():
    """2 ps of fcc Cu at 300 K under EMT, after 0.2 ps of equilibration, a frame every 20 fs;
    Bussi's thermostat keeps the zero total momentum (Langevin's noise would let the centre of
    mass diffuse)."""
    from ridgeline.simulate.md import run_md

    frames = []
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)
    run = run_md(atoms, EMT(), "bussi", steps=500, timestep=4.0, temperature=300.0, tau=50.0, seed=1, interval=5,
                 zero_momentum=True, observers=[lambda step, a: frames.append(a.copy())])
    assert run.status == "completed"
    return frames[10:]


def test_vibrating_crystal_plateaus_with_no_diffusion(crystal_frames):
    for atoms in crystal_frames:
        atoms.wrap()
    result = msd(crystal_frames, dt=20.0, n_blocks=2, fit_window=(0.1, 0.8))
    plateau = result.msd["Cu"][(result.time_ps >= 0.1) & (result.time_ps <= 1.0)]
    assert 0.01 < plateau.min() and plateau.max() < 0.07  # the vibrational amplitude at 300 K, Å^2
    assert plateau.max() < 2.5 * plateau.min()  # bounded: a diffusing atom's MSD would grow tenfold here
    assert abs(result.diffusion["Cu"]) < 5e-3  # liquid copper's D is ~0.4 Å^2/ps


def test_bad_input():
    frames, _ = _random_walk({"Ar": 0.1}, n_each=2, n_frames=10)
    with pytest.raises(DataError, match="blocks"):
        msd(frames, dt=1.0, n_blocks=5)
    with pytest.raises(DataError, match="fitting window"):
        msd(frames, dt=1.0, n_blocks=2, fit_window=(0.0, 1.0))
    with pytest.raises(DataError, match="> 0 fs"):
        msd(frames, dt=0.0)

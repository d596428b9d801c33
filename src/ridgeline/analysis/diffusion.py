"""Mean squared displacement and self-diffusion coefficients.

Unwrapping: positions stored wrapped into the cell are unwrapped by the minimum-image jump between
consecutive frames, in the later frame's cell and along its periodic directions only; this is right
while no atom moves half a cell width between two stored frames.

MSD(tau) = < |r_i(t0 + tau) - r_i(t0)|^2 >, averaged over every time origin t0 and over the atoms of
an element, by the FFT method (Kneller et al., Comput. Phys. Commun. 91, 191 (1995), nMoldyn):
``MSD(m) = S1(m) - 2 S2(m)``, with S2 the position autocorrelation from one FFT, in O(T log T).

D = slope / 6 (Einstein relation, three dimensions) of a least-squares line through the MSD over
the fitting window. Its error bar: the trajectory is cut into ``n_blocks`` independent contiguous
blocks, D is fitted on each block's own MSD over the same window, and the error is the standard
error of the block values, ``std(D_blocks, ddof=1) / sqrt(n_blocks)``. The window defaults to
[0.1, 0.5] of a block's duration, so every block has it. ``remove_drift`` subtracts the
centre of mass's displacement first (a Langevin thermostat lets the centre of mass diffuse; a
slab's or a cluster's may move as a whole); the result is then relative to the centre of mass, a
factor (1 - m_i / M) below the single-atom D for independent atoms. A crystal's MSD plateaus at the
vibrational amplitude and its D is ~0; in a small cell the plateau oscillates with the slowest
vibrations, the same in every block, so a window short against them gives a slope the block error
bar does not cover: fit a crystal over a window long against its vibrational periods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .results import Result, pyplot, save_figure
from .trajectory import cells, check_frames, element_indices, positions

ANGSTROM2_PER_PS_IN_CM2_PER_S = 1e-4  # 1 Å^2/ps = 1e-20 m^2 / 1e-12 s = 1e-8 m^2/s


def unwrap(wrapped: np.ndarray, cell: np.ndarray, pbc) -> np.ndarray:
    """(T, N, 3) continuous positions from positions wrapped into ``cell`` ((3, 3) or (T, 3, 3))."""
    wrapped = np.asarray(wrapped, dtype=np.float64)
    pbc = np.asarray(pbc, dtype=bool)
    steps = np.diff(wrapped, axis=0)  # (T - 1, N, 3)
    if pbc.any() and len(wrapped) > 1:
        cell = np.asarray(cell, dtype=np.float64)
        later = np.broadcast_to(cell, (len(wrapped), 3, 3))[1:] if cell.ndim == 2 else cell[1:]
        fractional = np.einsum("tnk,tkj->tnj", steps, np.linalg.inv(later))
        fractional[..., pbc] -= np.round(fractional[..., pbc])
        steps = np.einsum("tnj,tjk->tnk", fractional, later)
    out = np.empty_like(wrapped)
    out[0] = wrapped[0]
    np.cumsum(steps, axis=0, out=out[1:])
    out[1:] += wrapped[0]
    return out


def msd_per_atom(x: np.ndarray, atoms_per_fft: int | None = None) -> np.ndarray:
    """(T, N) MSD of each atom at lags 0..T-1 from (T, N, 3) unwrapped positions, averaged over time
    origins by the FFT method (see the module docstring); ``atoms_per_fft`` atoms at a time
    (default: as many as keep the transforms near 100 MB)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    chunk = atoms_per_fft or max(1, (1 << 22) // max(n, 1))  # so the padded spectra stay ~100 MB
    if x.shape[1] > chunk:
        return np.concatenate([msd_per_atom(x[:, k:k + chunk], chunk) for k in range(0, x.shape[1], chunk)], axis=1)
    squares = np.sum(x * x, axis=-1)  # (T, N)
    # S2(m) = sum_t x(t).x(t+m) / (T - m), zero-padded FFT so the correlation is not circular
    spectrum = np.fft.rfft(x, n=2 * n, axis=0)
    s2 = np.fft.irfft(np.sum(spectrum * spectrum.conj(), axis=-1), n=2 * n, axis=0)[:n]
    remaining = (n - np.arange(n))[:, None]
    s2 /= remaining
    # S1(m) = sum over the T - m origins of |x(t)|^2 + |x(t+m)|^2: twice the total less the first m
    # and the last m squares (the recursion of Kneller et al., as cumulative sums)
    zero = np.zeros((1, squares.shape[1]))
    first = np.concatenate([zero, np.cumsum(squares, axis=0)[:-1]])  # sum of squares[:m]
    last = np.concatenate([zero, np.cumsum(squares[::-1], axis=0)[:-1]])  # sum of squares[T-m:]
    s1 = (2.0 * squares.sum(axis=0) - first - last) / remaining
    return s1 - 2.0 * s2


@dataclass
class MSD(Result):
    """MSD per element (and ``"all"``), and D with its block error bar."""

    time_ps: np.ndarray  # (T,) lags
    msd: dict  # element or "all" -> (T,) Å^2
    diffusion: dict  # element or "all" -> D, Å^2/ps
    diffusion_error: dict  # element or "all" -> standard error of D from the blocks, Å^2/ps
    fit_window_ps: tuple  # (start, end) of the fit
    n_blocks: int
    counts: dict  # element -> atoms

    def diffusion_cm2_per_s(self, key: str = "all") -> tuple[float, float]:
        """(D, error) in cm^2/s."""
        return (self.diffusion[key] * ANGSTROM2_PER_PS_IN_CM2_PER_S, self.diffusion_error[key] * ANGSTROM2_PER_PS_IN_CM2_PER_S)


def _slope(time_ps, values, window):
    inside = (time_ps >= window[0]) & (time_ps <= window[1])
    if inside.sum() < 2:
        raise DataError(f"msd: fewer than two lags in the fitting window {window[0]:g}..{window[1]:g} ps")
    return float(np.polyfit(time_ps[inside], values[inside], 1)[0])


def msd(frames, dt: float, n_blocks: int = 5, fit_window: tuple | None = None, wrapped: bool = True,
        remove_drift: bool = False) -> MSD:
    """MSD and D of ``frames`` stored every ``dt`` fs. ``fit_window`` (ps): default [0.1, 0.5] of a
    block's duration. ``wrapped=False`` takes the positions as already continuous; ``remove_drift``
    measures them from the centre of mass (module docstring)."""
    frames = list(frames)
    check_frames(frames, "msd")
    if dt <= 0:
        raise DataError(f"msd: the time between frames must be > 0 fs, got {dt}")
    n_frames = len(frames)
    if n_blocks < 2 or n_frames // n_blocks < 4:
        raise DataError(f"msd: {n_frames} frames cannot make {n_blocks} blocks of at least 4 frames (n_blocks >= 2)")
    x = positions(frames)
    if wrapped:
        x = unwrap(x, cells(frames), frames[0].pbc)
    if remove_drift:
        masses = frames[0].get_masses()
        x = x - (np.einsum("n,tnk->tk", masses, x) / masses.sum())[:, None, :]
    block = n_frames // n_blocks
    dt_ps = dt / 1000.0
    if fit_window is None:
        duration = (block - 1) * dt_ps
        fit_window = (0.1 * duration, 0.5 * duration)
    fit_window = (float(fit_window[0]), float(fit_window[1]))
    if fit_window[1] > (block - 1) * dt_ps:
        raise DataError(f"msd: the fitting window ends at {fit_window[1]:g} ps, after a block's "
                        f"{(block - 1) * dt_ps:g} ps; use fewer blocks or a shorter window")

    groups = {**element_indices(frames), "all": np.arange(len(frames[0]))}
    time_ps = np.arange(n_frames) * dt_ps
    per_atom = msd_per_atom(x)
    block_msds = [msd_per_atom(x[k * block:(k + 1) * block]) for k in range(n_blocks)]
    block_time = time_ps[:block]
    curves, diffusion, errors = {}, {}, {}
    for key, idx in groups.items():
        curves[key] = per_atom[:, idx].mean(axis=1)
        diffusion[key] = _slope(time_ps, curves[key], fit_window) / 6.0
        blocks = np.array([_slope(block_time, b[:, idx].mean(axis=1), fit_window) / 6.0 for b in block_msds])
        errors[key] = float(np.std(blocks, ddof=1) / np.sqrt(n_blocks))
    return MSD(time_ps=time_ps, msd=curves, diffusion=diffusion, diffusion_error=errors, fit_window_ps=fit_window,
               n_blocks=n_blocks, counts={k: int(len(v)) for k, v in groups.items() if k != "all"})


def plot_msd(result: MSD, path, title: str = "") -> None:
    """MSD per element against lag time, with the fitting window shaded; PNG."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, values in result.msd.items():
        if key == "all" and len(result.msd) == 2:
            continue
        d, e = result.diffusion_cm2_per_s(key)
        ax.plot(result.time_ps, values, label=f"{key}: D = {d:.3g} ± {e:.2g} cm²/s", lw=1)
    ax.axvspan(*result.fit_window_ps, color="grey", alpha=0.15, label="fit window")
    ax.set_xlabel("lag (ps)")
    ax.set_ylabel("MSD (Å²)")
    ax.legend(fontsize=8)
    ax.set_title(title or "mean squared displacement")
    fig.tight_layout()
    save_figure(fig, path)

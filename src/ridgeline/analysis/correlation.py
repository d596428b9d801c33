"""Time autocorrelations, the velocity autocorrelation function, the vibrational density of states,
and Green-Kubo integrals.

Autocorrelations are averaged over every time origin, ``C(m) = sum_t x(t).x(t+m) / (T - m)``
(the dot product over every axis after time), from one zero-padded FFT (Wiener-Khinchin).

The VDOS is the cosine transform of the normalised VACF (Dickey & Paskin, Phys. Rev. 188, 1407
(1969)): ``g(f) = 2 int_0^tmax C(t)/C(0) w(t) cos(2 pi f t) dt``, with ``w`` the falling half of a
Hann window so the truncated VACF does not ring; it is scaled to unit area over f >= 0. The
frequency axis is in THz (1/ps) and cm^-1 (1 THz = 33.35641 cm^-1). The total VDOS (``"all"``)
is the transform of the mass-weighted VACF, ``sum_i m_i <v_i(0).v_i(t)>``: at equipartition every
degree of freedom then carries the same weight kT whatever its mass, so each vibrational mode
counts once and the total is the concentration-weighted sum of the elements' VDOS.

Green-Kubo: a transport coefficient is the time integral of an equilibrium autocorrelation, ``L =
int_0^inf C(t) dt``; the running integral is kept so its plateau can be seen, and the value is the
running integral at ``cutoff`` (default: the first zero crossing of C, where the remaining tail is
noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .results import Result, pyplot, save_figure
from .trajectory import check_frames, element_indices, velocities

THZ_IN_CM1 = 33.35640951981521  # 1e12 Hz / c in cm/s


def autocorrelation(signal, columns_per_fft: int | None = None) -> np.ndarray:
    """(T,) ``C(m) = <x(t) . x(t + m)>`` of a (T,) or (T, ...) signal, averaged over time origins;
    ``columns_per_fft`` components at a time (default: as many as keep the transforms near 100 MB)."""
    x = np.asarray(signal, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise DataError("autocorrelation: empty signal")
    x = x.reshape(n, -1)
    chunk = columns_per_fft or max(1, (1 << 22) // n)
    power = np.zeros(n + 1)
    for k in range(0, x.shape[1], chunk):
        spectrum = np.fft.rfft(x[:, k:k + chunk], n=2 * n, axis=0)
        power += np.sum((spectrum * spectrum.conj()).real, axis=1)
    products = np.fft.irfft(power, n=2 * n)[:n]
    return products / (n - np.arange(n))


@dataclass
class GreenKubo(Result):
    """The integral of an autocorrelation (in its units times the time's) and its running integral."""

    time: np.ndarray  # (T,) in the units of dt
    acf: np.ndarray  # (T,)
    running_integral: np.ndarray  # (T,)
    value: float
    cutoff: float  # time at which value is read


def green_kubo(acf, dt: float, cutoff: float | None = None) -> GreenKubo:
    """``int_0^cutoff acf(t) dt`` (trapezoid rule) of an autocorrelation sampled every ``dt``."""
    from scipy.integrate import cumulative_trapezoid

    acf = np.asarray(acf, dtype=np.float64)
    if acf.ndim != 1 or len(acf) < 2 or dt <= 0:
        raise DataError(f"green_kubo: needs a 1-D autocorrelation of >= 2 samples and dt > 0, got shape {acf.shape}, dt {dt}")
    time = np.arange(len(acf)) * dt
    running = cumulative_trapezoid(acf, dx=dt, initial=0.0)
    if cutoff is None:
        crossing = np.flatnonzero(np.sign(acf[1:]) != np.sign(acf[0]))
        k = int(crossing[0]) + 1 if len(crossing) else len(acf) - 1
    else:
        if not 0 <= cutoff <= time[-1]:
            raise DataError(f"green_kubo: cutoff {cutoff:g} outside the autocorrelation's 0..{time[-1]:g}")
        k = int(round(cutoff / dt))
    return GreenKubo(time=time, acf=acf, running_integral=running, value=float(running[k]), cutoff=float(time[k]))


@dataclass
class VACF(Result):
    """Velocity autocorrelation per atom, per element and ``"all"``."""

    time_ps: np.ndarray  # (L,) lags
    vacf: dict  # key -> (L,) <v(0).v(t)> per atom, (Å/fs)^2
    mass_weighted: np.ndarray  # (L,) sum_i m_i <v_i(0).v_i(t)> / N, amu (Å/fs)^2
    normalised: dict  # key -> (L,) C(t)/C(0); for "all", of the mass-weighted VACF (the same within an element)


def vacf(frames, dt: float, max_lag: float | None = None) -> VACF:
    """VACF of ``frames`` (with velocities) stored every ``dt`` fs, up to ``max_lag`` ps (default: half
    the trajectory, beyond which few origins remain)."""
    frames = list(frames)
    check_frames(frames, "vacf")
    if dt <= 0:
        raise DataError(f"vacf: the time between frames must be > 0 fs, got {dt}")
    v = velocities(frames, "vacf")
    n_frames = len(frames)
    lags = n_frames // 2 + 1 if max_lag is None else min(n_frames, int(round(max_lag * 1000.0 / dt)) + 1)
    groups = {**element_indices(frames), "all": np.arange(len(frames[0]))}
    curves, normalised = {}, {}
    for key, idx in groups.items():
        curves[key] = autocorrelation(v[:, idx])[:lags] / len(idx)
    weighted = autocorrelation(v * np.sqrt(frames[0].get_masses())[None, :, None])[:lags] / len(frames[0])
    for key, c in {**curves, "all": weighted}.items():
        normalised[key] = c / c[0] if c[0] > 0 else np.zeros_like(c)
    return VACF(time_ps=np.arange(lags) * dt / 1000.0, vacf=curves, mass_weighted=weighted, normalised=normalised)


@dataclass
class VDOS(Result):
    """Vibrational density of states per element and ``"all"``, unit area over THz."""

    frequency_thz: np.ndarray
    frequency_cm1: np.ndarray
    dos: dict  # key -> (F,) 1/THz

    def peak_thz(self, key: str = "all") -> float:
        return float(self.frequency_thz[np.argmax(self.dos[key])])


def vdos(result: VACF, padding: int = 4) -> VDOS:
    """Cosine transform of the normalised VACF (module docstring); ``padding`` times the VACF's
    length in zeros refines the frequency grid."""
    n = len(result.time_ps)
    if n < 2:
        raise DataError("vdos: the VACF needs at least two lags")
    dt_ps = float(result.time_ps[1] - result.time_ps[0])
    window = np.hanning(2 * n + 1)[n:-1]  # 1 at t = 0, falling to ~0 at the last lag
    size = padding * 2 * n
    freq = np.fft.rfftfreq(size, d=dt_ps)
    dos = {}
    for key, c in result.normalised.items():
        weighted = c * window
        # 2 int_0^T C(t) cos(2 pi f t) dt as the real FFT of the even extension; C(0) counted once
        spectrum = dt_ps * (2.0 * np.fft.rfft(weighted, n=size).real - weighted[0])
        spectrum = np.clip(spectrum, 0.0, None)
        area = np.trapezoid(spectrum, freq)
        dos[key] = spectrum / area if area > 0 else spectrum
    return VDOS(frequency_thz=freq, frequency_cm1=freq * THZ_IN_CM1, dos=dos)


def plot_vdos(result: VDOS, path, title: str = "", vacf_result: VACF | None = None) -> None:
    """VDOS per element against frequency (THz, cm^-1 on the top axis), and the normalised VACF
    beside it when given; PNG."""
    plt = pyplot()

    panels = 2 if vacf_result is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    for key, values in result.dos.items():
        if key == "all" and len(result.dos) == 2:
            continue
        ax.plot(result.frequency_thz, values, label=key, lw=1)
    ax.set_xlabel("frequency (THz)")
    ax.set_ylabel("VDOS (1/THz)")
    # up to where the spectrum has its weight: the frequency below which 99.5 % of it lies, and a margin
    cumulative = np.cumsum(result.dos["all"]) / max(float(np.sum(result.dos["all"])), 1e-300)
    top_frequency = result.frequency_thz[min(int(np.searchsorted(cumulative, 0.995)), len(cumulative) - 1)]
    ax.set_xlim(0, min(1.5 * top_frequency, result.frequency_thz[-1]) or result.frequency_thz[-1])
    ax.legend(fontsize=8)
    top = ax.secondary_xaxis("top", functions=(lambda f: f * THZ_IN_CM1, lambda w: w / THZ_IN_CM1))
    top.set_xlabel("wavenumber (cm⁻¹)")
    if vacf_result is not None:
        for key, values in vacf_result.normalised.items():
            if key == "all" and len(vacf_result.normalised) == 2:
                continue
            axes[0, 1].plot(vacf_result.time_ps, values, label=key, lw=1)
        axes[0, 1].axhline(0, color="grey", lw=0.5)
        axes[0, 1].set_xlabel("lag (ps)")
        axes[0, 1].set_ylabel("VACF / VACF(0)")
    fig.suptitle(title or "vibrational density of states")
    fig.tight_layout()
    save_figure(fig, path)

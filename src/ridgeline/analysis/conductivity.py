"""Ionic conductivity, in S/m, from a trajectory's velocities (Green-Kubo) or from per-element
self-diffusion coefficients (Nernst-Einstein).

Green-Kubo (Hansen & McDonald, *Theory of Simple Liquids*, 4th ed., sec. 7.7):

    sigma = 1 / (3 V k_B T) int_0^inf < J(0) . J(t) > dt,    J(t) = sum_i q_i e v_i(t)

with J the charge current of the whole cell, V its volume and T the temperature; the integral is
read as in :func:`ridgeline.analysis.correlation.green_kubo`.

Nernst-Einstein (the same book, sec. 10.4: the Green-Kubo form without the cross correlations of
different ions):

    sigma_NE = e^2 / (V k_B T) sum_a N_a q_a^2 D_a

The ratio sigma / sigma_NE (the Haven ratio's inverse) measures the correlation of ionic motion.
Units in: charges in e, volume Å^3, temperature K, D Å^2/ps, velocities Å/fs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from .results import Result
from .correlation import autocorrelation, green_kubo
from .trajectory import check_frames, element_indices, velocities

ELEMENTARY_CHARGE = 1.602176634e-19  # C
BOLTZMANN = 1.380649e-23  # J/K
ANGSTROM3 = 1e-30  # m^3
ANGSTROM2_PER_PS = 1e-8  # m^2/s
ANGSTROM2_PER_FS = 1e-5  # m^2/s


@dataclass
class Conductivity(Result):
    """An ionic conductivity and what it was computed from."""

    method: str  # "green_kubo" | "nernst_einstein"
    sigma: float  # S/m
    temperature: float  # K
    volume: float  # Å^3
    charges: dict  # element -> e
    time_ps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Green-Kubo: lags
    running_sigma: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Green-Kubo: running integral, S/m
    cutoff_ps: float = float("nan")  # Green-Kubo: where sigma is read


def _check(charges, temperature, volume, elements):
    missing = sorted(set(elements) - set(charges))
    if missing:
        raise DataError(f"conductivity: no charge given for {', '.join(missing)} (give one per element, e.g. Li=1 Cl=-1)")
    if not temperature > 0 or not volume > 0:
        raise DataError(f"conductivity: needs temperature > 0 K and volume > 0 Å^3, got {temperature}, {volume}")


def nernst_einstein(diffusion: dict, counts: dict, charges: dict, volume: float, temperature: float) -> Conductivity:
    """sigma_NE (S/m) from D per element (Å^2/ps), atoms per element, charges (e), V (Å^3), T (K)."""
    _check(charges, temperature, volume, counts)
    total = sum(counts[a] * charges[a] ** 2 * diffusion[a] for a in counts)
    sigma = ELEMENTARY_CHARGE ** 2 * total * ANGSTROM2_PER_PS / (volume * ANGSTROM3 * BOLTZMANN * temperature)
    return Conductivity("nernst_einstein", float(sigma), float(temperature), float(volume),
                        {a: float(charges[a]) for a in counts})


def green_kubo_conductivity(frames, dt: float, charges: dict, temperature: float | None = None,
                            volume: float | None = None, max_lag: float | None = None,
                            cutoff: float | None = None) -> Conductivity:
    """sigma (S/m) by Green-Kubo from ``frames`` with velocities stored every ``dt`` fs. ``temperature``:
    default the mean kinetic temperature of the frames; ``volume``: default the mean cell volume;
    ``max_lag``, ``cutoff`` (ps): the longest lag kept (default half the run) and where the running
    integral is read (default the current autocorrelation's first zero)."""
    frames = list(frames)
    check_frames(frames, "conductivity")
    if dt <= 0:
        raise DataError(f"conductivity: the time between frames must be > 0 fs, got {dt}")
    v = velocities(frames, "conductivity")  # Å/fs
    groups = element_indices(frames)
    if temperature is None:
        temperature = float(np.mean([atoms.get_temperature() for atoms in frames]))
    if volume is None:
        if not frames[0].pbc.all():
            raise DataError("conductivity: the frames are not periodic; give the volume")
        volume = float(np.mean([atoms.get_volume() for atoms in frames]))
    _check(charges, temperature, volume, groups)
    q = np.zeros(len(frames[0]))
    for element, idx in groups.items():
        q[idx] = charges[element]
    current = np.einsum("n,tnk->tk", q, v)  # e Å/fs
    lags = len(frames) // 2 + 1 if max_lag is None else min(len(frames), int(round(max_lag * 1000.0 / dt)) + 1)
    acf = autocorrelation(current)[:lags]  # e^2 Å^2/fs^2
    integral = green_kubo(acf, dt, None if cutoff is None else cutoff * 1000.0)  # e^2 Å^2/fs
    scale = ELEMENTARY_CHARGE ** 2 * ANGSTROM2_PER_FS / (3.0 * volume * ANGSTROM3 * BOLTZMANN * temperature)
    return Conductivity("green_kubo", float(integral.value * scale), float(temperature), float(volume),
                        {a: float(charges[a]) for a in groups}, time_ps=integral.time / 1000.0,
                        running_sigma=integral.running_integral * scale, cutoff_ps=integral.cutoff / 1000.0)

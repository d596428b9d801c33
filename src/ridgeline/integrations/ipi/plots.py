"""Plots of path-integral runs: one run's quantum kinetic energy and conserved quantity against
time, and the kinetic and potential energy against the number of beads."""

from __future__ import annotations

import io

import numpy as np
from ase import units

from ...files import atomic_write_bytes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> None:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, dpi=120, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def plot_run(result, path) -> None:
    """Centroid-virial kinetic energy per atom (its mean after the equilibration as a band) and
    i-PI's conserved quantity per atom, against time."""
    plt = _pyplot()
    s, n = result.series, result.n_atoms
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 5), sharex=True)
    top.plot(s["time"], 1000 * s["kinetic_td"] / n, lw=0.5, alpha=0.35, color="tab:orange", label="primitive")
    top.plot(s["time"], 1000 * s["kinetic_cv"] / n, lw=0.7, color="tab:blue", label="centroid virial")
    k = result.per_atom("kinetic_cv")
    top.axhspan(1000 * (k.mean - k.error), 1000 * (k.mean + k.error), color="k", alpha=0.2,
                label=f"mean {1000 * k.mean:.2f} ± {1000 * k.error:.2f} meV")
    top.axhline(1500 * units.kB * result.temperature, color="gray", ls=":", label="classical 3kT/2")
    cut = result.equilibration * result.timestep / 1000.0
    top.axvline(cut, color="red", ls="--", lw=0.8)
    top.set_ylabel("kinetic energy (meV/atom)")
    top.set_title(f"PIMD, {result.nbeads} beads, {result.temperature:g} K")
    top.legend(fontsize=7)
    bottom.plot(s["time"], 1000 * (s["conserved"] - s["conserved"][0]) / n, lw=0.8)
    bottom.set_ylabel("conserved - start (meV/atom)")
    bottom.set_xlabel("time (ps)")
    bottom.axvline(cut, color="red", ls="--", lw=0.8)
    bottom.set_title(f"drift after the red line {result.conserved_drift:.3g} meV/atom/ps", fontsize=9)
    _save(fig, path)


def plot_convergence(convergence, path, temperature: float) -> None:
    """Kinetic energy per atom (with the classical 3kT/2 and ``convergence.reference`` where given)
    and potential energy per atom relative to the first bead count's, against the bead count."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 5), sharex=True)
    p = np.asarray(convergence.nbeads)
    top.errorbar(p, 1000 * np.asarray(convergence.kinetic_energy), 1000 * np.asarray(convergence.kinetic_energy_error),
                 marker="o", capsize=3, label="centroid virial")
    top.axhline(1500 * units.kB * temperature, color="gray", ls=":", label="classical 3kT/2")
    if convergence.reference is not None:
        top.axhline(1000 * convergence.reference, color="k", ls="--", label=convergence.reference_label)
    top.set_ylabel("kinetic energy (meV/atom)")
    top.set_title(f"PIMD convergence with beads, {temperature:g} K")
    top.legend(fontsize=7)
    potential = 1000 * (np.asarray(convergence.potential_energy) - convergence.potential_energy[0])
    bottom.errorbar(p, potential, 1000 * np.asarray(convergence.potential_energy_error), marker="s", capsize=3)
    bottom.set_ylabel(f"potential - P={p[0]} (meV/atom)")
    bottom.set_xscale("log", base=2)
    bottom.set_xlabel("beads P")
    _save(fig, path)


__all__ = ["plot_convergence", "plot_run"]

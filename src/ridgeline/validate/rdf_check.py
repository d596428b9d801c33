"""g(r) of the model's MD against a reference trajectory.

The model runs Langevin MD from the reference trajectory's first frame at the reference's
temperature (from its velocities, or given), for as many recorded frames as the reference has,
with the reference's frame interval where known; g(r) of both (``analysis.rdf``) on the same
bins. Compared: the first peak's position (Å) and height, and ``rdf_difference``, the integrated
absolute difference int |g_model - g_ref| dr / int g_ref dr over the bins (0: identical).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError


def reference_temperature(frames) -> float | None:
    """The mean kinetic temperature (K) of the frames that carry velocities (None if none do)."""
    temps = [a.get_temperature() for a in frames if a.get_velocities() is not None and np.any(a.get_velocities())]
    return float(np.mean(temps)) if temps else None


def rdf_comparison(calculator, trajectory, temperature: float | None = None, timestep: float = 1.0,
                   steps_between: int = 20, equilibration: int = 200, r_max: float = 6.0, n_bins: int = 120,
                   frames: int | None = None, seed: int = 0, progress: bool = False) -> dict:
    """The comparison (module docstring); returns the three numbers, both curves, the MD's status."""
    from ..analysis.rdf import rdf
    from ..analysis.trajectory import load_frames
    from ..simulate.md import MD

    reference = load_frames(trajectory)
    if len(reference) < 2:
        raise DataError(f"{trajectory}: a reference trajectory needs at least two frames, got {len(reference)}")
    t = reference_temperature(reference) if temperature is None else float(temperature)
    if t is None:
        raise DataError(f"{trajectory}: the frames carry no velocities: give the temperature of the trajectory")
    n_frames = len(reference) if frames is None else int(frames)
    snapshots = []
    md = MD(reference[0], calculator, "langevin", timestep=timestep, temperature=t, seed=seed, interval=steps_between,
            friction=0.01, observers=[lambda step, atoms: snapshots.append(atoms.copy()) if step > equilibration else None])
    run = md.run(equilibration + steps_between * n_frames)
    if len(snapshots) < 2:
        raise DataError(f"the model's MD from {trajectory}'s first frame stopped at step {run.step} ({run.reason}); "
                        "no g(r) to compare")
    ref = rdf(reference, r_max=r_max, n_bins=n_bins)
    mod = rdf(snapshots, r_max=r_max, n_bins=n_bins)
    g_ref, g_mod = ref.g["total"], mod.g["total"]
    dr = np.diff(ref.edges)
    peak_ref, peak_mod = _first_peak(ref), _first_peak(mod)
    diff = float(np.sum(np.abs(g_mod - g_ref) * dr) / max(float(np.sum(g_ref * dr)), 1e-12))
    return {"temperature": t, "reference_frames": len(reference), "model_frames": len(snapshots), "md_status": run.status,
            "md_reason": run.reason, "r": ref.r.tolist(), "g_reference": g_ref.tolist(), "g_model": g_mod.tolist(),
            "rdf_first_peak_position": (peak_mod[0], peak_ref[0]), "rdf_first_peak_height": (peak_mod[1], peak_ref[1]),
            "rdf_difference": (diff, 0.0),
            "text": (f"{len(snapshots)} model frames of Langevin MD at {t:.0f} K from the reference's first frame, against "
                     f"{len(reference)} reference frames: first peak at {peak_mod[0]:.3f} Å (reference {peak_ref[0]:.3f} Å), "
                     f"height {peak_mod[1]:.3f} ({peak_ref[1]:.3f}); integrated |difference| {diff:.3f} of the reference's "
                     f"integral; MD {run.status}.")}


def _first_peak(result) -> tuple[float, float]:
    from scipy.signal import find_peaks

    g = result.g["total"]
    found, _ = find_peaks(g, prominence=0.1 * max(float(g.max()), 1e-12))
    if not len(found):
        return float("nan"), float("nan")
    return float(result.r[found[0]]), float(g[found[0]])


def plot_rdf_comparison(comparison: dict, path) -> None:
    from ..analysis.results import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(comparison["r"], comparison["g_reference"], label="reference", color="k")
    ax.plot(comparison["r"], comparison["g_model"], label="model", ls="--")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.set_title(f"g(r) at {comparison['temperature']:.0f} K")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["plot_rdf_comparison", "rdf_comparison", "reference_temperature"]

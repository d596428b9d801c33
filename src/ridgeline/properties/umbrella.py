"""Umbrella sampling along a collective variable: biased MD windows, run in parallel on any
executor, and the free-energy profile by MBAR with its error band and overlap diagnostics.

``umbrella_sampling(atoms, calculator, cv, centers, k, temperature)``:

1. **Starting structures** by pulling: from ``atoms``, a short biased run (``pull_steps``) at each
   window's centre in turn, each from the last structure of the one before, outward from the
   window nearest the start's CV value (both ways); a window's start is then near its centre,
   however far the windows reach.
2. **Windows**: each window runs ``equilibration`` + ``steps`` steps of thermostatted MD under
   ``calculator`` plus the umbrella 0.5 k (s - s_c)^2 (:class:`~ridgeline.simulate.biases.
   BiasedCalculator`), recording s every ``interval`` steps of the production part. The windows are
   independent tasks on ``executor`` (:mod:`ridgeline.simulate.parallel`).
3. **Profile**: :func:`ridgeline.analysis.free_energy.umbrella_profile` (MBAR, decorrelated samples,
   error band, overlap of neighbouring windows).

Uncertainty: with a calculator that gives ``forces_sigma`` / ``out_of_domain`` (an ensemble or
calibrated model), each window reports its largest force sigma and the fraction of its recorded
steps with an atom out of the model's domain, so a profile built from windows the model does not
know is flagged, window by window.

Resuming: with ``output_dir``, the pulled starts (``starts.extxyz``) and each finished window
(``windows/window_NNN.npz``, its CV series and settings) are written atomically as they finish; a
rerun with the same settings loads them and runs only what is missing. The settings hold the
window's MD settings, the starting structure's key, the CV and ``run_key``: whatever else
identifies the run (the CLI puts the model file there); a window saved with other settings is run
again.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
from ase.io import read, write

from ..analysis.free_energy import FreeEnergyProfile, umbrella_profile
from ..analysis.results import Result, jsonable
from ..data.frame import structure_key
from ..errors import ConfigError, DataError
from ..files import atomic_write_bytes
from ..simulate.biases import BiasedCalculator, HarmonicUmbrella
from ..simulate.colvars import CollectiveVariable
from ..simulate.md import MD
from ..simulate.parallel import for_task, load_run, materialize, run_tasks, save_run

STARTS_FILE = "starts.extxyz"
MIN_EFFECTIVE_FRACTION = 0.1  # a bin's reweighting by a draw keeps at least this share of its effective samples
WINDOWS_DIR = "windows"


@dataclass
class WindowRun(Result):
    """One umbrella window's production run."""

    index: int
    center: float
    k: float  # eV per CV unit squared
    samples: np.ndarray  # (T,) the CV every ``interval`` steps after equilibration
    status: str = "completed"  # the MD's: "completed" | "exploded"
    reason: str = ""
    max_forces_sigma: float | None = None  # eV/Å, the largest over the recorded steps
    out_of_domain_fraction: float | None = None  # of the recorded steps
    frames: np.ndarray | None = None  # (F, N, 3) Å, positions of every ``frame_every``-th sample (None: not kept)
    seconds: float = 0.0  # wall time of the window's run

    @property
    def flagged(self) -> bool:
        return bool(self.out_of_domain_fraction)


@dataclass
class UmbrellaResult(Result):
    profile: FreeEnergyProfile
    windows: list[WindowRun] = field(default_factory=list)
    structure: object = None  # the start (ase.Atoms), for the kept frames' numbers and cell
    frame_every: int = 0

    @property
    def flagged_windows(self) -> list[float]:
        """Centres of the windows with a step out of the model's domain."""
        return [w.center for w in self.windows if w.flagged]

    def summary(self) -> dict:
        """The profile and, per window, its settings and diagnostics (without the CV series)."""
        windows = [_meta(w) | {"n_samples": int(w.samples.size)} for w in self.windows]
        return {"profile": self.profile.to_dict(), "windows": windows, "gaps": self.profile.gaps,
                "flagged_windows": self.flagged_windows}

    def plot(self, path, title: str = "", reference=None, uncertainty: "ProfileUncertainty | None" = None) -> None:
        band = None if uncertainty is None else (uncertainty.lower, uncertainty.upper,
                                                 f"{100 * uncertainty.confidence:g}% (model; gaps: not resolved)")
        self.profile.plot(path, title, reference, band)


@dataclass
class ProfileUncertainty(Result):
    """The model's own uncertainty of F(s) (eV, the profile's reference bin at zero): the profile
    reweighted to each of ``draws`` posterior energy surfaces (:func:`profile_uncertainty`)."""

    bin_centers: np.ndarray  # (B,)
    lower: np.ndarray  # (B,) eV, F(s) plus the draws' lower quantile of their shift; nan where not resolved
    upper: np.ndarray  # (B,) eV
    sigma: np.ndarray  # (B,) eV, the draws' standard deviation; nan where not resolved
    confidence: float
    draws: int
    frames: int  # structures evaluated
    effective_fraction: np.ndarray  # (B,) the draws' median effective sample fraction in each bin
    resolved: np.ndarray  # (B,) bool: at least `confidence` of the draws keep MIN_EFFECTIVE_FRACTION in the bin


def window_centers(lower: float, upper: float, count: int, period: float | None = None) -> np.ndarray:
    """``count`` evenly spaced centres from ``lower`` to ``upper`` (a periodic CV spanning its whole
    period gets ``count`` centres without the repeated end)."""
    if count < 2:
        raise ConfigError(f"umbrella sampling needs at least 2 windows, got {count}")
    if period is not None and np.isclose(upper - lower, period):
        return np.linspace(lower, upper, count, endpoint=False)
    return np.linspace(lower, upper, count)


def _settings(center, k, temperature, steps, equilibration, interval, timestep, ensemble, parameters, seed,
              frame_every, identity: dict) -> dict:
    return {"center": float(center), "k": float(k), "temperature": float(temperature), "steps": int(steps),
            "equilibration": int(equilibration), "interval": int(interval), "timestep": float(timestep),
            "ensemble": ensemble, "parameters": parameters, "seed": int(seed), "frame_every": int(frame_every),
            **identity}


def _run_window(task: dict) -> WindowRun:
    """One window (a picklable task): equilibration, then production with the CV recorded."""
    s = task["settings"]
    cv = task["cv"]
    biased = BiasedCalculator(materialize(task["calculator"]), [HarmonicUmbrella(cv, s["center"], s["k"])])
    samples, frames = [], []

    def record(step, atoms):
        if step > s["equilibration"]:
            if s["frame_every"] and len(samples) % s["frame_every"] == 0:
                frames.append(atoms.get_positions())
            samples.append(cv.value(atoms))

    start = time.perf_counter()
    md = MD(task["atoms"], biased, s["ensemble"], timestep=s["timestep"], temperature=s["temperature"],
            seed=s["seed"], interval=s["interval"], observers=[record], **s["parameters"])
    md.run(s["equilibration"])
    run = md.run(s["steps"])
    sigma = float(run.max_forces_sigma.max()) if run.max_forces_sigma.size else None
    flags = float(run.out_of_domain.mean()) if run.out_of_domain.size else None
    return WindowRun(task["index"], s["center"], s["k"], np.asarray(samples), run.status, run.reason, sigma, flags,
                     np.asarray(frames) if s["frame_every"] else None, time.perf_counter() - start)


def _pull(atoms, calculator, cv, centers, k, temperature, pull_steps, timestep, ensemble, parameters, seed) -> list:
    """A starting structure per window, pulled window by window outward from the start's CV value."""
    offsets = np.asarray(cv.difference(centers, cv.value(atoms)), dtype=float).reshape(-1)
    order_up = [i for i in np.argsort(offsets) if offsets[i] >= 0]
    order_down = [i for i in np.argsort(-offsets) if offsets[i] < 0]
    starts = [None] * len(centers)
    calculator = materialize(calculator)
    for order in (order_up, order_down):
        current = atoms.copy()
        for i in order:
            biased = BiasedCalculator(calculator, [HarmonicUmbrella(cv, centers[i], k[i])])
            md = MD(current, biased, ensemble, timestep=timestep, temperature=temperature, seed=seed + i,
                    interval=max(1, pull_steps), **parameters)
            run = md.run(pull_steps)
            if run.stopped:
                raise DataError(f"umbrella window at {centers[i]:g}: pulling stopped, {run.reason}; "
                                "use more windows, a softer k or a shorter timestep")
            current = md.atoms.copy()
            current.calc = None
            current.info.update(umbrella_center=float(centers[i]), umbrella_k=float(k[i]))
            starts[i] = current
    return starts


def umbrella_sampling(atoms, calculator, cv: CollectiveVariable, centers, k, temperature: float = 300.0,
                      steps: int = 2000, equilibration: int = 500, timestep: float = 0.5,
                      ensemble: str = "langevin", parameters: dict | None = None, interval: int = 1,
                      pull_steps: int = 200, seed: int = 0, bins: int | np.ndarray = 50,
                      executor="serial", workers: int | None = None, output_dir=None,
                      run_key: dict | None = None, frame_every: int = 0) -> UmbrellaResult:
    """Umbrella sampling of ``cv`` (module docstring); ``k`` in eV per CV unit squared, one number
    or one per window; MD units as :mod:`ridgeline.simulate.md` (fs, K). ``calculator``: an ASE
    calculator, or a :class:`~ridgeline.simulate.parallel.CalculatorFactory` that builds one in
    each task (what worker processes need of a calculator that cannot be pickled). ``frame_every``
    > 0 keeps the positions of every such sample, for :func:`profile_uncertainty`."""
    centers = np.asarray(centers, dtype=float).ravel()
    k = np.broadcast_to(np.asarray(k, dtype=float), centers.shape).copy()
    parameters = dict(parameters or {})
    if len(centers) < 2:
        raise ConfigError(f"umbrella sampling needs at least 2 windows, got {len(centers)}")
    if np.any(k <= 0) or steps < 2 or equilibration < 0 or pull_steps < 0 or frame_every < 0:
        raise ConfigError("umbrella sampling needs k > 0, steps >= 2, and equilibration, pull_steps and frame_every >= 0")
    cv.check_atoms(len(atoms))
    identity = {"structure": structure_key(atoms), "cv": [type(cv).__name__, *map(int, getattr(cv, "indices", ())),
                                                          getattr(cv, "r0", None)],
                "pull_steps": int(pull_steps), "run_key": run_key or {}}
    tag = "run-" + hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    settings = [_settings(c, kk, temperature, steps, equilibration, interval, timestep, ensemble, parameters, seed + i,
                          frame_every, identity) for i, (c, kk) in enumerate(zip(centers, k))]
    out = Path(output_dir) if output_dir is not None else None
    done = _load_windows(out, settings) if out is not None else {}
    todo = [i for i in range(len(centers)) if i not in done]
    if todo:
        starts = _load_starts(out, centers, k, tag) if out is not None else None
        if starts is None:
            starts = _pull(atoms, calculator, cv, centers, k, temperature, pull_steps, timestep, ensemble, parameters,
                           seed)
            if out is not None:
                _save_starts(out, starts, tag)
        tasks = [{"index": i, "atoms": starts[i], "cv": cv, "settings": settings[i],
                  "calculator": for_task(calculator, executor)} for i in todo]

        def keep(position, window):
            done[window.index] = window
            if out is not None:
                _save_window(out, window, settings[window.index])

        run_tasks(_run_window, tasks, executor, workers, on_result=keep)
    windows = [done[i] for i in range(len(centers))]
    for w in windows:
        if w.status != "completed":
            raise DataError(f"umbrella window {w.index} (centre {w.center:g}) stopped: {w.reason}")
    profile = umbrella_profile([w.samples for w in windows], centers, k, temperature, bins=bins, period=cv.period,
                               cv_unit=cv.unit)
    return UmbrellaResult(profile, windows, atoms.copy() if frame_every else None, frame_every)


def profile_uncertainty(result: UmbrellaResult, uq, draws: int = 200, confidence: float = 0.95,
                        seed: int = 0) -> ProfileUncertainty:
    """The model's uncertainty of the free-energy profile, carried through the Boltzmann weights:
    the kept frames' energies are drawn ``draws`` times from the calibrated posterior
    (:func:`~ridgeline.uncertainty.propagation.energy_draws`: a committee's covariance or the
    last-layer Laplace one, correlations between frames kept), each draw's energy shift reweights the
    same umbrella samples by MBAR (:func:`~ridgeline.analysis.free_energy.reweighted_profiles`),
    and each bin's band is the profile plus the quantiles of the draws' shifts of F(s). Sampling
    noise is common to every draw, so the band is the model's alone. Reweighting is sound while the
    draws' energies spread over no more than a few kT within a bin; where they spread further, a
    few frames take all the weight (the bin's effective sample fraction under that draw falls below
    :data:`MIN_EFFECTIVE_FRACTION`). The band's ends come from the tail draws, so a bin is resolved
    only where at least ``confidence`` of the draws keep that fraction; elsewhere ``resolved`` is
    False and the band nan. Such bins are where the model does not know its energies to within kT: its
    domain flags say so too.
    ``result`` must come from ``umbrella_sampling(..., frame_every > 0)``; ``uq``: the calculator's
    :class:`~ridgeline.uncertainty.UncertaintyModel` (``Calculator.uq``)."""
    from ..analysis.free_energy import reweighted_profiles
    from ..uncertainty.propagation import energy_draws

    if result.frame_every < 1 or any(w.frames is None for w in result.windows):
        raise ConfigError("profile_uncertainty needs the windows' frames: run umbrella_sampling with frame_every > 0")
    if uq is None:
        raise ConfigError("profile_uncertainty needs a model with uncertainties (an ensemble or calibrated model file)")
    if not 0 < confidence < 1 or draws < 20:
        raise ConfigError(f"profile_uncertainty needs 0 < confidence < 1 and draws >= 20, got {confidence}, {draws}")
    structures, samples = [], []
    for w in result.windows:
        samples.append(w.samples[:: result.frame_every][: len(w.frames)])
        for positions in w.frames:
            atoms = result.structure.copy()
            atoms.positions = positions
            structures.append(atoms)
    energies, drawn = energy_draws(uq, structures, draws, seed)
    profile = result.profile
    reference = float(profile.bin_centers[np.nanargmin(profile.free_energy)])
    f0, fd, ess = reweighted_profiles(samples, profile.centers, profile.k, profile.temperature, profile.bin_edges,
                                      drawn - energies, reference, profile.period)
    effective = np.median(ess, axis=0)
    # the band's ends are set by the tail draws: a bin is resolved where the draws that keep enough
    # effective samples make up at least the confidence level
    kept = np.mean(ess >= MIN_EFFECTIVE_FRACTION, axis=0)
    resolved = (kept >= confidence) & np.isfinite(profile.free_energy)
    shift = np.where(resolved, fd - f0, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan columns are the bins not resolved
        q = np.nanquantile(shift, [0.5 * (1 - confidence), 0.5 * (1 + confidence)], axis=0)
        sigma = np.nanstd(shift, axis=0, ddof=1)
    return ProfileUncertainty(profile.bin_centers, profile.free_energy + q[0], profile.free_energy + q[1], sigma,
                              confidence, draws, len(structures), effective, resolved)


# ------------------------------------------------------------------------------------- resuming
def _meta(window: WindowRun) -> dict:
    """A window's scalars (JSON types), without its series and frames."""
    return jsonable({f.name: getattr(window, f.name) for f in fields(window) if f.name not in ("samples", "frames")})


def _window_path(out: Path, index: int) -> Path:
    return out / WINDOWS_DIR / f"window_{index:03d}.npz"


def _save_window(out: Path, window: WindowRun, settings: dict) -> None:
    meta = _meta(window)
    arrays = {"samples": window.samples} | ({} if window.frames is None else {"frames": window.frames})
    save_run(_window_path(out, window.index), arrays, meta, settings)


def _load_windows(out: Path, settings: list[dict]) -> dict[int, WindowRun]:
    """The saved windows whose settings equal this run's."""
    done = {}
    for i, wanted in enumerate(settings):
        saved = load_run(_window_path(out, i), wanted)
        if saved is not None:
            done[i] = WindowRun(samples=saved[0]["samples"], frames=saved[0].get("frames"), **saved[1])
    return done


def _save_starts(out: Path, starts: list, tag: str) -> None:
    buffer = io.StringIO()
    for atoms in starts:  # each start's info holds its window's centre and k and the run's identity
        atoms.info["umbrella_run"] = tag
    write(buffer, starts, format="extxyz")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / STARTS_FILE, buffer.getvalue().encode())


def _load_starts(out: Path, centers, k, tag: str):
    """The saved starts, where they were pulled for these centres and spring constants in a run of
    the same structure, CV, pull and ``run_key`` (``tag``: their hash)."""
    path = out / STARTS_FILE
    if not path.exists():
        return None
    try:
        starts = read(path, index=":")
    except Exception as err:
        raise DataError(f"{path}: not readable ({type(err).__name__}: {err}); delete it to pull the windows again") from err
    saved = [(a.info.get("umbrella_center"), a.info.get("umbrella_k"), a.info.get("umbrella_run")) for a in starts]
    return starts if saved == [(float(c), float(kk), tag) for c, kk in zip(centers, k)] else None


__all__ = ["MIN_EFFECTIVE_FRACTION", "ProfileUncertainty", "STARTS_FILE", "UmbrellaResult", "WindowRun", "profile_uncertainty",
           "umbrella_sampling", "window_centers"]

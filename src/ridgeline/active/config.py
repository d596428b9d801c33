"""The active-learning configuration: one YAML file (``ridgeline al run CONFIG``), typed and
validated like the training config; unknown keys are errors naming the valid ones.

The ``model`` and ``training`` sections are the training config's own, with the loop's own
defaults where a key is not given (``LOOP_TRAINING``, ``LOOP_MODEL``: each retraining is short and
warm-started from the previous iteration's committee). Each value has one home here.

A run keeps the config it was started with (``config.yaml`` in its output_dir) unchanged; a resume
may change only the keys in ``RESUMABLE_KEYS``, and each resume that changes some appends them to
``resumes.jsonl`` (``{"time", "changes": {key: value}}`` per line), so that the config every
iteration ran with can be told. ``load_run_config`` reads the run's config as it is now.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from ..errors import ConfigError
from ..files import atomic_write_bytes
from ..names import AL_RESUMES_FILE, RUN_CONFIG_FILE
from ..training.config import (ModelConfig, TrainingConfig, apply_overrides, build_dataclass,
                               check_model_hyperparameters, config_to_dict, read_yaml_mapping)
from .selectors import SELECTORS


@dataclass
class OracleConfig:
    name: str = "xtb"  # emt, xtb (GFN2-xTB through tblite), pyscf (DFT, molecules)
    workers: int = 2  # parallel oracle calls (process pool); 1 = in this process
    timeout: float | None = None  # seconds per call, then recorded as failed
    options: dict = field(default_factory=dict)  # keyword arguments of the oracle (e.g. method, basis, xc)


@dataclass
class ExploreConfig:
    walkers: int = 4  # MD trajectories per iteration, each from a random start or labelled frame
    steps: int = 400  # MD steps per walker
    timestep: float = 0.5  # fs
    temperature: float = 300.0  # K
    temperature_end: float | None = None  # K: linear ramp from temperature (None = constant)
    friction: float = 0.01  # 1/fs (Langevin)
    interval: int = 10  # harvest a frame (and check the domain) every interval steps
    # a walker stops (its last frame harvested) when the committee's calibrated force sigma on an
    # atom exceeds max_forces_sigma (eV/Å; None = sigma_factor x the committee's rms force sigma on
    # its own training frames, a scale-free default) ...
    max_forces_sigma: float | None = None
    sigma_factor: float = 5.0
    # ... and, with stop_on_domain, when the Mahalanobis monitor flags an atom (a per-atom test at
    # 99% confidence: expect false alarms in large cells)
    stop_on_domain: bool = False
    bias: str = "none"  # none | adversarial (climbs the committee's uncertainty; biases.AdversarialBias)
    # adversarial bias E = -E_max tanh(k alpha Var(E) / (N E_max)) ~ -k sigma_E^2 / N for small spread
    bias_strength: float = 1000.0  # k, 1/eV
    bias_max_energy: float = 0.5  # E_max, eV
    # fraction of walkers started from the frames labelled in the previous iteration (the frontier
    # the committee was unsure about); the rest start from the start structures
    from_frontier: float = 0.75


@dataclass
class SelectConfig:
    method: str = "committee"  # committee | maxvol | mahalanobis | random
    per_iteration: int = 8  # oracle calls asked per iteration (at most)
    threshold: float | None = None  # skip candidates scoring below (committee: eV/Å; maxvol: grade)
    min_separation: float | None = None  # fingerprint distance for near-duplicates (None = automatic)


@dataclass
class StopConfig:
    max_iterations: int = 6
    oracle_budget: int | None = None  # total oracle calls of the loop (seed + selected)
    target_forces_rmse: float | None = None  # eV/Å on the validation frames
    # converged when the calibrated force sigma of freshly explored frames (95th percentile of each
    # frame's largest) stays below converged_sigma for converged_iterations iterations in a row
    converged_sigma: float | None = None  # eV/Å
    converged_iterations: int = 2


@dataclass
class ValidationConfig:
    file: str | None = None  # labelled frames (extxyz, ASE db, converted dataset); else made by oracle MD below
    frames: int = 40  # frames from oracle-driven Langevin MD from the start structures (0 = none)
    temperature: float = 300.0  # K
    steps_between: int = 20  # MD steps between kept frames
    equilibration: int = 200  # MD steps before the first kept frame


@dataclass
class ActiveConfig:
    output_dir: str = "al_run"
    structures: str = "ethanol"  # start structures: an ASE-readable file, or a molecule name known to ase.build.molecule
    seed_frames: int = 12  # labelled before the first model: rattled copies of the start structures
    rattle: float = 0.05  # Å, standard deviation of the seed displacements
    committee: int = 3  # ensemble members (committee disagreement = the uncertainty)
    seed: int = 0
    dtype: str = "float64"
    oracle: OracleConfig = field(default_factory=OracleConfig)
    explore: ExploreConfig = field(default_factory=ExploreConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    stop: StopConfig = field(default_factory=StopConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def to_dict(self) -> dict:
        return config_to_dict(self)


BIASES = ("none", "adversarial")
# per retraining (minutes); one loss stage with the final stage's energy weight: retrainings are
# short and warm-started (two stages were not measured in the loop)
LOOP_TRAINING = {"epochs": 100, "max_time": 1.0, "final_stage": None, "energy_weight": TrainingConfig.final_energy_weight}
LOOP_MODEL = {"name": "moment", "preset": "small"}


def load_active_config(path=None, overrides=(), base: dict | None = None) -> ActiveConfig:
    """Read an active-learning YAML (or start from ``base``), apply ``key=value`` overrides, validate."""
    data = dict(base or {})
    if path is not None:
        data = read_yaml_mapping(path)
    apply_overrides(data, overrides)
    # defaults of the loop (not of a standalone training run): each retraining is short and
    # warm-started, and a small model keeps iterations quick
    for section, defaults in (("training", LOOP_TRAINING), ("model", LOOP_MODEL)):
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"config section {section!r} must be a mapping, got {data[section]!r}")
        data[section] = {**defaults, **data.get(section, {})}
    config = build_dataclass(ActiveConfig, data)
    check_model_hyperparameters(config.model)
    if config.select.method not in SELECTORS:
        raise ConfigError(f"config key 'select.method': unknown selector {config.select.method!r}; available: {', '.join(SELECTORS)}")
    if config.explore.bias not in BIASES:
        raise ConfigError(f"config key 'explore.bias': expected one of {', '.join(BIASES)}, got {config.explore.bias!r}")
    if config.committee < 2:
        raise ConfigError(f"config key 'committee': a committee needs at least 2 members, got {config.committee}")
    if config.dtype not in ("float32", "float64"):
        raise ConfigError(f"config key 'dtype': expected float32 or float64, got {config.dtype!r}")
    for key, value in (("seed_frames", config.seed_frames), ("select.per_iteration", config.select.per_iteration),
                       ("explore.walkers", config.explore.walkers), ("explore.steps", config.explore.steps),
                       ("explore.interval", config.explore.interval), ("oracle.workers", config.oracle.workers)):
        if value < 1:
            raise ConfigError(f"config key {key!r}: must be at least 1, got {value}")
    return config


# keys a resume may change: when the run stops, and how (not what) the oracle is asked; the
# iterations already done stay what the config made them (their exploration, selection, labels
# and training do not depend on these)
RESUMABLE_KEYS = (*(f"stop.{f.name}" for f in fields(StopConfig)), "oracle.workers", "oracle.timeout")


def _flat(config: ActiveConfig) -> dict:
    """``section.key -> value`` of a config, as its YAML file holds the values (tuples as lists)."""
    def walk(d, prefix):
        for k, v in d.items():
            if isinstance(v, dict) and v:
                yield from walk(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    d = yaml.safe_load(yaml.safe_dump(config.to_dict()))
    d.pop("output_dir")  # where the run is, not what it does: a run directory may be moved
    return dict(walk(d, ""))


def resume_changes(run: ActiveConfig, new: ActiveConfig) -> dict:
    """The keys (dotted) that ``new`` changes in the run's config ``run``, with their new values;
    a ConfigError names the first key that a resume may not change and lists those it may."""
    before, after = _flat(run), _flat(new)
    changes = {k: after.get(k) for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}
    refused = [k for k in changes if k not in RESUMABLE_KEYS]
    if refused:
        k = refused[0]
        raise ConfigError(f"config key {k!r} cannot change on resume (the run was made with {before.get(k)!r}, not "
                          f"{after.get(k)!r}); a resume may change only: {', '.join(RESUMABLE_KEYS)}")
    return changes


def _resumes_path(folder) -> Path:
    return Path(folder) / AL_RESUMES_FILE


def read_resumes(folder) -> list[dict]:
    """The config changes of the run's resumes, oldest first (none for a run never resumed with any)."""
    path = _resumes_path(folder)
    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: damaged ({err})") from None


def record_resume(folder, changes: dict) -> None:
    """Append one resume's config changes to the run's history (written atomically)."""
    line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "changes": changes})
    path = _resumes_path(folder)
    atomic_write_bytes(path, (path.read_text() if path.exists() else "").encode() + (line + "\n").encode())


def load_run_config(folder, overrides=()) -> ActiveConfig:
    """The config of the active-learning run in ``folder`` as it is now: the config it was started
    with, the changes of its resumes in order, then ``overrides``; ``output_dir`` is ``folder``."""
    folder = Path(folder)
    path = folder / RUN_CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{folder}: no active-learning run here ({RUN_CONFIG_FILE} missing)")
    data = read_yaml_mapping(path)
    for resume in read_resumes(folder):
        for key, value in resume["changes"].items():
            *sections, name = key.split(".")
            node = data
            for section in sections:
                node = node.setdefault(section, {})
            node[name] = value
    config = load_active_config(base=data, overrides=overrides)
    config.output_dir = str(folder)
    return config

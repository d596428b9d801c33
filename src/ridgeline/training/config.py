"""The training configuration: one YAML file read into typed dataclasses, overridable with
``key=value`` (dotted for nested keys, e.g. ``training.lr=1e-3``). Unknown keys are errors that
list the valid ones. Each value has one home here; nothing else holds a default for it."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..data.readers import KeyMap
from ..errors import ConfigError
from ..models import ARCHITECTURES, default_cutoff, hyperparameter_names
from ..names import SPLITS
from .loss import FORCE_LOSSES, STRESS_COMPONENTS


SCHEDULERS = ("cosine", "plateau")
KEEP = ("last", "best")  # training.final_stage_keep and training.final_stage_start


@dataclass
class ModelConfig:
    name: str = "bpnn"  # architecture
    preset: str = "medium"  # size preset of the architecture
    cutoff: float | None = None  # Å; None: the preset's cutoff, else the architecture's default (5 Å)
    # any other key is a hyperparameter of the architecture (checked against its signature)
    hyperparameters: dict = field(default_factory=dict)


@dataclass
class TrainingConfig:
    # the run's length for the cosine schedule, unless max_time ends it first: on the mlearn Si and
    # Mo sets (~200 frames), against 400-500 epochs, 200 gave Mo an 8% lower validation force error
    # (it overfits) and Si one 2% higher (within seed noise) (docs/results_log.md)
    epochs: int = 200
    max_time: float | None = None  # minutes of training wall time, then stop as if converged
    batch_size: int = 4  # structures per batch
    lr: float = 3e-3
    weight_decay: float = 0.0
    # AMSGrad (Adam with the running maximum of the second moments, MACE's default): steps can only
    # shrink where a gradient was once large
    amsgrad: bool = False
    clip_grad_norm: float | None = 10.0  # rescale gradients above this norm (a bad batch cannot wreck the weights)
    # two loss stages, as MACE's: a force-heavy first stage, then (from final_stage of the run on)
    # an energy-weighted final stage; per-atom energy errors are ~30x smaller than force errors,
    # so weight 30 lets both be learned (docs/results_log.md: 0.1 then 30 beat 30 throughout)
    energy_weight: float = 0.1  # on (E/N)^2, eV^2/atom^2
    forces_weight: float = 1.0  # on force components, (eV/Å)^2
    # on stress components, (eV/Å^3)^2, of the frames that carry a stress (others are masked); 0 =
    # not fitted; None: loss.DEFAULT_STRESS_WEIGHT where training frames carry a stress, else 0
    # without a warning. With correctly ordered labels, fitting stress lowered the validation
    # energy error 8% (Mo) and 11% (Si) and the stress error 4-5x at the same force error
    # (docs/results_log.md); check a file's labels with `ridgeline eval --check-stress` (the
    # shear order of mlearn's files was mixed up, which looked like stresses that disagree with
    # the energies)
    stress_weight: float | None = None
    # which part of the stress error is fitted: "full", or "deviatoric" (the traceless part: shear
    # and anisotropic normal stress), which ignores an isotropic offset of the labels such as a
    # plane-wave DFT code's Pulay stress (a basis too small for the strained cell)
    stress_components: str = "full"
    # force penalty: "mse" (squared error) or "huber" (squared below huber_delta eV/Å, linear
    # above: follows the force MAE and lets a few hot atoms weigh less; training/loss.py)
    forces_loss: str = "mse"
    huber_delta: float = 0.01
    # the final stage (MACE's "stage two"): from this fraction of the run (epochs or max_time,
    # whichever ends it) on, the loss takes the final_* weights (None: the weight above); None =
    # one stage (energy_weight and forces_weight throughout, the best-on-validation weights kept)
    final_stage: float | None = 0.7
    final_energy_weight: float | None = 30.0
    final_forces_weight: float | None = None
    # the final weights are reached over this fraction of the final stage (1/3: 0.1 of the run
    # at final_stage 0.7), from the first stage's geometrically, epoch by epoch; 0 = at once. A
    # 300x step in the energy weight makes Adam, whose second moments remember the small gradients
    # before it, take steps ~30x too large: the first final-stage epochs undid the force fit
    # (docs/results_log.md)
    final_stage_ramp: float = 1 / 3
    # which weights a two-stage run keeps: "last", the final stage's last (EMA) weights, at the
    # end of the annealed learning rate; or "best", its best-on-validation epoch. The validation
    # loss is dominated by the force term, so "best" picked the stage's first epochs on Mo, before
    # the energies were fitted (docs/results_log.md)
    final_stage_keep: str = "last"
    # which weights the final stage starts from: "last", the first stage's last weights; or
    # "best", its best-on-validation (EMA) weights, which undoes a first stage that overfits
    # (validation error rising over its last part) before the energies are fitted
    final_stage_start: str = "last"
    ema_decay: float = 0.99
    # learning-rate schedule: "cosine" anneals lr -> min_lr over the run's length (epochs or
    # max_time, whichever ends it first), so a time budget is used to the end; "plateau" halves lr
    # after scheduler_patience epochs without validation improvement and stops early after
    # early_stopping_patience (the two patience keys apply to "plateau" only)
    scheduler: str = "cosine"
    scheduler_patience: int = 15
    scheduler_factor: float = 0.5
    min_lr: float = 1e-5
    early_stopping_patience: int = 50
    valid_fraction: float = 0.1  # of train_file, used when no valid_file is given
    # how the validation frames are drawn from train_file: "random" frames, or "block": within each
    # config_type, runs of valid_block consecutive frames (in file order) held out whole, so that
    # neighbouring MD snapshots (nearly the same structure) do not sit on both sides of the split;
    # "stratified": within each config_type, frames spread over the range of their force RMS
    # (a small validation set that still spans the data; split_frames)
    valid_split: str = "random"
    valid_block: int = 10  # frames per block of valid_split: block
    seed: int = 0  # weights, data order and (unless split_seed is set) the validation split
    split_seed: int | None = None  # the validation split alone (ensemble members share one)
    # warm start: weights, element offsets and scales from this model file (its architecture and
    # sizes win over model.preset; model.name must match); None = fresh weights
    init_model: str | None = None


@dataclass
class Config:
    train_file: str = ""
    test_file: str | None = None
    valid_file: str | None = None
    output_dir: str = "runs/ridgeline"
    dtype: str = "float32"  # float32 or float64
    device: str = "auto"  # cpu, cuda, or auto
    min_distance: float = 0.5  # Å; closer atoms in a data file are an error
    keys: KeyMap = field(default_factory=KeyMap)  # names of the labels in the data files
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)

    def to_dict(self) -> dict:
        return config_to_dict(self)


def config_to_dict(config) -> dict:
    """A config dataclass as the mapping its YAML holds (model hyperparameters beside name/preset)."""
    d = dataclasses.asdict(config)
    d["model"].update(d["model"].pop("hyperparameters"))
    return d


def _field_types(cls) -> dict:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value, typ, where: str):
    origin = typing.get_origin(typ)
    args = [a for a in typing.get_args(typ) if a is not type(None)]
    if value is None and type(None) in typing.get_args(typ):
        return None
    if origin in (typing.Union, types.UnionType) and len(args) > 1:  # the first of the types that takes it
        for option in args:
            try:
                return _coerce(value, option, where)
            except ConfigError:
                pass
        names = " or ".join(getattr(a, "__name__", str(a)) for a in args)
        raise ConfigError(f"config key {where!r}: expected {names}, got {value!r}")
    if origin in (typing.Union, types.UnionType) and args:
        typ = args[0]
    if dataclasses.is_dataclass(typ):
        return _build(typ, value, where)
    try:
        if typ is bool and isinstance(value, str):
            raise ValueError
        if typ is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
            return float(value)  # YAML reads 1e-3 (no dot) as a string
        if typ is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if typ is str and isinstance(value, str):
            return value
        if typ is dict and isinstance(value, dict):
            return value
        if typ is list and isinstance(value, list):
            return value
        if typ is bool and isinstance(value, bool):
            return value
    except ValueError:
        pass
    raise ConfigError(f"config key {where!r}: expected {getattr(typ, '__name__', typ)}, got {value!r}")


def _build(cls, data, where: str = ""):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config section {where or 'top level'!r} must be a mapping, got {data!r}")
    types = _field_types(cls)
    kwargs = {}
    extra = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in types or key == "hyperparameters":
            if cls is ModelConfig:
                extra[key] = value
                continue
            valid = ", ".join(k for k in types)
            raise ConfigError(f"unknown config key {path!r}; valid keys{' of ' + where if where else ''}: {valid}")
        kwargs[key] = _coerce(value, types[key], path)
    obj = cls(**kwargs)
    if cls is ModelConfig:
        obj.hyperparameters.update(extra)
    return obj


build_dataclass = _build  # typed, validated construction of any config dataclass from a mapping


def apply_overrides(data: dict, overrides) -> dict:
    """``key=value`` overrides (dotted for nested keys) applied to a config mapping in place."""
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return data


def read_yaml_mapping(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values")
    return data


def check_model_hyperparameters(model: ModelConfig) -> None:
    """Model keys beyond name/preset/cutoff must be hyperparameters of the chosen architecture;
    an unset cutoff becomes the preset's (``models.default_cutoff``)."""
    if model.name not in ARCHITECTURES:
        raise ConfigError(f"config key 'model.name': unknown architecture {model.name!r}; available: {', '.join(sorted(ARCHITECTURES))}")
    cls, presets = ARCHITECTURES[model.name]
    if model.preset not in presets:
        raise ConfigError(f"config key 'model.preset': unknown preset {model.preset!r} for {model.name}; available: {', '.join(presets)}")
    valid = hyperparameter_names(model.name)
    for key in model.hyperparameters:
        if key not in valid:
            raise ConfigError(
                f"unknown config key 'model.{key}' for architecture {model.name}; valid keys of model: "
                f"name, preset, cutoff, {', '.join(valid)}"
            )
    if model.cutoff is None:
        model.cutoff = default_cutoff(model.name, model.preset)
    elif not model.cutoff > 0:
        raise ConfigError(f"config key 'model.cutoff': expected a positive distance in Å, got {model.cutoff}")


def parse_override(text: str) -> tuple[list[str], object]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. training.lr=1e-3)")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value != "" else None
    except yaml.YAMLError:
        parsed = value
    return key.strip().split("."), parsed


def load_config(path=None, overrides: list[str] = (), base: dict | None = None) -> Config:
    """Read a YAML config (or start from ``base``), apply ``key=value`` overrides, validate."""
    data = dict(base or {})
    if path is not None:
        data = read_yaml_mapping(path)
    apply_overrides(data, overrides)
    config = _build(Config, data)
    if not config.train_file:
        raise ConfigError("config key 'train_file' is required (an extxyz file, ASE database or converted dataset)")
    if config.dtype not in ("float32", "float64"):
        raise ConfigError(f"config key 'dtype': expected float32 or float64, got {config.dtype!r}")
    if config.training.scheduler not in SCHEDULERS:
        raise ConfigError(f"config key 'training.scheduler': expected one of {', '.join(SCHEDULERS)}, got {config.training.scheduler!r}")
    if config.training.valid_split not in SPLITS:
        raise ConfigError(f"config key 'training.valid_split': expected one of {', '.join(SPLITS)}, got {config.training.valid_split!r}")
    if config.training.valid_block < 1:
        raise ConfigError(f"config key 'training.valid_block': expected a positive number of frames, got {config.training.valid_block}")
    t = config.training
    if t.final_stage_keep not in KEEP:
        raise ConfigError(f"config key 'training.final_stage_keep': expected one of {', '.join(KEEP)}, got {t.final_stage_keep!r}")
    if t.final_stage_start not in KEEP:
        raise ConfigError(f"config key 'training.final_stage_start': expected one of {', '.join(KEEP)}, got {t.final_stage_start!r}")
    if t.final_stage is not None and not 0.0 < t.final_stage < 1.0:
        raise ConfigError(f"config key 'training.final_stage': expected a fraction of the run between 0 and 1, got {t.final_stage}")
    if not 0.0 <= t.final_stage_ramp <= 1.0:
        raise ConfigError(f"config key 'training.final_stage_ramp': expected a fraction of the final stage between 0 and 1, "
                          f"got {t.final_stage_ramp}")
    if t.forces_loss not in FORCE_LOSSES:
        raise ConfigError(f"config key 'training.forces_loss': expected one of {', '.join(FORCE_LOSSES)}, got {t.forces_loss!r}")
    if t.stress_components not in STRESS_COMPONENTS:
        raise ConfigError(f"config key 'training.stress_components': expected one of {', '.join(STRESS_COMPONENTS)}, "
                          f"got {t.stress_components!r}")
    if not t.huber_delta > 0:
        raise ConfigError(f"config key 'training.huber_delta': expected a force error > 0 (eV/Å), got {t.huber_delta}")
    for key in ("energy_weight", "forces_weight", "stress_weight", "final_energy_weight", "final_forces_weight"):
        value = getattr(t, key)
        if value is not None and not value >= 0:
            raise ConfigError(f"config key 'training.{key}': expected a weight >= 0, got {value}")
    check_model_hyperparameters(config.model)
    return config

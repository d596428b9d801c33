"""The training loop: force matching with AdamW, a cosine (to the end of the budget) or plateau
schedule, EMA weights, best-on-validation weights, a checkpoint after every epoch and an exact
``resume``."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml
from ase.data import chemical_symbols
from tqdm.auto import tqdm

from ..data import FrameSubset, GraphDataset, count_labelled, frame_config_types, frame_strata, load_frames, make_loader, split_frames
from ..data.statistics import elements_of, fit_atomic_energies, force_rms
from ..errors import ConfigError
from ..models import ForceStressOutput, build_model
from ..files import atomic_write_bytes
from ..models.io import load_model, read_description, save_model
from ..names import CHECKPOINT_FILE, METRICS_FILE, MODEL_FILE, RUN_CONFIG_FILE
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config
from .distributed import all_reduce_sum, barrier, init_from_environment, rank_and_world, sum_gradients
from .ema import EMA
from .loss import DEFAULT_STRESS_WEIGHT, WeightedLoss, deviatoric_voigt, penalty
from .metrics import Predictions, compute_metrics, predict
from .report import parity_plot, write_report

STATISTICS_FRAMES = 4096
# config keys a resume may change: the run's length, and which of the weights tracked in any
# case (best and last) the end keeps
_RESUMABLE_CHANGES = {"training.epochs", "training.max_time", "training.final_stage_keep"}


def _flatten(d: dict, prefix: str = "") -> dict:
    flat = {}
    for k, v in d.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}."))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"config key 'device': {name!r} asked for but CUDA is not available")
    return torch.device(name)


def validation_loss(p: Predictions, loss: WeightedLoss) -> float:
    def mean_penalty(pred, ref, kind="mse"):
        labelled = ~np.isnan(ref)  # an absent label is NaN; a diverged prediction (inf, NaN) still counts
        d = (pred - ref)[labelled]
        return float(penalty(torch.from_numpy(d), kind, loss.huber_delta).mean()) if d.size else 0.0

    value = loss.weights["energy"] * mean_penalty(p.energy_pred / p.n_atoms, p.energy_ref / p.n_atoms)
    value += loss.weights["forces"] * mean_penalty(p.forces_pred, p.forces_ref, loss.forces_loss)
    if loss.needs_stress:
        pred, ref = p.stress_pred, p.stress_ref
        if loss.stress_components == "deviatoric":
            pred, ref = deviatoric_voigt(pred), deviatoric_voigt(ref)
        value += loss.weights["stress"] * mean_penalty(pred, ref)
    return value


class Trainer:
    def __init__(self, config: Config, progress: bool = True):
        self.config = config
        self.out = Path(config.output_dir)
        self.progress = progress
        self.device = init_from_environment(resolve_device(config.device))
        self.rank, self.world = rank_and_world()  # data-parallel processes (torchrun); rank 0 writes files
        self.dtype = getattr(torch, config.dtype)
        t = config.training
        stress_weight = DEFAULT_STRESS_WEIGHT if t.stress_weight is None else t.stress_weight
        self.loss = WeightedLoss(t.energy_weight, t.forces_weight, stress_weight, t.forces_loss, t.huber_delta, t.stress_components)
        self.final = t.final_stage is not None
        self.final_loss = WeightedLoss(t.energy_weight if t.final_energy_weight is None else t.final_energy_weight,
                                       t.forces_weight if t.final_forces_weight is None else t.final_forces_weight, stress_weight,
                                       t.forces_loss, t.huber_delta, t.stress_components)
        self.stage = 0  # 1 in the final stage
        self.checkpoint_path = self.out / CHECKPOINT_FILE
        self.model_path = self.out / MODEL_FILE

    # ----------------------------------------------------------------- data
    def load_data(self):
        """Read the data and make the train/validation split (sets ``train_frames``, ``valid_frames``)."""
        c, t = self.config, self.config.training
        weights = [self.loss.weights] + ([self.final_loss.weights] if self.final else [])
        require = ["energy"] if any(w["energy"] > 0 for w in weights) else []
        require += ["forces"] if any(w["forces"] > 0 for w in weights) else []
        # stress is fitted on the frames that carry it (periodic cells), the others are masked
        frames = load_frames(c.train_file, c.keys, require=require, min_distance=c.min_distance)
        if c.valid_file:
            self.train_frames, self.valid_frames = frames, load_frames(c.valid_file, c.keys, require=require, min_distance=c.min_distance)
        else:  # views, not copies: a converted on-disk dataset stays on disk
            groups = frame_config_types(frames) if t.valid_split != "random" else None
            strata = frame_strata(frames) if t.valid_split == "stratified" else None
            train_idx, valid_idx = split_frames(len(frames), t.valid_fraction, t.seed if t.split_seed is None else t.split_seed,
                                                mode=t.valid_split, groups=groups, block_size=t.valid_block, strata=strata)
            self.train_frames, self.valid_frames = FrameSubset(frames, train_idx), FrameSubset(frames, valid_idx)
        if not len(self.train_frames):
            raise ConfigError(f"{c.train_file}: no training frames")
        if self.loss.needs_stress and not count_labelled(self.train_frames, "stress"):
            if self.rank == 0 and t.stress_weight is not None:  # unset: stress is fitted where there is one
                warnings.warn(f"{c.train_file}: no training frame carries a stress (key {c.keys.stress!r}): "
                              "the stress term is left out of the loss", stacklevel=2)
            for loss in (self.loss, self.final_loss):
                loss.weights["stress"] = 0.0
        self.elements = elements_of(self.train_frames)
        # graphs are cached in memory unless the frames live on disk (bounded memory)
        self.train_set = GraphDataset(self.train_frames, c.model.cutoff)
        self.valid_set = GraphDataset(self.valid_frames, c.model.cutoff) if len(self.valid_frames) else None

    # ----------------------------------------------------------------- state
    def _build_model(self):
        m = self.config.model
        if self.config.training.init_model:  # a warm start keeps the sizes of its model file
            desc = read_description(self.config.training.init_model)
            return build_model(desc["architecture"], desc["elements"], terms=desc["terms"], **desc["hyperparameters"]).to(self.dtype)
        return build_model(m.name, self.elements, preset=m.preset, cutoff=m.cutoff, **m.hyperparameters).to(self.dtype)

    def _warm_start_model(self, path):
        """The model of ``training.init_model``: its weights, offsets and statistics are kept (a
        refit of E0 would shift what the readout has learned)."""
        if "ensemble_size" in read_description(path):
            raise ConfigError(f"config key 'training.init_model': {path} is an ensemble; give one member's model file")
        model, desc = load_model(path, dtype=self.dtype)
        name = self.config.model.name
        if model.architecture != name:
            raise ConfigError(f"config key 'training.init_model': {path} is a {model.architecture} model, the config asks for {name}")
        missing = sorted(set(self.elements) - set(model.elements))
        if missing:
            raise ConfigError(f"config key 'training.init_model': {path} does not know element(s) "
                              f"{', '.join(chemical_symbols[z] for z in missing)} of the training data")
        if abs(model.cutoff - self.config.model.cutoff) > 1e-9:
            raise ConfigError(f"config key 'training.init_model': {path} has cutoff {model.cutoff} Å, the config {self.config.model.cutoff} Å")
        self.elements = list(model.elements)
        return model

    def _fresh_state(self):
        t = self.config.training
        torch.manual_seed(t.seed)
        if t.init_model:
            self.model = self._warm_start_model(t.init_model)
        else:
            self.model = self._build_model()
            e0 = fit_atomic_energies(self.train_frames, self.elements)
            scale = force_rms(self.train_frames, self.elements)
            # descriptor statistics from at most STATISTICS_FRAMES frames drawn at random: memory
            # stays bounded for datasets of any size (E0 and scales above stream over every frame)
            loader = make_loader(self.train_set, 16, shuffle=True, seed=t.seed, epoch=-1, dtype=self.dtype)
            self.model.fit_statistics(itertools.islice(loader, STATISTICS_FRAMES // 16), e0, scale)
        self.model.to(self.device)
        self._make_optimizer()
        self.ema = EMA(self.model, t.ema_decay)
        self.epoch, self.best_loss, self.bad_epochs, self.elapsed = 0, math.inf, 0, 0.0
        self.best_state, self.history, self.stop_reason = None, [], None

    def _make_optimizer(self):
        t = self.config.training
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay, amsgrad=t.amsgrad)
        self.scheduler = None
        if t.scheduler == "plateau":
            self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, factor=t.scheduler_factor, patience=t.scheduler_patience, min_lr=t.min_lr
            )

    def fraction_done(self) -> float:
        """Fraction of the run done: epochs or wall time, whichever limit is nearer."""
        t = self.config.training
        done = self.epoch / max(t.epochs, 1)
        if t.max_time is not None:
            done = max(done, self.elapsed / (60.0 * t.max_time))
        return min(done, 1.0)

    def _set_cosine_lr(self):
        t = self.config.training
        lr = t.min_lr + 0.5 * (t.lr - t.min_lr) * (1.0 + math.cos(math.pi * self.fraction_done()))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _state_dict(self) -> dict:
        return {
            "config": json.dumps(self.config.to_dict()),
            "elements": self.elements,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else {},
            "ema": self.ema.state_dict(),
            "epoch": self.epoch,
            "best_loss": self.best_loss,
            "best_state": self.best_state,
            "bad_epochs": self.bad_epochs,
            "elapsed": self.elapsed,
            "history": json.dumps(self.history),
            "stop_reason": self.stop_reason or "",
            "world_size": self.world,  # processes of the data-parallel run that wrote it
            "stage": self.stage,
        }

    def _load_state(self, state: dict):
        saved, now = _flatten(json.loads(state["config"])), _flatten(self.config.to_dict())
        changed = [k for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k) and k not in _RESUMABLE_CHANGES]
        if changed:
            raise ConfigError(
                f"{self.checkpoint_path}: cannot resume, the config differs from the interrupted run in: "
                f"{', '.join(changed)} (only {', '.join(sorted(_RESUMABLE_CHANGES))} may change)"
            )
        self.elements = list(state["elements"])
        self.model = self._build_model()
        self.model.load_state_dict(state["model"])
        self.model.to(self.device)
        self._make_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler:
            self.scheduler.load_state_dict(state["scheduler"])
        self.ema = EMA(self.model, self.config.training.ema_decay)
        self.ema.load_state_dict(state["ema"])
        self.epoch, self.best_loss, self.bad_epochs = state["epoch"], state["best_loss"], state["bad_epochs"]
        self.best_state, self.elapsed = state["best_state"], state["elapsed"]
        self.history, self.stop_reason = json.loads(state["history"]), state["stop_reason"] or None
        self.stage = int(state.get("stage", 0))

    # ----------------------------------------------------------------- loop
    def _train_epoch(self) -> dict:
        t = self.config.training
        wrapper = ForceStressOutput(self.model)
        self.model.train()
        sums, n = torch.zeros(4, dtype=torch.float64), 0
        loader = make_loader(self.train_set, t.batch_size, shuffle=True, seed=t.seed, epoch=self.epoch,
                             dtype=self.dtype, shard=(self.rank, self.world))
        loss = self.training_loss
        for batch in loader:
            counts = all_reduce_sum(loss.counts(batch))  # label counts of the whole batch
            self.optimizer.zero_grad(set_to_none=True)
            terms = {}
            if batch is not None:  # this process's share of the batch may be empty
                batch = {k: v.to(self.device) for k, v in batch.items()}
                pred = wrapper(batch, forces=True, stress=loss.needs_stress, training=True)
                total, terms = loss(pred, batch, counts)
                total.backward()
            sum_gradients(self.model.parameters())
            if t.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.clip_grad_norm)
            self.optimizer.step()
            self.ema.update(self.model)
            local = [sum(loss.weights[k] * v for k, v in terms.items())] + [terms.get(k, 0.0) for k in ("energy", "forces", "stress")]
            sums += all_reduce_sum(torch.tensor(local, dtype=torch.float64))
            n += 1
        names = ["loss", "energy", "forces"] + (["stress"] if self.loss.needs_stress else [])
        return {f"train_{k}": float(sums[i]) / max(n, 1) for i, k in enumerate(names)}

    def _with_weights(self, state: dict) -> torch.nn.Module:
        """A copy of the model carrying ``state`` (EMA or best weights)."""
        model = self._build_model()
        model.load_state_dict(state)
        return model.to(self.device).eval()

    def _validate(self) -> dict:
        if self.valid_set is None:
            return {}
        model = self._with_weights(self.ema.shadow)
        p = predict(model, self.valid_frames, dataset=self.valid_set, stress=self.loss.needs_stress, device=self.device)
        m = compute_metrics(p)
        return {"valid_loss": validation_loss(p, self.current_loss), "valid_energy_mae": m["energy_mae"], "valid_forces_mae": m["forces_mae"]}

    def _write_history(self):
        if not self.history:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(self.history[0]))
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write_bytes(self.out / METRICS_FILE, buffer.getvalue().encode())

    def run(self, resume: bool = False) -> Path:
        c, t = self.config, self.config.training
        self.out.mkdir(parents=True, exist_ok=True)
        self.load_data()
        if resume:
            self._load_state(load_checkpoint(self.checkpoint_path))
        else:
            if self.checkpoint_path.exists():
                raise ConfigError(f"{self.out}: holds a run already; pass --resume to continue it or choose another output_dir")
            self._fresh_state()
        barrier()  # every process has checked the output directory before rank 0 writes to it
        if self.rank == 0:
            atomic_write_bytes(self.out / RUN_CONFIG_FILE, yaml.safe_dump(c.to_dict(), sort_keys=False).encode())

        if self.stop_reason in ("epochs", "max_time"):  # a resume may raise those limits
            self.stop_reason = None
        bar = tqdm(total=t.epochs, initial=self.epoch, desc="training", unit="epoch", disable=not self.progress or self.rank > 0, dynamic_ncols=True)
        while self._stop_reason() is None:
            start = time.perf_counter()
            if self.scheduler is None:
                self._set_cosine_lr()
            self._enter_final_stage()
            row = {"epoch": self.epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            if self.final:
                row["stage"] = self.stage + 1
            row.update(self._train_epoch())
            row.update(self._validate())
            self.elapsed += time.perf_counter() - start
            row["elapsed_s"] = round(self.elapsed, 3)
            watched = row.get("valid_loss", row["train_loss"])
            if self.scheduler is not None:
                self.scheduler.step(watched)
            if watched < self.best_loss:
                self.best_loss, self.bad_epochs = watched, 0
                self.best_state = {k: v.clone() for k, v in self.ema.shadow.items()}
            else:
                self.bad_epochs += 1
            self.epoch += 1
            self.history.append(row)
            self.stop_reason = self._stop_reason()
            if self.rank == 0:
                save_checkpoint(self._state_dict(), self.checkpoint_path)
                self._write_history()
            bar.update(1)
            bar.set_postfix({k: f"{row[k]:.4g}" for k in ("train_loss", "valid_energy_mae", "valid_forces_mae") if k in row})
        bar.close()
        barrier()
        return self.finish() if self.rank == 0 else self.model_path

    @property
    def current_loss(self) -> WeightedLoss:
        """The stage's loss: what its validation loss (and best epoch) is measured by."""
        return self.final_loss if self.stage else self.loss

    @property
    def training_loss(self) -> WeightedLoss:
        """The loss this epoch trains on: the stage's, except over the first ``final_stage_ramp``
        of the final stage, where each weight moves from the first stage's to the final one
        geometrically (linearly where one of them is 0), by the run's fraction at the epoch's start."""
        t = self.config.training
        if not self.stage or not t.final_stage_ramp:
            return self.current_loss
        s = (self.fraction_done() - t.final_stage) / (t.final_stage_ramp * (1.0 - t.final_stage))
        if s >= 1.0:
            return self.final_loss
        s = max(s, 0.0)
        a, b = self.loss.weights, self.final_loss.weights
        w = {k: a[k] ** (1 - s) * b[k] ** s if a[k] > 0 and b[k] > 0 else (1 - s) * a[k] + s * b[k] for k in a}
        return WeightedLoss(w["energy"], w["forces"], w["stress"], t.forces_loss, t.huber_delta, t.stress_components)

    def _enter_final_stage(self) -> None:
        """From ``training.final_stage`` of the run on: the final loss weights, and the best
        weights chosen afresh (validation losses of the two stages weigh errors differently).
        ``final_stage_start: best``: the stage starts from the first stage's best weights."""
        t = self.config.training
        if self.final and not self.stage and self.fraction_done() >= t.final_stage:
            if t.final_stage_start == "best" and self.best_state is not None:
                self.model.load_state_dict(self.best_state)
                self.ema.load_state_dict({"shadow": self.best_state, "n_updates": self.ema.n_updates})
            self.stage, self.best_loss, self.bad_epochs = 1, math.inf, 0

    def _stop_reason(self) -> str | None:
        t = self.config.training
        if self.stop_reason is not None:
            return self.stop_reason
        if t.scheduler == "plateau" and self.bad_epochs >= t.early_stopping_patience:
            return "early_stopping"
        if t.max_time is not None and self.elapsed >= 60.0 * t.max_time:
            return "max_time"
        if self.epoch >= t.epochs:
            return "epochs"
        return None

    def finish(self) -> Path:
        """Save the kept (EMA) model, then evaluate it on the validation and test sets: the best
        on validation, or a final stage's last weights (``training.final_stage_keep``)."""
        last = self.stage and self.config.training.final_stage_keep == "last"
        model = self._with_weights(self.ema.shadow if last else (self.best_state or self.ema.shadow))
        info = {"epochs": self.epoch, "stop_reason": self.stop_reason, "train_file": str(self.config.train_file)}
        save_model(model, self.model_path, extra={"training": info})
        reports = {}
        sets = {"valid": self.valid_frames}
        if self.config.test_file:
            sets["test"] = load_frames(self.config.test_file, self.config.keys, require=("energy", "forces"), elements=self.elements,
                                       min_distance=self.config.min_distance)
        for name, frames in sets.items():
            if not frames:
                continue
            p = predict(model, frames, device=self.device)
            reports[name] = compute_metrics(p)
            parity_plot(p, self.out / f"parity_{name}.png", title=f"{name}: {len(frames)} frames")
        write_report(reports, self.out, header=f"Model: `{self.model_path}` ({model.architecture}, {self.epoch} epochs, {self.elapsed:.0f} s)")
        return self.model_path

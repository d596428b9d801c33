"""The active-learning loop: explore -> select -> label -> retrain -> repeat.

Iteration 0 labels rattled copies of the start structures and trains the first committee. Each
later iteration runs Langevin MD walkers with the current committee (stopping a walker when it
leaves the domain, discarding exploded ones), scores the harvested frames with the selector, asks
the oracle about the best few (in parallel through an executor), and retrains the committee
warm-started from the previous one. It stops at a target validation force RMSE, an oracle budget,
``max_iterations``, or when the committee's calibrated uncertainty of freshly explored frames stays
below ``converged_sigma`` for ``converged_iterations`` iterations in a row.

Everything lives under ``output_dir`` and every phase leaves a file behind, so a killed run
resumes where it stopped and never repeats an oracle call (``store.py``)::

    config.yaml               the resolved configuration the run was started with
    resumes.jsonl             the config changes of its resumes (limits only: config.RESUMABLE_KEYS)
    oracle_log.jsonl          one line per oracle call (cost, outcome), as the calls finish
    labels/<key>.json         one file per oracle call (the truth the datasets are rebuilt from)
    validation.extxyz         independent oracle frames (oracle-driven MD)
    iterations/<k>/           seed.extxyz | candidates.extxyz, exploration.json, selected.extxyz,
                              train.extxyz, committee/ (members, ensemble.safetensors), summary.json
    summary.json, summary.md  one row per iteration; learning_curve.png
    model.safetensors         the final committee (calibrated, with its domain model)
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from pathlib import Path

import numpy as np
import yaml
from ase.io import read
from tqdm.auto import tqdm

from ..data import Frame, load_frames, write_frames
from ..errors import ConfigError, DataError
from ..files import atomic_write_bytes
from ..names import AL_RESUMES_FILE, AL_STATE_FILE, AL_VALIDATION_FILE, ENSEMBLE_FILE, MODEL_FILE, RUN_CONFIG_FILE
from ..simulate.calculator import Calculator
from ..training.config import Config
from ..training.ensemble import train_ensemble
from ..uncertainty.model import UncertaintyModel
from ..simulate.biases import BiasedCalculator
from .biases import AdversarialBias
from .config import ActiveConfig, load_run_config, record_resume, resume_changes
from .explorers import LangevinExplorer
from .labelling import label_structures
from .oracles import make_oracle, structure_key
from .reference_md import oracle_md
from .report import write_summary
from .selectors import make_selector
from .store import LabelStore
from .structures import load_structures


def _write_json(path, data) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())


def forces_rmse_and_energy_mae(uq, frames) -> dict:
    """Errors of a committee on labelled frames (force RMSE eV/Å, energy MAE meV/atom) and its
    mean calibrated force sigma."""
    p = uq.predict(frames, domain=())
    df = p.forces - p.forces_ref
    return {
        "valid_forces_rmse": float(np.sqrt(np.mean(df**2))),
        "valid_forces_mae": float(np.mean(np.abs(df))),
        "valid_energy_mae": float(1000 * np.mean(np.abs(p.energy - p.energy_ref) / p.n_atoms)),
        "valid_forces_sigma": float(np.sqrt(np.mean(p.forces_sigma**2))),
    }


class ActiveLearning:
    """``ActiveLearning(config).run()``; ``executor``: any ``concurrent.futures.Executor`` for the
    oracle calls (default: a process pool of ``oracle.workers``, or this process for 1 worker);
    ``biases``: extra ``biases.Bias`` terms of the exploration MD (e.g. a ``HarmonicUmbrella``);
    ``oracle``: an ``oracles.Oracle`` (e.g. ``from_calculator`` around VASP or CP2K) instead of the
    config's ``oracle.name``."""

    def __init__(self, config: ActiveConfig, progress: bool = True, executor=None, biases=(), oracle=None):
        self.config = config
        self.out = Path(config.output_dir)
        self.progress = progress
        self.executor = executor if executor is not None else ("serial" if config.oracle.workers == 1 else "process")
        self.oracle = oracle
        self.biases = list(biases)

    # ------------------------------------------------------------------ pieces
    def _oracle(self):
        if self.oracle is None:
            c = self.config.oracle
            self.oracle = make_oracle(c.name, timeout=c.timeout, **c.options)
        return self.oracle

    def _label(self, structures, purpose: str, iteration: int) -> dict:
        """Oracle labels for ``structures``; those already in the store are not asked again. Each
        label is stored as its call finishes, under the structure's place in ``structures``."""
        todo = [i for i, a in enumerate(structures) if structure_key(a) not in self.store]
        if todo:
            def keep(index, label):
                self.store.put(label, structures[todo[index]], purpose, iteration, index=todo[index])
            label_structures([structures[i] for i in todo], self._oracle(), executor=self.executor,
                             workers=self.config.oracle.workers, on_result=keep, progress=self.progress)
        records = [self.store.get(structure_key(a)) for a in structures]
        return {"calls": len(todo), "failed": sum(not r["ok"] for r in records),
                "oracle_seconds": float(sum(r["seconds"] for r in records))}

    def _iteration_dir(self, k: int) -> Path:
        return self.out / "iterations" / f"{k:03d}"

    def _committee(self, k: int) -> Path:
        return self._iteration_dir(k) / "committee" / ENSEMBLE_FILE

    def _train(self, k: int) -> Path:
        c = self.config
        folder = self._iteration_dir(k)
        records = [r for r in self.store.calls() if r["ok"]]
        if len(records) < 2:
            raise DataError(f"{self.out}: only {len(records)} successful oracle label(s); the oracle fails on most "
                            f"structures (see {self.store.log_path})")
        # a stable split: a frame's side is fixed by its structure key, so frames never move from
        # validation (early stopping, calibration) into training as the data grow
        u = np.array([int(r["key"][:12], 16) / 16**12 for r in records])
        held = u < c.training.valid_fraction
        if not held.any():
            held[np.argmin(u)] = True
        write_frames(folder / "train.extxyz", [self.store.frame(r) for r, h in zip(records, held) if not h])
        write_frames(folder / "valid.extxyz", [self.store.frame(r) for r, h in zip(records, held) if h])
        config = Config(train_file=str(folder / "train.extxyz"), valid_file=str(folder / "valid.extxyz"),
                        output_dir=str(folder / "committee"), dtype=c.dtype,
                        device="cpu", model=copy.deepcopy(c.model), training=copy.deepcopy(c.training))
        config.training.seed = c.seed
        previous = self._iteration_dir(k - 1) / "committee" if k > 0 else None
        init = [str(previous / f"member_{j}" / MODEL_FILE) for j in range(c.committee)] if previous else None
        return train_ensemble(config, c.committee, progress=False, domains=("mahalanobis",), init_models=init, verbose=False)

    def _validation(self) -> list[Frame]:
        c = self.config.validation
        path = self.out / AL_VALIDATION_FILE
        if c.file:
            return load_frames(c.file, require=("energy", "forces"))
        if c.frames <= 0:
            return []
        if not path.exists():
            start = time.perf_counter()
            frames = oracle_md(self.starts, self._oracle(), c.frames, temperature=c.temperature, interval=c.steps_between,
                               equilibration=c.equilibration, seed=self.config.seed + 1000, progress=self.progress)
            write_frames(path, frames)
            self.state["validation"] = {"frames": len(frames), "oracle_seconds": time.perf_counter() - start,
                                        # every MD step is a call: an equilibration per start used, then the kept frames' steps
                                        "oracle_calls": c.equilibration * min(len(self.starts), c.frames) + c.frames * c.steps_between}
            self._save_state()
        return load_frames(path, require=("energy", "forces"))

    # -------------------------------------------------------------- iterations
    def _seed(self, rng) -> dict:
        folder = self._iteration_dir(0)
        path = folder / "seed.extxyz"
        if not path.exists():
            seeds = []
            for j in range(self.config.seed_frames):
                atoms = self.starts[j % len(self.starts)].copy()
                atoms.positions += rng.normal(0.0, self.config.rattle, atoms.positions.shape)
                seeds.append(atoms)
            write_frames(path, seeds)
        return self._label(read(path, ":"), "seed", 0)

    def _explore(self, k: int, rng):
        """Walkers with committee k-1; harvested frames -> candidates.extxyz (written once)."""
        folder = self._iteration_dir(k)
        path, info_path = folder / "candidates.extxyz", folder / "exploration.json"
        if path.exists() and info_path.exists():
            return read(path, ":") if path.stat().st_size else [], json.loads(info_path.read_text())
        e = self.config.explore
        calc = Calculator(self._committee(k - 1), domain=("mahalanobis",) if e.stop_on_domain else ())
        labelled_frames = self.store.frames()
        sigma_stop = e.max_forces_sigma
        if sigma_stop is None:  # sigma_factor x the committee's typical sigma on what it was trained on
            sample = [labelled_frames[i] for i in rng.permutation(len(labelled_frames))[:100]]
            p = calc.uq.predict(sample, domain=())
            sigma_stop = float(e.sigma_factor * np.sqrt(np.mean(p.forces_sigma**2)))
        if e.bias == "adversarial":
            biases = [AdversarialBias(calc.uq, e.bias_strength, max_energy=e.bias_max_energy)]
        else:
            biases = []
        if biases or self.biases:
            calc = BiasedCalculator(calc, biases + list(self.biases))
        frontier = [r for r in self.store.calls({"selected"}) if r["ok"] and r["iteration"] == k - 1]
        frontier = [self.store.frame(r).to_atoms() for r in frontier] or [f.to_atoms() for f in labelled_frames]
        temperature = e.temperature if e.temperature_end is None else (e.temperature, e.temperature_end)
        frames, sigmas, status = [], [], {}
        for w in range(e.walkers):
            pool = frontier if (frontier and rng.random() < e.from_frontier) else self.starts
            start = pool[int(rng.integers(len(pool)))].copy()
            explorer = LangevinExplorer(temperature=temperature, steps=e.steps, timestep=e.timestep, friction=e.friction,
                                        interval=e.interval, stop_on_domain=True, max_forces_sigma=sigma_stop,
                                        seed=int(rng.integers(1 << 31)))
            run = explorer.run(start, calc)
            status[run.status] = status.get(run.status, 0) + 1
            frames += run.frames
            sigmas += list(run.max_forces_sigma)
        info = {"walkers": e.walkers, "status": status, "frames": len(frames), "sigma_stop": sigma_stop,
                "max_forces_sigma": [float(s) for s in sigmas],
                "sigma_p95": float(np.percentile(sigmas, 95)) if sigmas else None}
        write_frames(path, frames)
        _write_json(info_path, info)
        return frames, info

    def _select(self, k: int, candidates, budget_left: int | None, rng):
        path = self._iteration_dir(k) / "selected.extxyz"
        if path.exists():
            return read(path, ":") if path.stat().st_size else []
        s = self.config.select
        n = s.per_iteration if budget_left is None else min(s.per_iteration, budget_left)
        chosen = []
        if candidates and n > 0:
            uq = UncertaintyModel.load(self._committee(k - 1))
            selector = make_selector(s.method).fit(uq, self.store.frames())
            frames = [Frame.from_atoms(a) for a in candidates]
            idx = selector.select(uq, frames, n, rng, threshold=s.threshold, min_separation=s.min_separation)
            chosen = [candidates[i] for i in idx]
        write_frames(path, chosen)
        return read(path, ":") if chosen else []  # keys of what was written, as a resume reads it

    def _stop_reason(self, rows: list[dict]) -> str | None:
        s = self.config.stop
        last = rows[-1]
        if s.target_forces_rmse is not None and last.get("valid_forces_rmse", np.inf) <= s.target_forces_rmse:
            return "target_forces_rmse"
        if s.oracle_budget is not None and last["oracle_calls_total"] >= s.oracle_budget:
            return "oracle_budget"
        if last["iteration"] >= s.max_iterations:
            return "max_iterations"
        return None

    def _converged(self, row: dict, rows: list[dict]) -> bool:
        """The committee's calibrated sigma on freshly explored frames stayed below
        ``converged_sigma`` for ``converged_iterations`` explorations in a row (this one included)."""
        s = self.config.stop
        if s.converged_sigma is None:
            return False
        recent = [r.get("explored_sigma_p95") for r in rows[1:row["iteration"]]] + [row["explored_sigma_p95"]]
        recent = recent[-s.converged_iterations:]
        return len(recent) == s.converged_iterations and all(v is not None and v < s.converged_sigma for v in recent)

    # --------------------------------------------------------------------- run
    def _save_state(self) -> None:
        _write_json(self.out / AL_STATE_FILE, self.state)

    def _keep_config(self, resume: bool) -> None:
        """A new run writes its config; a resumed one checks this config against the run's (only
        ``config.RESUMABLE_KEYS`` may differ) and records what it changes."""
        config_path = self.out / RUN_CONFIG_FILE
        if resume and config_path.exists():
            try:
                changes = resume_changes(load_run_config(self.out), self.config)
            except ConfigError as err:
                raise ConfigError(f"{self.out}: {err}") from None
            if changes:
                record_resume(self.out, changes)
            return
        atomic_write_bytes(config_path, yaml.safe_dump(self.config.to_dict(), sort_keys=False).encode())
        (self.out / AL_RESUMES_FILE).unlink(missing_ok=True)  # a new start: resumes of an earlier one no longer apply

    def _start(self, resume: bool) -> None:
        if (self.out / AL_STATE_FILE).exists() and not resume:
            raise ConfigError(f"{self.out}: holds an active-learning run already; continue it with "
                              f"`ridgeline al resume {self.out}` or choose another output_dir")
        self.out.mkdir(parents=True, exist_ok=True)
        self._keep_config(resume)
        self.state = json.loads((self.out / AL_STATE_FILE).read_text()) if resume and (self.out / AL_STATE_FILE).exists() \
            else {"iterations": [], "stop_reason": None}
        self.store = LabelStore(self.out)
        self.starts = load_structures(self.config.structures)
        rows = self.state["iterations"]
        if resume and rows:  # stop rules are judged again: a resume may raise a limit
            if self.state["stop_reason"] == "converged":
                if not self._converged(self.state["converged_exploration"], rows):
                    self.state.pop("converged_exploration")
                    self.state["stop_reason"] = None
            else:
                self.state["stop_reason"] = self._stop_reason(rows)

    def run(self, resume: bool = False) -> Path:
        c = self.config
        self._start(resume)
        valid = self._validation()
        rows = self.state["iterations"]
        bar = tqdm(total=c.stop.max_iterations + 1, initial=len(rows), desc="active learning", unit="iter",
                   disable=not self.progress, dynamic_ncols=True)
        while self.state["stop_reason"] is None:
            k = len(rows)
            rng = np.random.default_rng([c.seed, k])
            start = time.perf_counter()
            row = {"iteration": k}
            if k == 0:
                row.update(self._seed(rng))
            else:
                candidates, info = self._explore(k, rng)
                row.update({"explored_frames": info["frames"], "explored_sigma_p95": info["sigma_p95"],
                            **{f"walkers_{s}": n for s, n in info["status"].items()}})
                if self._converged(row, rows):  # no labels, no training: the last committee is the result
                    self.state.update(stop_reason="converged", converged_exploration=row)
                    break
                calls = len(self.store.calls({"seed", "selected"}))
                left = None if c.stop.oracle_budget is None else max(c.stop.oracle_budget - calls, 0)
                selected = self._select(k, candidates, left, rng)
                row["selected"] = len(selected)
                row.update(self._label(selected, "selected", k))
            t0 = time.perf_counter()
            committee = self._train(k)
            row["train_seconds"] = time.perf_counter() - t0
            row["labelled_frames"] = len(self.store.frames())
            row["oracle_calls_total"] = len(self.store.calls({"seed", "selected"}))
            row["oracle_seconds_total"] = float(sum(r["seconds"] for r in self.store.calls({"seed", "selected"})))
            if valid:
                row.update(forces_rmse_and_energy_mae(UncertaintyModel.load(committee), valid))
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            _write_json(self._iteration_dir(k) / "summary.json", row)
            self.state["stop_reason"] = self._stop_reason(rows)
            self._save_state()
            bar.update(1)
            bar.write(format_row(row))
        bar.close()
        self._save_state()
        return self.finish()

    def finish(self) -> Path:
        rows = self.state["iterations"]
        final = self._committee(rows[-1]["iteration"])
        model = self.out / MODEL_FILE
        tmp = model.with_name(f".{model.name}.tmp")
        shutil.copyfile(final, tmp)
        tmp.replace(model)
        write_summary(self.out, rows, self.state)
        return model


def format_row(row: dict) -> str:
    """One line per iteration for the terminal."""
    parts = [f"iter {row['iteration']:>2}", f"calls {row['oracle_calls_total']:>4}", f"frames {row['labelled_frames']:>4}"]
    if "explored_sigma_p95" in row and row["explored_sigma_p95"] is not None:
        parts.append(f"explored sigma95 {row['explored_sigma_p95']:.3f}")
    if "valid_forces_rmse" in row:
        parts.append(f"valid F rmse {row['valid_forces_rmse']:.4f} eV/Å  E mae {row['valid_energy_mae']:.2f} meV/atom")
    parts.append(f"{row['seconds']:.0f} s")
    return " | ".join(parts)


__all__ = ["ActiveLearning", "forces_rmse_and_energy_mae", "format_row"]

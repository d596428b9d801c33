"""Deep ensembles by one command: ``ridgeline train CONFIG --ensemble N``.

Members differ in seed (initial weights and data order) and share the validation split, which
then calibrates the ensemble's spread. Each member is an ordinary run in
``output_dir/member_<k>`` (resumable; finished members are not retrained); the result is one
file ``output_dir/ensemble.safetensors`` holding every member, the variance scales alpha and the
domain-of-applicability models fitted on the training split.

``parallel=P`` (``--parallel P``) trains P members at a time, each in its own process with its
share of the torch threads: at the sizes of a member's batches one thread per run uses a core
better than two threads on one run (two members of 20 epochs on mlearn Si, 2 cores: 127 s with
``--parallel 2`` against 175 s one after the other, calibration included; docs/moment_network.md).
"""

from __future__ import annotations

import copy
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ..errors import ConfigError
from ..models.ensemble import Ensemble
from ..models.io import load_model
from ..names import CHECKPOINT_FILE, DOMAIN_METHODS, ENSEMBLE_FILE, MODEL_FILE
from ..uncertainty.model import UncertaintyOptions, fit_uncertainty
from .checkpoint import load_checkpoint
from .config import Config
from .trainer import Trainer


def member_config(config: Config, k: int) -> Config:
    c = copy.deepcopy(config)
    c.output_dir = str(Path(config.output_dir) / f"member_{k}")
    c.training.split_seed = config.training.seed if config.training.split_seed is None else config.training.split_seed
    c.training.seed = config.training.seed + k
    return c


def _finished(c: Config) -> bool:
    checkpoint = Path(c.output_dir) / CHECKPOINT_FILE
    return checkpoint.exists() and bool(load_checkpoint(checkpoint)["stop_reason"]) and (Path(c.output_dir) / MODEL_FILE).exists()


def _train_member(c: Config, progress: bool, threads: int | None = None) -> None:
    """One member's run (resumed where interrupted); ``threads``: torch threads of this process."""
    if threads is not None:
        torch.set_num_threads(threads)
    Trainer(c, progress=progress).run(resume=(Path(c.output_dir) / CHECKPOINT_FILE).exists())


def train_ensemble(config: Config, n_members: int, progress: bool = True, domains=DOMAIN_METHODS,
                   init_models=None, verbose: bool = True, parallel: int = 1) -> Path:
    """Train (or finish) the members, then fit the committee's calibration and domain models.
    ``init_models``: one model file per member to warm-start from (``training.init_model``);
    ``parallel``: members trained at a time, in processes of their own."""
    if init_models is not None and len(init_models) != n_members:
        raise ConfigError(f"train_ensemble: {len(init_models)} warm-start models for {n_members} members")
    if n_members < 2:
        raise ConfigError(f"--ensemble needs at least 2 members, got {n_members}")
    if parallel < 1:
        raise ConfigError(f"--parallel needs at least 1 process, got {parallel}")
    configs = []
    for k in range(n_members):
        c = member_config(config, k)
        if init_models is not None:
            c.training.init_model = str(init_models[k])
        configs.append(c)
    todo = [k for k, c in enumerate(configs) if not _finished(c)]
    for k in range(n_members):
        if verbose:
            print(f"member {k}: finished run in {configs[k].output_dir}" if k not in todo else
                  f"member {k} of {n_members} (seed {configs[k].training.seed})")
    if parallel > 1 and len(todo) > 1:
        workers = min(parallel, len(todo))
        threads = max(1, torch.get_num_threads() // workers)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in [pool.submit(_train_member, configs[k], False, threads) for k in todo]:
                future.result()  # a failed member raises here; the others' runs are kept (resumable)
    else:
        for k in todo:
            _train_member(configs[k], progress)
    paths = [Path(c.output_dir) / MODEL_FILE for c in configs]
    trainer = Trainer(configs[-1], progress=False)
    members, descriptions = zip(*(load_model(p) for p in paths))
    trainer.load_data()  # the split every member shares
    uq = fit_uncertainty(Ensemble(list(members)), trainer.train_frames, trainer.valid_frames,
                         UncertaintyOptions(domains=domains),
                         description={"training": {**descriptions[0].get("training", {}), "members": [str(p) for p in paths]}})
    out = Path(config.output_dir) / ENSEMBLE_FILE
    uq.save(out)
    return out

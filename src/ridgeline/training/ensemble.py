"""Deep ensembles by one command: ``ridgeline train CONFIG --ensemble N``.

Members differ in seed (initial weights and data order) and share the validation split, which
then calibrates the ensemble's spread. Each member is an ordinary run in
``output_dir/member_<k>`` (resumable; finished members are not retrained); the result is one
file ``output_dir/ensemble.safetensors`` holding every member, the variance scales alpha and the
domain-of-applicability models fitted on the training split.
"""

from __future__ import annotations

import copy
from pathlib import Path

from ..errors import ConfigError
from ..models.ensemble import Ensemble
from ..models.io import load_model
from .checkpoint import load_checkpoint
from .config import Config
from .trainer import Trainer

ENSEMBLE_FILE = "ensemble.safetensors"


def member_config(config: Config, k: int) -> Config:
    c = copy.deepcopy(config)
    c.output_dir = str(Path(config.output_dir) / f"member_{k}")
    c.training.split_seed = config.training.seed if config.training.split_seed is None else config.training.split_seed
    c.training.seed = config.training.seed + k
    return c


def train_ensemble(config: Config, n_members: int, progress: bool = True, domains=("nearest", "mahalanobis", "hull"),
                   init_models=None, verbose: bool = True) -> Path:
    """Train (or finish) the members, then fit the committee's calibration and domain models.
    ``init_models``: one model file per member to warm-start from (``training.init_model``)."""
    from ..uncertainty.model import fit_uncertainty

    if init_models is not None and len(init_models) != n_members:
        raise ConfigError(f"train_ensemble: {len(init_models)} warm-start models for {n_members} members")
    if n_members < 2:
        raise ConfigError(f"--ensemble needs at least 2 members, got {n_members}")
    paths, trainer = [], None
    for k in range(n_members):
        c = member_config(config, k)
        if init_models is not None:
            c.training.init_model = str(init_models[k])
        trainer = Trainer(c, progress=progress)
        checkpoint = Path(c.output_dir) / "checkpoint.pt"
        done = checkpoint.exists() and load_checkpoint(checkpoint)["stop_reason"] and trainer.model_path.exists()
        if done:
            if verbose:
                print(f"member {k}: finished run in {c.output_dir}")
        else:
            if verbose:
                print(f"member {k} of {n_members} (seed {c.training.seed})")
            trainer.run(resume=checkpoint.exists())
        paths.append(trainer.model_path)
    members, descriptions = zip(*(load_model(p) for p in paths))
    trainer.load_data()  # the split every member shares
    uq = fit_uncertainty(Ensemble(list(members)), trainer.train_frames, trainer.valid_frames, domains=domains,
                         description={"training": {**descriptions[0].get("training", {}), "members": [str(p) for p in paths]}})
    out = Path(config.output_dir) / ENSEMBLE_FILE
    uq.save(out)
    return out

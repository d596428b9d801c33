"""``ridgeline train CONFIG.yaml [key=value ...] [--resume]``."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("config", help="YAML config; required keys: train_file; usual: test_file, output_dir, model.name")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys, dotted for sections (e.g. training.lr=1e-3 model.preset=small)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in output_dir from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--ensemble", type=int, default=0, metavar="N",
                   help="train a deep ensemble of N members (seeds seed..seed+N-1, one validation split), calibrated, in one file")
    p.add_argument("--parallel", type=int, default=1, metavar="P",
                   help="with --ensemble: train P members at a time, each in its own process with its share of the torch threads")


def run(args) -> int:
    from ..training.config import load_config
    from ..training.trainer import Trainer

    config = load_config(args.config, args.overrides)
    if args.ensemble:
        from ..training.ensemble import train_ensemble

        print(train_ensemble(config, args.ensemble, progress=not args.no_progress, parallel=args.parallel))
        return 0
    path = Trainer(config, progress=not args.no_progress).run(resume=args.resume)
    print(path)
    return 0

"""``ridgeline demo``: the main job on an embedded default.

``--kind active`` (default): active learning of ethanol against GFN2-xTB (``ridgeline.active.demo``):
validation frames from xTB MD, the explore -> select -> label -> retrain loop, the final committee
checked on the validation frames and in NVE MD, with plots. ``--kind fit``: make an EMT dataset
(Cu), train one potential on it, evaluate on held-out frames.
"""

from __future__ import annotations

from ..names import CHECKPOINT_FILE


def add_arguments(p) -> None:
    p.add_argument("--kind", choices=("active", "fit"), default="active", help="default: %(default)s")
    p.add_argument("--output-dir", default="demo_run", help="where everything is written (default: %(default)s)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="--kind active: override keys of the embedded active-learning config (e.g. stop.max_iterations=3)")
    p.add_argument("--element", default="Cu", help="--kind fit: fcc metal known to EMT: Al Cu Ag Au Ni Pd Pt (default: %(default)s)")
    p.add_argument("--minutes", type=float, default=3.0, help="--kind fit: training wall-time budget (default: %(default)s)")
    p.add_argument("--preset", default="small", help="--kind fit: model size preset (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from pathlib import Path

    if args.kind == "active":
        import sys

        from ..active.demo import nve_warning, run_demo

        overrides = list(args.overrides) + ([f"seed={args.seed}"] if args.seed else [])
        figures = run_demo(args.output_dir, progress=not args.no_progress, overrides=overrides)
        print((Path(args.output_dir) / "report.md").read_text())
        warning = nve_warning(figures)
        if warning:
            print(warning, file=sys.stderr)
        return 0
    return fit_demo(args)


def fit_demo(args) -> int:
    from pathlib import Path

    import numpy as np
    from ase.io import write

    from ..reference.emt_dataset import emt_dataset
    from ..training.config import load_config
    from ..training.trainer import Trainer

    out = Path(args.output_dir)
    data = out / "data"
    train_file, test_file = data / "train.xyz", data / "test.xyz"
    if not (train_file.exists() and test_file.exists()):
        print(f"making the reference dataset with EMT ({args.element}) ...")
        frames = emt_dataset(args.element, seed=args.seed)
        order = np.random.default_rng(args.seed).permutation(len(frames))
        n_test = len(frames) // 5
        data.mkdir(parents=True, exist_ok=True)
        for path, idx in ((test_file, order[:n_test]), (train_file, order[n_test:])):
            tmp = path.with_name(f".{path.name}.tmp")
            write(tmp, [frames[k] for k in idx], format="extxyz")
            tmp.replace(path)
        print(f"  {len(frames) - n_test} training and {n_test} test frames in {data}")
    config = load_config(base={
        "train_file": str(train_file), "test_file": str(test_file), "output_dir": str(out / "model"),
        "model": {"name": "bpnn", "preset": args.preset, "cutoff": 5.0},
        "training": {"max_time": args.minutes, "seed": args.seed},
    })
    # a killed demo picks up where it stopped; a finished one is re-evaluated, not retrained
    resume = (Path(config.output_dir) / CHECKPOINT_FILE).exists()
    model_path = Trainer(config, progress=not args.no_progress).run(resume=resume)
    print((Path(config.output_dir) / "report.md").read_text())
    print(f"model: {model_path}")
    return 0

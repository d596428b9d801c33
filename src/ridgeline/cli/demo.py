"""``ridgeline demo``: the main job on an embedded default.

``--kind active`` (default): active learning of ethanol against GFN2-xTB (``ridgeline.active.demo``):
validation frames from xTB MD, the explore -> select -> label -> retrain loop, the final committee
checked on the validation frames and in NVE MD, with plots, then ``ridgeline validate``'s short form
(errors by config_type on the xTB frames; harmonic frequencies of ethanol against xTB's, each with
its interval and domain flag) in ``validation/``. ``--kind fit``: make an EMT dataset
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
    p.add_argument("--no-validate", action="store_true", help="--kind active: skip the closing validation")


def run(args) -> int:
    from pathlib import Path

    if args.kind == "active":
        import sys

        from ..active.demo import nve_warning, run_demo

        overrides = list(args.overrides) + ([f"seed={args.seed}"] if args.seed else [])
        figures = run_demo(args.output_dir, progress=not args.no_progress, overrides=overrides)
        if "model" in figures and not args.no_validate:
            validate_demo(figures, Path(args.output_dir), progress=not args.no_progress)
        print((Path(args.output_dir) / "report.md").read_text())
        warning = nve_warning(figures)
        if warning:
            print(warning, file=sys.stderr)
        return 0
    return fit_demo(args)


def validate_demo(figures: dict, out, progress: bool = True) -> None:
    """The demo's closing validation of its final committee, against GFN2-xTB: errors by
    config_type on the validation frames, and the harmonic frequencies of ethanol (each relaxed by
    its own calculator), written to ``validation/`` and summarised at the end of ``report.md``."""
    import json

    from ..files import atomic_write_bytes
    from ..validate import validate

    report = validate(figures["model"], data=figures["validation_frames"], structures=["CH3CH2OH"], reference="xtb",
                      workflows=["vibrations"], output_dir=out / "validation", progress=progress)
    s = report.summary()
    worst = max((r for r in report.properties if r.reference), key=lambda r: abs(r.model / r.reference - 1), default=None)
    text = ["", "## Validation against GFN2-xTB (`ridgeline validate`)", "",
            f"{'PASSED' if report.passed else 'FAILED'}: {s['passed']} of {s['compared']} properties of ethanol (its harmonic "
            f"frequencies within 5% of xTB's, the zero-point energy within 3%); xTB's value inside the model's 95% interval "
            f"for {s['reference_in_ci']} of {s['with_ci']}; "
            f"{s['out_of_domain']} computed out of the committee's domain; {s['checks_passed']} of {s['checks']} checks passed."]
    if worst is not None:
        text[-1] += (f" Largest deviation: {worst.name} {worst.model:.0f} cm^-1 against {worst.reference:.0f} "
                     f"({100 * (worst.model / worst.reference - 1):+.1f}%).")
    text += ["", "Report: `validation/validation.md` (JSON: `validation/validation.json`).", ""]
    path = out / "report.md"
    atomic_write_bytes(path, (path.read_text() + "\n".join(text)).encode())
    saved = json.loads((out / "report.json").read_text())
    saved["validation"] = {"passed": report.passed, **s}
    atomic_write_bytes(out / "report.json", (json.dumps(saved, indent=1) + "\n").encode())


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

"""``ridgeline al run CONFIG.yaml [key=value ...]`` and ``ridgeline al resume DIR [key=value ...]``."""

from __future__ import annotations

from pathlib import Path

from ..names import RUN_CONFIG_FILE
from .main import is_override


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="al_command", metavar="ACTION", required=True)
    r = sub.add_parser("run", help="start an active-learning run from a YAML config",
                       description="explore -> select -> label -> retrain until a stop rule holds; everything is kept in output_dir")
    r.add_argument("config", nargs="?", help="YAML config (default: the embedded ethanol/xTB example)")
    r.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys, dotted for sections (e.g. select.method=maxvol)")
    c = sub.add_parser("resume", help="continue a killed or stopped run; no oracle call is repeated",
                       description=f"Reads the run's DIR/{RUN_CONFIG_FILE} and the changes earlier resumes made. key=value "
                                   "overrides may change only the limits (stop.*) and how the oracle is called "
                                   "(oracle.workers, oracle.timeout); each accepted change is recorded in the run.")
    c.add_argument("directory", help="the run's output_dir")
    c.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. stop.max_iterations=10")
    for q in (r, c):
        q.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from ..active.config import load_active_config, load_run_config
    from ..active.loop import ActiveLearning

    if args.al_command == "run":
        overrides = list(args.overrides)
        if args.config is not None and is_override(args.config) and not Path(args.config).exists():
            args.config, overrides = None, [args.config, *overrides]  # no config file: the embedded example
        config = load_active_config(args.config, overrides, base=None if args.config else {})
        resume = False
    else:
        config = load_run_config(args.directory, args.overrides)
        resume = True
    model = ActiveLearning(config, progress=not args.no_progress).run(resume=resume)
    print((Path(config.output_dir) / "summary.md").read_text())
    print(f"model: {model}")
    return 0

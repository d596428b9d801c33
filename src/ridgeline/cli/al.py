"""``ridgeline al run CONFIG.yaml [key=value ...]`` and ``ridgeline al resume DIR``."""

from __future__ import annotations


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="al_command", metavar="ACTION", required=True)
    r = sub.add_parser("run", help="start an active-learning run from a YAML config",
                       description="explore -> select -> label -> retrain until a stop rule holds; everything is kept in output_dir")
    r.add_argument("config", nargs="?", help="YAML config (default: the embedded ethanol/xTB example)")
    r.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys, dotted for sections (e.g. select.method=maxvol)")
    c = sub.add_parser("resume", help="continue a killed or stopped run; no oracle call is repeated",
                       description="Reads DIR/config.yaml; key=value overrides may raise limits such as stop.max_iterations.")
    c.add_argument("directory", help="the run's output_dir")
    c.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. stop.max_iterations=10")
    for q in (r, c):
        q.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from pathlib import Path

    from ..active.config import load_active_config
    from ..active.loop import ActiveLearning
    from ..errors import ConfigError

    if args.al_command == "run":
        config = load_active_config(args.config, args.overrides, base=None if args.config else {})
        resume = False
    else:
        folder = Path(args.directory)
        if not (folder / "config.yaml").is_file():
            raise ConfigError(f"{folder}: no active-learning run here (config.yaml missing)")
        config = load_active_config(folder / "config.yaml", args.overrides)
        config.output_dir = str(folder)
        resume = True
    model = ActiveLearning(config, progress=not args.no_progress).run(resume=resume)
    print((Path(config.output_dir) / "summary.md").read_text())
    print(f"model: {model}")
    return 0

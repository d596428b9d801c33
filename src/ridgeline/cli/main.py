"""``ridgeline`` command line: one module per subcommand, imported only when it is used."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help)
SUBCOMMANDS = {
    "train": ("ridgeline.cli.train", "train a potential from a YAML config"),
    "eval": ("ridgeline.cli.eval", "errors of a trained model on a labelled data file"),
    "uq": ("ridgeline.cli.uq", "uncertainty: calibrate a model or ensemble, report calibration and domain flags"),
    "al": ("ridgeline.cli.al", "active learning: explore with the model, label where it is unsure, retrain"),
    "convert": ("ridgeline.cli.convert", "convert a data file into an on-disk dataset streamed during training"),
    "demo": ("ridgeline.cli.demo", "the main job: active learning of ethanol against GFN2-xTB, checked on xTB frames and in NVE MD"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ridgeline",
        description="ridgeline: machine-learned interatomic potentials. Run 'ridgeline COMMAND --help' for a command's options.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"ridgeline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # each module adds its own options; importing a subcommand's module is cheap (heavy imports are inside run)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..errors import RidgelineError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 1
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except RidgelineError as err:
        print(f"ridgeline {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ridgeline {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

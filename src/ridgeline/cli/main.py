"""``ridgeline`` command line: one module per subcommand, imported only when it is used."""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from .. import __version__
from ..errors import RidgelineError

# name -> (module, one-line help)
SUBCOMMANDS = {
    "train": ("ridgeline.cli.train", "train a potential from a YAML config"),
    "eval": ("ridgeline.cli.eval", "errors of a trained model on a labelled data file"),
    "uq": ("ridgeline.cli.uq", "uncertainty: calibrate a model or ensemble, report calibration and domain flags"),
    "al": ("ridgeline.cli.al", "active learning: explore with the model, label where it is unsure, retrain"),
    "convert": ("ridgeline.cli.convert", "convert a data file into an on-disk dataset streamed during training"),
    "md": ("ridgeline.cli.md", "molecular dynamics with a model file or EMT from a YAML config: trajectory, log, summary; resumable"),
    "relax": ("ridgeline.cli.relax", "relax a structure's positions (and cell) with a model: ASE's optimizers or Newton on the exact Hessian"),
    "vibrations": ("ridgeline.cli.vibrations", "harmonic frequencies, normal modes and zero-point energy of a molecule"),
    "phonons": ("ridgeline.cli.phonons", "phonons of a crystal (phonopy): band structure, DOS, thermal properties, stability"),
    "defects": ("ridgeline.cli.defects", "vacancy and interstitial formation energies and surface energies of a crystal, with intervals"),
    "elastic": ("ridgeline.cli.elastic", "elastic constants (stress-strain, reduced by symmetry, VRH moduli) and equation of state of a crystal"),
    "neb": ("ridgeline.cli.neb", "reaction paths: nudged elastic band (climbing image), vacancy migration, dissociation scans"),
    "analyze": ("ridgeline.cli.analyze", "observables of a trajectory: RDF, MSD and diffusion, VACF and vibrational DOS, ionic conductivity"),
    "validate": ("ridgeline.cli.validate", "validate a model: errors by config_type, properties against a reference calculator or table with intervals and domain flags, g(r)"),
    "export": ("ridgeline.cli.export", "compile a model for LAMMPS (AOTInductor .pt2): energies and edge forces, checked against the model"),
    "lammps": ("ridgeline.cli.lammps", "LAMMPS: build pair_style ridgeline (the plugin that runs exported models), run an MD config in LAMMPS"),
    "pimd": ("ridgeline.cli.pimd", "path-integral MD through i-PI (the model as its socket client): quantum kinetic energy, isotope free energies, bead convergence"),
    "umbrella": ("ridgeline.cli.umbrella", "umbrella sampling along a collective variable (distance, angle, dihedral, coordination): free-energy profile by MBAR with errors and window overlap"),
    "ti": ("ridgeline.cli.ti", "thermodynamic integration: a crystal's absolute free energy from the Einstein crystal, or between two models"),
    "rates": ("ridgeline.cli.rates", "rates with intervals: harmonic TST from a NEB, microkinetic TOF and degree of rate control, Butler-Volmer"),
    "demo": ("ridgeline.cli.demo", "the main job: active learning of ethanol against GFN2-xTB, checked on xTB frames and in NVE MD"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ridgeline",
        description="ridgeline: machine-learned interatomic potentials. Run 'ridgeline COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"ridgeline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # each module adds its own options; importing a subcommand's module is cheap (heavy imports are inside run)
        importlib.import_module(module).add_arguments(p)
    return parser


_OVERRIDE = re.compile(r"[A-Za-z_][\w.]*=")


def is_override(token: str) -> bool:
    """Whether a command-line token is a ``key=value`` config override (dotted key)."""
    return bool(_OVERRIDE.match(token))


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """``parser.parse_args``, with ``key=value`` overrides accepted anywhere on the line for the
    subcommands that take them (argparse alone takes them only before the first option):
    the ones it leaves over are appended to ``overrides`` in the order typed, and overrides typed
    before the config file do not take its place. Any other left-over
    token (an unknown option, a stray word) is an error, as with ``parse_args``."""
    args, extra = parser.parse_known_args(argv)
    strays = [token for token in extra if is_override(token)]
    if len(strays) < len(extra) or (strays and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if strays:
        args.overrides = [*args.overrides, *strays]
    config = getattr(args, "config", None)
    files = [token for token in getattr(args, "overrides", ()) if not is_override(token)]
    if config is not None and is_override(config) and len(files) == 1:  # overrides typed before the config file
        args.config, args.overrides = files[0], [config, *(t for t in args.overrides if t != files[0])]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
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

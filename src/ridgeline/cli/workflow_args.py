"""Arguments shared by the commands that run a workflow on one structure: the calculator, the
structure, and the confidence of the intervals."""

from __future__ import annotations


def add_structure_arguments(p) -> None:
    """MODEL and STRUCTURE, and how the model runs."""
    p.add_argument("model", help="a model file (model.safetensors, or an ensemble file), or a reference calculator: "
                                 "emt (ASE's EMT), xtb / gfn2-xtb, gfn1-xtb (tblite)")
    p.add_argument("structure", help="a structure file ASE reads (the last frame), a molecule name for ase.build.molecule "
                                     "(e.g. CH3CH2OH), or an element for its crystal (e.g. Cu, Si; bulk:Cu)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="default: %(default)s")


def add_interval_arguments(p) -> None:
    """How a workflow's confidence intervals are made (models with uncertainties only)."""
    p.add_argument("--confidence", type=float, default=0.95, help="level of the confidence intervals (default: %(default)s)")
    p.add_argument("--draws", type=int, default=8,
                   help="posterior draws of a single model for the intervals of properties that are not energy "
                        "differences (a committee uses its members) (default: %(default)s)")


def load_calculator(args, uncertainty: bool | None = False):
    """The calculator ``args.model`` names (``simulate.named.calculator``); ``uncertainty``: None
    loads a model file's uncertainties where it has them."""
    from ..simulate.named import calculator

    return calculator(args.model, device=args.device, dtype=args.dtype, uncertainty=uncertainty)


def load_workflow_calculator(args):
    """(calculator, uncertainty) for a property workflow: the calculator ``args.model`` names, for
    a model without its uncertainty head (faster in the workflow's loops), and the
    ``properties.estimates.Uncertainty`` of the full one, at ``--confidence`` with ``--draws``."""
    from ..properties.estimates import Uncertainty

    calculator = load_calculator(args, uncertainty=None)
    unc = Uncertainty(calculator, confidence=args.confidence, draws=args.draws)
    fast = calculator.without_uncertainty() if hasattr(calculator, "without_uncertainty") else calculator
    return fast, unc


def read_structure(name: str):
    from ..simulate.named import structure

    return structure(name)


def add_config_arguments(p, keys: str, example: str) -> None:
    """CONFIG.yaml and its ``key=value`` overrides (the commands with a YAML config)."""
    p.add_argument("config", help=f"YAML config (keys: {keys})")
    p.add_argument("overrides", nargs="*", metavar="key=value", help=f"override config keys (e.g. {example})")


def start_sampling(cls, args):
    """(config, structure, calculator, output directory) of ``ridgeline umbrella`` / ``ti``: the
    config read and checked, the output directory made and the resolved config written to it."""
    from pathlib import Path

    import yaml

    from ..files import atomic_write_bytes
    from ..names import RUN_CONFIG_FILE
    from ..properties.sampling_config import load_sampling_config
    from ..simulate.md_config import build_structure

    config = load_sampling_config(cls, args.config, args.overrides)
    atoms = build_structure(config.md_config())
    calculator = config.calculator(atoms)
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / RUN_CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False).encode())
    return config, atoms, calculator, out

"""``ridgeline validate MODEL [--data FILE] [--structure S ...] [--reference emt|xtb|TABLE.yaml] ...``."""

from __future__ import annotations

import sys

from .data_args import add_key_arguments, key_map


def add_arguments(p) -> None:
    p.add_argument("model", help="a model file (model.safetensors, or an ensemble file); calibrated ones give intervals")
    p.add_argument("--data", help="a labelled file (extxyz, ASE database, converted dataset): errors by config_type")
    p.add_argument("--structure", action="append", metavar="S",
                   help="a structure to compute properties on: a file, a molecule name (CH3CH2OH) or an element's crystal "
                        "(Cu, Si); repeatable (default: the reference table's, else the crystal of a one-element model)")
    p.add_argument("--reference", metavar="REF",
                   help="compare with: a calculator run on the spot (emt, xtb, gfn1-xtb) or a YAML table of values (*.yaml)")
    p.add_argument("--workflows", metavar="W,W", help="comma-separated: eos, elastic, vacancy, interstitial, surfaces, phonons, "
                                                      "migration (crystals), vibrations (molecules), or none (no properties) "
                                                      "(default: all for the structure, or what the table has values for)")
    p.add_argument("--trajectory", help="a reference MD trajectory: the model's g(r) in MD at its temperature against it")
    p.add_argument("--temperature", type=float, help="K, for --trajectory frames without velocities")
    p.add_argument("--tolerance", action="append", default=[], metavar="NAME=TOL",
                   help="replace a tolerance: vacancy_formation_energy=0.05 (absolute, in the property's unit) or "
                        "bulk_modulus=10%% (relative); patterns like 'surface_energy_*' too; repeatable")
    p.add_argument("--quick", action="store_true", help="the light workflows with lighter settings (a minute or two)")
    p.add_argument("--confidence", type=float, default=0.95, help="level of the intervals (default: %(default)s)")
    p.add_argument("--draws", type=int, default=8, help="posterior draws of a single model (default: %(default)s)")
    p.add_argument("-o", "--output-dir", default="validation", help="report, plots and cache (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the JSON report (properties list: name, unit, model, model_ci, "
                                                       "reference, tolerance, passed, out_of_domain, ...)")
    p.add_argument("--device", default="cpu", help="default: %(default)s")
    p.add_argument("--dtype", default=None, choices=["float32", "float64"], help="default: the model's own")
    p.add_argument("--no-progress", action="store_true")
    add_key_arguments(p)


def parse_tolerances(items) -> dict:
    from ..errors import ConfigError

    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--tolerance {item!r}: write NAME=TOL, e.g. vacancy_formation_energy=0.05 or bulk_modulus=10%")
        name, value = item.split("=", 1)
        out[name.strip()] = value.strip()
    return out


def run(args) -> int:
    from ..validate import validate

    workflows = [w.strip() for w in args.workflows.split(",") if w.strip()] if args.workflows else None
    structures = args.structure
    if workflows == ["none"]:
        workflows, structures = None, []
    report = validate(args.model, data=args.data, structures=structures, reference=args.reference, workflows=workflows,
                      trajectory=args.trajectory, temperature=args.temperature, tolerances=parse_tolerances(args.tolerance),
                      quick=args.quick, confidence=args.confidence, draws=args.draws, output_dir=args.output_dir,
                      device=args.device, dtype=args.dtype, key_map=key_map(args), progress=not args.no_progress)
    print(report.to_json() if args.json else report.markdown())
    if not args.json:
        print(f"report: {args.output_dir}/validation.md and validation.json", file=sys.stderr)
    return 0 if report.passed else 1

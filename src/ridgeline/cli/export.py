"""``ridgeline export MODEL [--dtype float64 float32] [-o OUT] [--no-check]``: the model as a
compiled program (AOTInductor ``.pt2``) for LAMMPS' ``pair_style ridgeline``
(``integrations.lammps.export``)."""

from __future__ import annotations

DTYPES = ("float32", "float64")  # integrations.lammps.export.DTYPES (not imported: parsing stays torch-free)


def add_arguments(p) -> None:
    p.add_argument("model", help="model file (an ensemble file exports every member, for the committee's sigma in LAMMPS)")
    p.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES),
                   help="precisions to write, one file each (default: both)")
    p.add_argument("-o", "--output", help="output file (one --dtype only; default: MODEL's stem + -DTYPE.pt2 beside it)")
    p.add_argument("--no-check", dest="check", action="store_false",
                   help="skip the check of the compiled program against the model on random structures")


def run(args) -> int:
    from ..errors import ConfigError
    from ..integrations.lammps.export import export_model

    if args.output and len(args.dtype) > 1:
        raise ConfigError("--output names one file: give one --dtype with it")
    for dtype in dict.fromkeys(args.dtype):
        path, diff = export_model(args.model, args.output, dtype=dtype, check=args.check)
        checked = (f"; checked: energy within {diff['energy']:.2g} eV, forces within {diff['forces']:.2g} eV/Å"
                   if diff else "; not checked")
        print(f"{path} ({dtype}{checked})")
    return 0

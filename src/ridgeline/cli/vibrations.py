"""``ridgeline vibrations MODEL STRUCTURE [--method M] [--json]``."""

from __future__ import annotations

from .workflow_args import add_structure_arguments, load_calculator, read_structure


def add_arguments(p) -> None:
    add_structure_arguments(p)
    p.add_argument("--method", default="auto", help="auto, exact (the model's Hessian) or finite_differences (ase.vibrations); "
                                                    "auto: exact where the calculator has one (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object (frequencies_cm, energies_meV: imaginary ones negative; modes, zero_point_energy eV, ...)")


def run(args) -> int:
    from ..properties.vibrations import vibrations

    result = vibrations(read_structure(args.structure), load_calculator(args), method=args.method)
    if args.json:
        print(result.to_json())
        return 0
    print(f"{len(result.frequencies_cm)} modes ({result.method} Hessian, {result.n_projected} rigid motions projected out); "
          f"zero-point energy {result.zero_point_energy:.4f} eV")
    print(" mode   cm^-1       meV")
    for k, (cm, mev) in enumerate(zip(result.frequencies_cm, result.energies_meV)):
        print(f"{k:5d} {cm:9.1f} {mev:9.2f}")
    return 0

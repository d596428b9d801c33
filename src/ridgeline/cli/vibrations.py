"""``ridgeline vibrations MODEL STRUCTURE [--method M] [--json]``."""

from __future__ import annotations

from .workflow_args import add_interval_arguments, add_structure_arguments, load_workflow_calculator, read_structure


def add_arguments(p) -> None:
    add_structure_arguments(p)
    p.add_argument("--method", default="auto", help="auto, exact (the model's Hessian) or finite_differences (ase.vibrations); "
                                                    "auto: exact where the calculator has one (default: %(default)s)")
    add_interval_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (frequencies_cm, energies_meV: imaginary ones negative; modes, zero_point_energy eV, sigmas, ...)")


def run(args) -> int:
    from ..properties.vibrations import vibrations

    calculator, unc = load_workflow_calculator(args)
    result = vibrations(read_structure(args.structure), calculator, method=args.method, uncertainty=unc)
    if args.json:
        print(result.to_json())
        return 0
    print(f"{len(result.frequencies_cm)} modes ({result.method} Hessian, {result.n_projected} rigid motions projected out); "
          f"zero-point energy {result.zero_point_energy:.4f} eV" + (" OUT OF DOMAIN" if result.out_of_domain else ""))
    estimates = result.estimates()
    header = " mode   cm^-1       meV" + (f"   {100 * unc.confidence:g}% interval (cm^-1)" if result.sigmas else "")
    print(header)
    for k, (cm, mev) in enumerate(zip(result.frequencies_cm, result.energies_meV)):
        est = estimates[f"frequency_{k}"]
        interval = f"   [{est.lower:.1f}, {est.upper:.1f}]" if est.ci else ""
        print(f"{k:5d} {cm:9.1f} {mev:9.2f}{interval}")
    return 0

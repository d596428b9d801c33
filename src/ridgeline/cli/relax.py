"""``ridgeline relax MODEL STRUCTURE [--optimizer NAME] [--cell] [--fmax F] [-o OUT.extxyz] [--json]``."""

from __future__ import annotations

import io

from .workflow_args import add_structure_arguments, load_calculator, read_structure


def add_arguments(p) -> None:
    add_structure_arguments(p)
    p.add_argument("--optimizer", default="auto",
                   help="auto, bfgs, lbfgs, fire or newton (the exact Hessian: fewest steps, fixed cell, the model "
                        "or a calculator with get_hessian); auto: lbfgs, the fastest in wall time in "
                        "benchmarks/results/relax_hessian.md (default: %(default)s)")
    p.add_argument("--cell", action="store_true", help="relax the cell too (FrechetCellFilter; periodic structures)")
    p.add_argument("--pressure", type=float, default=0.0, help="external pressure in GPa, with --cell (default: %(default)s)")
    p.add_argument("--fmax", type=float, default=0.01, help="converged when every force is below this, eV/Å (default: %(default)s)")
    p.add_argument("--max-steps", type=int, default=1000, help="default: %(default)s")
    p.add_argument("-o", "--output", metavar="OUT.extxyz", help="write the relaxed structure here")
    p.add_argument("--trajectory", metavar="TRAJ", help="write ASE's trajectory of the relaxation here")
    p.add_argument("--json", action="store_true", help="print one JSON object (optimizer, converged, steps, energy eV, fmax eV/Å, wall_time s, the final structure)")


def run(args) -> int:
    from ase.io import write

    from ..files import atomic_write_bytes
    from ..simulate.relax import relax

    atoms = read_structure(args.structure)
    result = relax(atoms, load_calculator(args), optimizer=args.optimizer, cell=args.cell, fmax=args.fmax,
                   max_steps=args.max_steps, pressure=args.pressure, trajectory=args.trajectory)
    if args.output:
        buffer = io.StringIO()
        write(buffer, result.atoms, format="extxyz")
        atomic_write_bytes(args.output, buffer.getvalue().encode())
    if args.json:
        print(result.to_json())
    else:
        state = "converged" if result.converged else f"NOT converged (max {args.max_steps} steps)"
        print(f"{result.atoms.get_chemical_formula()}: {result.optimizer} {state} in {result.steps} steps, "
              f"{result.wall_time:.2f} s; energy {result.energy:.6f} eV, fmax {result.fmax:.2e} eV/Å")
    return 0 if result.converged else 1

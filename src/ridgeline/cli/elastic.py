"""``ridgeline elastic MODEL STRUCTURE [--eos] [--relax] [--strains ...] [--plot PATH] [--json]``: the elastic
constants of a crystal from stress-strain (``properties.elastic``) and, with ``--eos``, its equation of state
(``properties.eos``)."""

from __future__ import annotations

from pathlib import Path

from .workflow_args import add_interval_arguments, add_structure_arguments, load_workflow_calculator, read_structure


def add_arguments(p) -> None:
    add_structure_arguments(p)
    p.add_argument("--eos", action="store_true", help="also the equation of state: V0, E0, B0, B0', lattice constant")
    p.add_argument("--relax", action="store_true", help="relax the cell and positions first (zero stress)")
    p.add_argument("--strains", type=float, nargs="+", default=None,
                   help="strain magnitudes applied to each Voigt component (default: -0.01 -0.005 0.005 0.01)")
    p.add_argument("--fmax", type=float, default=1e-3,
                   help="force bound of the relaxations, eV/Å (default: %(default)s)")
    p.add_argument("--no-relax-ions", dest="relax_ions", action="store_false",
                   help="keep the strained cells' fractional positions (clamped-ion constants)")
    p.add_argument("--plot", metavar="PATH",
                   help="stress-strain plot (PNG); with --eos also E(V) at PATH's stem + '_eos.png'")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: the elastic result (GPa), with the equation of state under 'eos'")
    add_interval_arguments(p)


def run(args) -> int:
    import json

    from ..properties.elastic import DEFAULT_STRAINS, elastic_constants, plot_elastic
    from ..properties.eos import check_crystal, equation_of_state, plot_eos
    from ..simulate.relax import relax

    atoms = read_structure(args.structure)
    check_crystal(atoms, "elastic constants")
    calculator, unc = load_workflow_calculator(args)
    if args.relax:
        relaxed = relax(atoms, calculator, cell=True, fmax=args.fmax)
        atoms = relaxed.atoms
        if not relaxed.converged:
            print(f"warning: the cell relaxation did not reach fmax = {args.fmax} eV/Å in {relaxed.steps} steps")
    result = elastic_constants(atoms, calculator, strains=args.strains or DEFAULT_STRAINS, relax_ions=args.relax_ions,
                               fmax=args.fmax, uncertainty=unc)
    eos = None
    if args.eos:
        eos = equation_of_state(atoms, calculator, relax_ions=args.relax_ions, fmax=args.fmax, uncertainty=unc)
    if args.plot:
        plot_elastic(result, args.plot)
        if eos is not None:
            path = Path(args.plot)
            plot_eos(eos, path.with_name(path.stem + "_eos.png"))
    if args.json:
        data = result.to_dict()
        if eos is not None:
            data["eos"] = eos.to_dict()
        print(json.dumps(data))
        return 0
    estimates = result.estimates()
    print(f"{atoms.get_chemical_formula()}: space group {result.space_group}, {result.lattice_system}; "
          f"{'relaxed' if result.ions_relaxed else 'clamped'}-ion constants (GPa)")
    for name, estimate in estimates.items():
        print(f"  {name:18s} {_format(estimate)}")
    print(f"  Born stable: {'yes' if result.stable else 'NO'} (smallest eigenvalue {result.eigenvalues.min():.4g} GPa)")
    if eos is not None:
        e = eos.estimates()
        print(f"EOS ({eos.eos}): V0 {_format(e['equilibrium_volume'])}, E0 {_format(e['equilibrium_energy'])}, "
              f"B0 {_format(e['bulk_modulus'])}, B0' {_format(e['bulk_modulus_derivative'])}, "
              f"a {_format(e['lattice_constant'])}")
    for warning in result.warnings + ([] if eos is None else eos.warnings):
        print(f"warning: {warning}")
    return 0


def _format(estimate) -> str:
    text = f"{estimate.value:.5g}"
    if estimate.sigma is not None:
        text += f" ± {estimate.upper - estimate.value:.2g}"
    text += f" {estimate.unit}".rstrip()
    return text + ("  OUT OF DOMAIN" if estimate.out_of_domain else "")

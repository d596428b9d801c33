"""``ridgeline defects MODEL STRUCTURE [--vacancy] [--interstitial] [--surfaces [HKL ...]] [--json] [--plot PREFIX]``.

Vacancy and interstitial formation energies and surface energies of a crystal
(``properties.defects``, ``properties.surfaces``); with no selection, all three.
"""

from __future__ import annotations

from .workflow_args import add_interval_arguments, add_structure_arguments, load_workflow_calculator, read_structure

DEFAULT_FACETS = ("100", "110", "111")


def add_arguments(p) -> None:
    add_structure_arguments(p)
    p.add_argument("--vacancy", action="store_true", help="the vacancy formation energy, with the supercell-size check")
    p.add_argument("--interstitial", action="store_true",
                   help="the self-interstitial formation energy at the largest empty spheres (octahedral, tetrahedral, ...)")
    p.add_argument("--surfaces", nargs="*", metavar="HKL",
                   help=f"surface energies of these facets of the conventional cell (no value: {' '.join(DEFAULT_FACETS)})")
    p.add_argument("--supercell", type=int, nargs="+", metavar="N",
                   help="supercells of N x N x N conventional cells: the vacancy's sizes (default: the least N with 50 atoms "
                        "or more, and N + 1); the interstitial "
                        "uses the largest (default: 2)")
    p.add_argument("--layers", type=int, nargs="+", default=[4, 6], metavar="PLANES",
                   help="the slabs' least numbers of atomic planes; the two largest are the thickness check (default: 4 6)")
    p.add_argument("--min-thickness", type=float, metavar="ANGSTROM",
                   help="the thinnest slab's least thickness in Å; thicker slabs add the planes --layers adds "
                        "(default: the workflow's, 10 Å)")
    p.add_argument("--no-relax", dest="relax", action="store_false", help="unrelaxed defects and slabs")
    p.add_argument("--relax-cell", action="store_true",
                   help="relax the crystal's cell with the calculator first (default: the structure's cell as given)")
    p.add_argument("--fmax", type=float, default=0.01, help="relaxations' force threshold, eV/Å (default: %(default)s)")
    p.add_argument("--chemical-potential", type=float, metavar="EV",
                   help="chemical potential (eV/atom) of the removed or added element: needed for a compound")
    add_interval_arguments(p)
    p.add_argument("--plot", metavar="PREFIX", help="write PREFIX_vacancy.png, PREFIX_interstitial.png, PREFIX_surfaces.png")
    p.add_argument("--json", action="store_true", help="print one JSON object: each workflow's result and the estimates")


def _row(name: str, est) -> str:
    text = f"  {name:34s} {est.value:10.4f} {est.unit:6s}"
    if est.ci is not None:
        text += f" [{est.lower:.4f}, {est.upper:.4f}] ({100 * est.confidence:g}%)"
    return text + ("  OUT OF DOMAIN" if est.out_of_domain else "")


def run(args) -> int:
    import json

    from ..properties.defects import interstitial_formation, plot_interstitial, plot_vacancy, vacancy_formation
    from ..properties.surfaces import miller, plot_surfaces, surface_energies

    everything = not (args.vacancy or args.interstitial or args.surfaces is not None)
    facets = [miller(f) for f in (args.surfaces or DEFAULT_FACETS)]  # a bad facet fails before any work
    atoms = read_structure(args.structure)
    calculator, unc = load_workflow_calculator(args)
    common = {"relax": args.relax, "relax_cell": args.relax_cell, "fmax": args.fmax, "uncertainty": unc}
    results = {}
    if args.vacancy or everything:
        sizes = {"supercells": args.supercell} if args.supercell else {}
        results["vacancy"] = vacancy_formation(atoms, calculator, chemical_potential=args.chemical_potential, **sizes,
                                               **common)
    if args.interstitial or everything:
        size = {"supercell": max(args.supercell)} if args.supercell else {}
        results["interstitial"] = interstitial_formation(atoms, calculator, chemical_potential=args.chemical_potential,
                                                         **size, **common)
    if args.surfaces is not None or everything:
        results["surfaces"] = surface_energies(atoms, calculator, facets=facets,
                                               layers=args.layers, **common,
                                               **({} if args.min_thickness is None else {"min_thickness": args.min_thickness}))
    if args.plot:
        plots = {"vacancy": plot_vacancy, "interstitial": plot_interstitial, "surfaces": plot_surfaces}
        for name, result in results.items():
            plots[name](result, f"{args.plot}_{name}.png")
    estimates = {k: v for result in results.values() for k, v in result.estimates().items()}
    if args.json:
        print(json.dumps({**{name: r.to_dict() for name, r in results.items()},
                          "estimates": {k: v.to_dict() for k, v in estimates.items()}}))
        return 0
    _print_table(results)
    print("estimates:")
    for name, est in estimates.items():
        print(_row(name, est))
    for warning in dict.fromkeys(w for result in results.values() for w in result.warnings):  # shared ones once
        print(f"warning: {warning}")
    return 0


def _print_table(results) -> None:
    if "vacancy" in results:
        r = results["vacancy"]
        check = {True: "converged", False: "NOT converged", None: "one size only"}[r.converged]
        print(f"vacancy of {r.element} (site {r.site}) in {r.formula}: size check {check} (tolerance {r.tolerance:g} eV)")
        print("    atoms   E_f (eV)  unrelaxed")
        for c in r.cells:
            print(f"  {c.n_atoms:7d} {c.formation_energy.value:10.4f} {c.unrelaxed_formation_energy:10.4f}")
    if "interstitial" in results:
        r = results["interstitial"]
        print(f"interstitial {r.element} in {r.formula} x {'x'.join(map(str, r.repeat))}")
        print("  site            E_f (eV)  unrelaxed  moved (Å)  nearest (Å)")
        for s in r.sites:
            print(f"  {s.name:14s} {s.calculation.formation_energy.value:9.4f} {s.calculation.unrelaxed_formation_energy:10.4f}"
                  f" {s.displacement:10.3f} {s.nearest_distance:12.3f}")
    if "surfaces" in results:
        r = results["surfaces"]
        print(f"surfaces of {r.formula} (J/m^2)")
        print("  facet      planes    gamma  unrelaxed  thickness check")
        for f in r.facets:
            check = {True: "converged", False: "NOT converged", None: "one slab"}[f.converged]
            for s in f.slabs:
                print(f"  {'(' + ' '.join(map(str, f.miller)) + ')':10s} {s.planes:6d} {s.surface_energy.value:8.4f}"
                      f" {s.unrelaxed_surface_energy:10.4f}  {check if s is f.slabs[-1] else ''}")

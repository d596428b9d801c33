"""``ridgeline neb MODEL INITIAL [FINAL] [--vacancy-migration | --scan I J] [--plot PATH] [--json] [-o PATH]``.

Three paths: a nudged elastic band from INITIAL to FINAL; with ``--vacancy-migration`` the
nearest-neighbour vacancy hop in the crystal INITIAL; with ``--scan I J`` the dissociation curve
of atoms I and J of INITIAL (J pulled away from I) and its tail checks.
"""

from __future__ import annotations

from .workflow_args import add_interval_arguments, add_structure_arguments, load_workflow_calculator, read_structure


def add_arguments(p) -> None:
    add_structure_arguments(p)
    p.add_argument("final", nargs="?", help="the band's final structure (same atoms in the same order as STRUCTURE)")
    p.add_argument("--vacancy-migration", action="store_true",
                   help="the nearest-neighbour vacancy hop in the one-element crystal STRUCTURE (no FINAL)")
    p.add_argument("--supercell", type=int, nargs="+", default=[3], metavar="N",
                   help="repeats of STRUCTURE's cell for --vacancy-migration: one number or three (default: 3)")
    p.add_argument("--scan", type=int, nargs=2, metavar=("I", "J"),
                   help="the dissociation curve of atoms I and J of STRUCTURE: J pulled away along I->J (no FINAL)")
    p.add_argument("--images", type=int, default=5, help="interior images of the band (default: %(default)s)")
    p.add_argument("--no-climb", action="store_true", help="a plain NEB, without the climbing image")
    p.add_argument("--fmax", type=float, default=0.05, help="the band's force threshold, eV/Å (default: %(default)s)")
    p.add_argument("--steps", type=int, default=500, help="optimizer steps of the band (default: %(default)s)")
    p.add_argument("--optimizer", default="fire", help="fire, bfgs or mdmin (ASE's) (default: %(default)s)")
    p.add_argument("--interpolation", default="idpp", help="idpp or linear (default: %(default)s)")
    p.add_argument("--cutoff", type=float, default=None,
                   help="for --scan: the calculator's cutoff in Å where it does not say it (default: the model's)")
    add_interval_arguments(p)
    p.add_argument("--plot", metavar="PATH", help="write the energy profile (a PNG)")
    p.add_argument("-o", "--output", metavar="PATH", help="write the final band (extxyz, energies and forces attached)")
    p.add_argument("--json", action="store_true", help="print one JSON object (the result's fields and estimates)")


def _mode(args) -> str:
    from ..errors import ConfigError

    if args.vacancy_migration and args.scan:
        raise ConfigError("--vacancy-migration and --scan are different paths: give one")
    if args.vacancy_migration or args.scan:
        if args.final is not None:
            raise ConfigError(f"--{'scan' if args.scan else 'vacancy-migration'} takes one structure; FINAL {args.final!r} is not used")
        if args.scan and args.output:
            raise ConfigError("-o writes a band; a --scan has none (use --json)")
        return "scan" if args.scan else "vacancy"
    if args.final is None:
        raise ConfigError("a band needs FINAL (or give --vacancy-migration or --scan I J)")
    return "band"


def run(args) -> int:

    mode = _mode(args)
    calculator, uncertainty = load_workflow_calculator(args)
    initial = read_structure(args.structure)
    if mode == "scan":
        from ..properties.scan import dissociation_curve, plot_scan

        result = dissociation_curve(initial, calculator, pair=tuple(args.scan), cutoff=args.cutoff, uncertainty=uncertainty)
        plot = plot_scan
    else:
        from ..properties.paths import plot_path

        common = dict(images=args.images, climb=not args.no_climb, fmax=args.fmax, steps=args.steps,
                      interpolation=args.interpolation, optimizer=args.optimizer, uncertainty=uncertainty)
        if mode == "vacancy":
            from ..properties.migration import vacancy_migration

            supercell = args.supercell[0] if len(args.supercell) == 1 else args.supercell
            result = vacancy_migration(initial, calculator, supercell=supercell, **common)
        else:
            from ..properties.paths import neb

            result = neb(initial, read_structure(args.final), calculator, **common)
        plot = plot_path
        if args.output:
            _write_band(result.images, args.output)
    if args.plot:
        plot(result, args.plot)
    if args.json:
        import json

        print(json.dumps({**result.to_dict(), "estimates": {k: v.to_dict() for k, v in result.estimates().items()}}))
    else:
        print(_scan_table(result) if mode == "scan" else _band_table(result))
    return 0 if (result.passed if mode == "scan" else result.converged) else 1


def _write_band(images, path) -> None:
    import io

    from ase.io import write

    from ..files import atomic_write_bytes

    text = io.StringIO()
    write(text, images, format="extxyz")
    atomic_write_bytes(path, text.getvalue().encode())


def _estimate_line(name, estimate) -> str:
    text = f"{name:28s} {estimate.value:10.4f} {estimate.unit}"
    if estimate.sigma is not None:
        text += f"  [{estimate.lower:.4f}, {estimate.upper:.4f}] ({estimate.confidence:.0%})"
    return text + ("  OUT OF DOMAIN" if estimate.out_of_domain else "")


def _band_table(result) -> str:
    state = "converged" if result.converged else "NOT converged"
    lines = [f"band of {len(result.energies)} images {state} in {result.steps} {result.optimizer} steps "
             f"(fmax {result.fmax:g} eV/Å)" + ("" if result.climbing_image is None else f"; climbing image {result.climbing_image}"),
             " image   s (Å)  E-E0 (eV)  sigma (eV)  F_perp (eV/Å)"]
    for k, (s, e, f) in enumerate(zip(result.reaction_coordinate, result.energies - result.energies[0],
                                      result.perpendicular_forces)):
        sigma = "" if result.energy_sigmas is None else f"{result.energy_sigmas[k]:.4f}"
        flag = "  OUT OF DOMAIN" if result.image_out_of_domain and result.image_out_of_domain[k] else ""
        lines.append(f"{k:6d} {s:7.3f} {e:10.4f} {sigma:>11s} {f:14.4f}{flag}")
    lines += [_estimate_line(name, estimate) for name, estimate in result.estimates().items()]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def _scan_table(result) -> str:
    lines = [f"dissociation curve of {len(result.distances)} points, {result.distances[0]:.3f}-{result.distances[-1]:.3f} Å, "
             f"cutoff {result.cutoff if result.cutoff is not None else 'unknown'} Å; minimum at {result.minimum_distance:.3f} Å",
             *(f"{name:24s} {'-' if ok is None else ('passed' if ok else 'FAILED')}" for name, ok in result.checks.items()),
             *(_estimate_line(name, estimate) for name, estimate in result.estimates().items()),
             *(f"warning: {w}" for w in result.warnings)]
    return "\n".join(lines)

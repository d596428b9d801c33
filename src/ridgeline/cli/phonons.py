"""``ridgeline phonons MODEL STRUCTURE [--supercell N | N N N] [--relax] [--mesh N] [--temperature T]
[--plot PATH] [--json] [--confidence C --draws N] [--compare-vdos TRAJ --timestep FS]``: harmonic phonons
of a crystal (phonopy), and the vibrational DOS of an MD trajectory against them."""

from __future__ import annotations

from .workflow_args import add_interval_arguments, add_structure_arguments, load_workflow_calculator, read_structure


def add_arguments(p) -> None:
    add_structure_arguments(p)
    p.add_argument("--supercell", type=int, nargs="+", metavar="N",
                   help="supercell of the structure's cell: N (N x N x N) or three integers "
                        "(default: the smallest diagonal one at least 10 Å and twice the model's cutoff wide)")
    p.add_argument("--displacement", type=float, default=0.01, help="finite displacement in Å (default: %(default)s)")
    p.add_argument("--mesh", type=int, nargs="+", default=[20], metavar="N",
                   help="q-point mesh for the DOS and thermal properties: N or three integers (default: 20)")
    p.add_argument("--temperature", type=float, default=300.0,
                   help="temperature (K) of the printed free energy, entropy and heat capacity (default: %(default)s)")
    p.add_argument("--relax", action="store_true", help="relax positions and cell first (simulate.relax, fmax 0.001 eV/Å)")
    p.add_argument("--plot", metavar="PATH", help="write the band structure beside the DOS as a PNG")
    p.add_argument("--json", action="store_true", help="print one JSON object (bands, DOS, thermal properties, estimates)")
    p.add_argument("--compare-vdos", metavar="TRAJ",
                   help="an MD trajectory of the crystal with velocities (e.g. ridgeline md's): its vibrational DOS "
                        "(velocity autocorrelation) against the harmonic DOS: overlap and mean-frequency ratio")
    p.add_argument("--timestep", type=float, help="fs between the frames of --compare-vdos")
    p.add_argument("--vdos-plot", metavar="PATH", help="with --compare-vdos: both DOS on one axis, as a PNG")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_interval_arguments(p)


def _integers(values, name: str):
    from ..errors import ConfigError

    if values is None:
        return None
    if len(values) not in (1, 3):
        raise ConfigError(f"--{name} takes one integer or three, got {len(values)}: {' '.join(map(str, values))}")
    return values[0] if len(values) == 1 else list(values)


def run(args) -> int:
    import numpy as np

    from ..errors import ConfigError
    from ..properties.phonons import HEADLINE_UNITS, phonons, plot_phonons

    supercell, mesh = _integers(args.supercell, "supercell"), _integers(args.mesh, "mesh")
    if args.compare_vdos and not (args.timestep and args.timestep > 0):
        raise ConfigError("--compare-vdos needs --timestep, the fs between the trajectory's frames")
    if not args.temperature >= 0:
        raise ConfigError(f"--temperature must be >= 0 K, got {args.temperature}")
    calculator, unc = load_workflow_calculator(args)
    atoms = read_structure(args.structure)
    notes = []
    if args.relax:
        from ..simulate.relax import relax

        relaxed = relax(atoms, calculator, cell=True, fmax=1e-3)
        atoms = relaxed.atoms
        if not relaxed.converged:
            notes.append(f"the relaxation did not converge in {relaxed.steps} steps (fmax {relaxed.fmax:.3g} eV/Å)")
    temperatures = np.union1d(np.arange(0, 1001, 10), [args.temperature])
    result = phonons(atoms, calculator, supercell=supercell, displacement=args.displacement, mesh=mesh,
                     temperatures=temperatures, uncertainty=unc,
                     progress=not args.no_progress)
    result.warnings[:0] = notes
    comparison = None
    if args.compare_vdos:
        from ..analysis.trajectory import load_frames
        from ..properties.phonons import compare_vdos, plot_vdos_comparison

        comparison = compare_vdos(load_frames(args.compare_vdos), result, dt=args.timestep)
        if args.vdos_plot:
            plot_vdos_comparison(comparison, args.vdos_plot)
    if args.plot:
        plot_phonons(result, args.plot)
    if args.json:
        if comparison is None:
            print(result.to_json())
        else:
            import json

            print(json.dumps({**result.to_dict(), "vdos_comparison": comparison.to_dict()}))
        return 0
    size = "x".join(str(n) for n in np.diag(result.supercell_matrix)) if np.count_nonzero(
        result.supercell_matrix - np.diag(np.diag(result.supercell_matrix))) == 0 else str(result.supercell_matrix.tolist())
    print(f"{result.formula}: {result.n_atoms} atom(s) in the primitive cell; supercell {size} "
          f"({result.n_supercell_atoms} atoms), {result.n_displacements} displaced, mesh {'x'.join(map(str, result.mesh))}")
    where = f" at {result.lowest_label.replace('G', 'Gamma')}" if result.lowest_label else \
        f" at q = {np.round(result.lowest_q, 3).tolist()}"
    print(("stable" if result.stable else "UNSTABLE: imaginary modes") + f"; lowest frequency {result.lowest_frequency:.3f} THz"
          + where + " (acoustic modes at Gamma excepted)")
    estimates = result.estimates()
    confidence = next((e.confidence for e in estimates.values() if e.confidence), None)
    print(f"{'property':<20} {'value':>12}  {'unit':<11}" + (f" {100 * confidence:g}% interval" if confidence else ""))
    for name, e in estimates.items():
        line = f"{name:<20} {e.value:12.5g}  {HEADLINE_UNITS[name]:<11}"
        if e.ci is not None:
            line += f" [{e.lower:.5g}, {e.upper:.5g}]"
        print(line + ("  OUT OF DOMAIN" if e.out_of_domain else ""))
    k = int(np.argmin(np.abs(result.temperatures - args.temperature)))
    print(f"at {result.temperatures[k]:g} K: free energy {result.free_energy[k]:.5f} eV/atom, "
          f"entropy {result.entropy[k]:.5f} meV/K/atom, heat capacity {result.heat_capacity[k]:.5f} meV/K/atom")
    if comparison is not None:
        print(f"MD vibrational DOS ({args.compare_vdos}) against the harmonic DOS: overlap {comparison.overlap:.3f} "
              f"(1: alike), mean frequency {comparison.mean_frequency_md:.3f} THz against {comparison.mean_frequency_harmonic:.3f} "
              f"(ratio {comparison.mean_frequency_ratio:.3f}; anharmonicity and finite temperature move it)")
    for note in result.warnings:
        print(f"warning: {note}")
    return 0

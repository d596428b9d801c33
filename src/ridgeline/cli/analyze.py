"""``ridgeline analyze TRAJ [--rdf] [--msd] [--vacf] [--conductivity --charges Li=1 Cl=-1] [--timestep FS --interval N]``.

Observables of any trajectory ASE reads (extxyz, ``.traj``; ridgeline's MD or a reference code's):
writes analysis.json (summary and every curve), analysis.md (the summary as tables) and the plots
into ``--output-dir``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

ANALYSES = ("rdf", "msd", "vacf", "conductivity")


def add_arguments(p) -> None:
    p.add_argument("trajectory", help="frames with the same atoms throughout: extxyz, ASE .traj, any file ASE reads")
    p.add_argument("--rdf", action="store_true", help="radial distribution functions and coordination numbers")
    p.add_argument("--msd", action="store_true", help="mean squared displacement and diffusion coefficients (needs --timestep)")
    p.add_argument("--vacf", action="store_true", help="velocity autocorrelation and vibrational DOS (needs velocities and --timestep)")
    p.add_argument("--conductivity", action="store_true",
                   help="ionic conductivity, Green-Kubo (needs velocities) and Nernst-Einstein (from the MSD); needs --charges and --timestep")
    p.add_argument("--charges", nargs="+", metavar="EL=Q", default=[], help="charge per element in e, e.g. Li=1 Cl=-1")
    p.add_argument("--temperature", type=float, metavar="K", help="for --conductivity (default: the frames' mean kinetic temperature)")
    p.add_argument("--timestep", type=float, metavar="FS", help="the MD timestep, fs")
    p.add_argument("--interval", type=int, default=1, metavar="N", help="MD steps between stored frames (default: %(default)s)")
    p.add_argument("--skip", type=int, default=0, metavar="N", help="leading frames to drop as equilibration (default: %(default)s)")
    p.add_argument("--r-max", type=float, default=6.0, metavar="Å", help="RDF range (default: %(default)s)")
    p.add_argument("--bins", type=int, default=200, help="RDF bins (default: %(default)s)")
    p.add_argument("--blocks", type=int, default=5, help="independent blocks for the error bar of D (default: %(default)s)")
    p.add_argument("--fit-window", type=float, nargs=2, metavar=("START", "END"),
                   help="MSD fitting window, ps (default: 0.1 to 0.5 of a block's duration)")
    p.add_argument("--remove-drift", action="store_true",
                   help="measure the MSD from the centre of mass (for thermostats that let it diffuse, e.g. Langevin)")
    p.add_argument("--output-dir", help="where to write analysis.json, analysis.md and plots (default: TRAJ's name + _analysis)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def parse_charges(tokens) -> dict:
    from ..errors import ConfigError

    charges = {}
    for token in tokens:
        element, _, value = token.partition("=")
        try:
            charges[element.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--charges: {token!r} is not ELEMENT=CHARGE (e.g. Li=1)") from None
        if not element.strip():
            raise ConfigError(f"--charges: {token!r} is not ELEMENT=CHARGE (e.g. Li=1)")
    return charges


def _chosen(args) -> list[str]:
    chosen = [name for name in ANALYSES if getattr(args, name)]
    if not chosen:
        chosen = ["rdf"] + (["msd"] if args.timestep else [])
    return chosen


def run(args) -> int:
    from ..analysis import (green_kubo_conductivity, load_frames, msd, nernst_einstein, plot_msd, plot_rdf,
                            plot_vdos, rdf, vacf, vdos)
    from ..analysis.trajectory import velocities
    from ..errors import ConfigError, DataError
    from ..files import atomic_write_bytes

    chosen = _chosen(args)
    timed = [name for name in chosen if name != "rdf"]
    if timed and not (args.timestep and args.timestep > 0):
        raise ConfigError(f"--{timed[0]} needs --timestep FS (> 0)")
    if args.interval < 1 or args.skip < 0:
        raise ConfigError("--interval must be >= 1 and --skip >= 0")
    charges = parse_charges(args.charges)
    if "conductivity" in chosen and not charges:
        raise ConfigError("--conductivity needs --charges, e.g. --charges Li=1 Cl=-1")

    path = Path(args.trajectory)
    frames = load_frames(path)[args.skip:]
    if not frames:
        raise DataError(f"{path}: --skip {args.skip} leaves no frames")
    if "vacf" in chosen or "conductivity" in chosen:
        velocities(frames, str(path))  # DataError naming the file and the first frame without them
    if "conductivity" in chosen:
        symbols = sorted(set(frames[0].get_chemical_symbols()))
        missing = [element for element in symbols if element not in charges]
        if missing:
            raise ConfigError(f"--charges: no charge given for {', '.join(missing)} (the trajectory has {', '.join(symbols)})")
    dt = (args.timestep or 0.0) * args.interval  # fs between frames
    out = Path(args.output_dir) if args.output_dir else path.with_name(path.stem + "_analysis")
    summary = {"trajectory": str(path), "frames": len(frames), "atoms": len(frames[0]), "frame_interval_fs": dt or None}
    curves, plots = {}, []

    if "rdf" in chosen:
        result = rdf(frames, r_max=args.r_max, n_bins=args.bins)
        shells = {}
        for i, a in enumerate(result.elements):
            for b in result.elements[i:]:
                shells[f"{a}-{b}"] = result.first_shell(a, b)
                if a != b:
                    shells[f"{b}-{a}"] = result.first_shell(b, a)
        summary["rdf"] = {"periodic": result.periodic, "volume_A3": result.volume, "first_shell": shells}
        curves["rdf"] = result.to_dict()
        plot_rdf(result, out / "rdf.png", title=f"{path.name}: RDF")
        plots.append("rdf.png")
    diffusion = None
    if "msd" in chosen or "conductivity" in chosen:
        fit = tuple(args.fit_window) if args.fit_window else None
        diffusion = msd(frames, dt, n_blocks=args.blocks, fit_window=fit, remove_drift=args.remove_drift)
        summary["msd"] = {"D_A2_per_ps": diffusion.diffusion, "D_error_A2_per_ps": diffusion.diffusion_error,
                          "D_cm2_per_s": {k: diffusion.diffusion_cm2_per_s(k)[0] for k in diffusion.diffusion},
                          "fit_window_ps": list(diffusion.fit_window_ps), "blocks": diffusion.n_blocks,
                          "drift_removed": args.remove_drift}
        curves["msd"] = diffusion.to_dict()
        plot_msd(diffusion, out / "msd.png", title=f"{path.name}: MSD")
        plots.append("msd.png")
    if "vacf" in chosen:
        correlation = vacf(frames, dt)
        dos = vdos(correlation)
        summary["vdos"] = {"peak_THz": {k: dos.peak_thz(k) for k in dos.dos}}
        curves["vacf"], curves["vdos"] = correlation.to_dict(), dos.to_dict()
        plot_vdos(dos, out / "vdos.png", title=f"{path.name}: VDOS", vacf_result=correlation)
        plots.append("vdos.png")
    if "conductivity" in chosen:
        gk = green_kubo_conductivity(frames, dt, charges, temperature=args.temperature)
        ne = nernst_einstein(diffusion.diffusion, diffusion.counts, charges, gk.volume, gk.temperature)
        summary["conductivity"] = {"green_kubo_S_per_m": gk.sigma, "nernst_einstein_S_per_m": ne.sigma,
                                   "temperature_K": gk.temperature, "volume_A3": gk.volume, "charges": gk.charges,
                                   "green_kubo_cutoff_ps": gk.cutoff_ps}
        curves["conductivity"] = {"green_kubo": gk.to_dict(), "nernst_einstein": ne.to_dict()}

    summary["plots"] = plots
    summary = _finite(summary)
    atomic_write_bytes(out / "analysis.json", json.dumps({"summary": summary, "curves": curves}).encode())
    atomic_write_bytes(out / "analysis.md", report(summary).encode())
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(report(summary))
        print(f"wrote {out / 'analysis.json'}, {out / 'analysis.md'}" + "".join(f", {out / p}" for p in plots))
    return 0


def _finite(value):
    """NaN and infinities (a pair with no RDF peak) as JSON null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def report(summary: dict) -> str:
    """The summary as Markdown tables."""
    lines = [f"# Analysis of {summary['trajectory']}", "",
             f"{summary['frames']} frames of {summary['atoms']} atoms"
             + (f", {summary['frame_interval_fs']:g} fs apart" if summary["frame_interval_fs"] else ""), ""]
    if "rdf" in summary:
        lines += ["## Radial distribution functions", "", "| pair | first peak (Å) | g there | first minimum (Å) | n within it |",
                  "|---|---|---|---|---|"]
        for pair, s in summary["rdf"]["first_shell"].items():
            lines.append(f"| {pair} | {_number(s['r_peak'], '.3f')} | {_number(s['g_peak'], '.2f')} | "
                         f"{_number(s['r_min'], '.3f')} | {_number(s['n'], '.2f')} |")
        lines.append("")
    if "msd" in summary:
        m = summary["msd"]
        lines += ["## Diffusion", "", f"D = MSD slope / 6 over {m['fit_window_ps'][0]:g} to {m['fit_window_ps'][1]:g} ps; "
                  f"error: standard error over {m['blocks']} independent blocks"
                  + ("; relative to the centre of mass" if m["drift_removed"] else ""), "",
                  "| atoms | D (Å²/ps) | error | D (cm²/s) |", "|---|---|---|---|"]
        for key, d in m["D_A2_per_ps"].items():
            lines.append(f"| {key} | {d:.4g} | {m['D_error_A2_per_ps'][key]:.2g} | {m['D_cm2_per_s'][key]:.4g} |")
        lines.append("")
    if "vdos" in summary:
        lines += ["## Vibrational density of states", "", "| atoms | highest peak (THz) |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in summary["vdos"]["peak_THz"].items()] + [""]
    if "conductivity" in summary:
        c = summary["conductivity"]
        lines += ["## Ionic conductivity", "", f"T = {c['temperature_K']:.1f} K, V = {c['volume_A3']:.1f} Å³, charges "
                  + ", ".join(f"{k} {v:+g}" for k, v in c["charges"].items()), "",
                  "| method | sigma (S/m) |", "|---|---|",
                  f"| Green-Kubo (to {c['green_kubo_cutoff_ps']:.3g} ps) | {c['green_kubo_S_per_m']:.4g} |",
                  f"| Nernst-Einstein | {c['nernst_einstein_S_per_m']:.4g} |", ""]
    return "\n".join(lines)

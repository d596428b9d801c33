"""Ethanol with GFN2-xTB: harmonic frequencies and the methyl torsion barrier, model against xTB.

The model is the main job's committee (``ridgeline demo``: active learning of ethanol against
GFN2-xTB through tblite; cached, resumable). Through the same workflows, with the committee and
with xTB:

1. ``ridgeline.validate`` on ethanol: each calculator relaxes the molecule, then the 21 harmonic
   frequencies (the committee's exact Hessian; xTB by finite differences, ``ase.vibrations``), each
   model frequency with its 95% interval from the members' Hessians;
2. the methyl rotation by climbing-image NEB (``properties.paths.neb``): from the staggered
   conformer to the same conformer with the methyl group turned by 120 degrees (the three H atoms
   exchanged), whose highest image is the eclipsed transition state; the barrier with its
   linearised interval.

Writes results/properties_xtb_ethanol.{json,md}. ``python benchmarks/properties_xtb_ethanol.py``
(about 15 minutes on 2 idle cores, most of it the demo's active learning).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from ase.build import molecule

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, RESULTS, machine  # noqa: E402

from ridgeline.files import atomic_write_bytes  # noqa: E402

METHYL_C, OTHER_C, METHYL_H = 0, 1, [6, 7, 8]  # in ase.build.molecule("CH3CH2OH")


def turned_methyl(atoms, degrees: float = 120.0):
    """``atoms`` with the methyl hydrogens rotated by ``degrees`` about the C-C bond."""
    out = atoms.copy()
    axis = out.positions[METHYL_C] - out.positions[OTHER_C]
    axis /= np.linalg.norm(axis)
    theta = np.radians(degrees)
    for h in METHYL_H:
        v = out.positions[h] - out.positions[METHYL_C]
        v = v * np.cos(theta) + np.cross(axis, v) * np.sin(theta) + axis * (axis @ v) * (1 - np.cos(theta))
        out.positions[h] = out.positions[METHYL_C] + v
    return out


def torsion_barrier(calc, unc, images: int = 7) -> dict:
    from ridgeline.properties.paths import neb
    from ridgeline.simulate.relax import relax

    start = relax(molecule("CH3CH2OH"), calc, fmax=0.005).atoms
    t0 = time.perf_counter()
    path = neb(start, turned_methyl(start), calc, images=images, fmax=0.02, uncertainty=unc)
    est = path.estimates()["barrier_forward"]
    return {"barrier": est.value, "ci": est.ci, "sigma": est.sigma, "out_of_domain": est.out_of_domain,
            "converged": bool(path.converged), "energies": [float(e) for e in path.energies], "seconds": time.perf_counter() - t0,
            "warnings": list(path.warnings)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="overrides of the demo's active-learning config (key=value)")
    args = parser.parse_args()
    from ridgeline.active.demo import run_demo
    from ridgeline.properties.estimates import Uncertainty
    from ridgeline.simulate.calculator import Calculator
    from ridgeline.simulate.named import calculator as named
    from ridgeline.validate import validate

    folder = CACHE / "properties_xtb_ethanol"
    t0 = time.perf_counter()
    figures = run_demo(folder / "demo", progress=False, overrides=args.overrides)
    t1 = time.perf_counter()
    report = validate(figures["model"], structures=["CH3CH2OH"], reference="xtb", workflows=["vibrations"],
                      data=figures["validation_frames"], output_dir=folder / "validation")
    t2 = time.perf_counter()
    rows = [r for r in report.properties if r.name.startswith("frequency_")]
    dev = np.array([r.model - r.reference for r in rows])
    committee = Calculator(figures["model"])
    barrier = {"model": torsion_barrier(committee.without_uncertainty(), Uncertainty(committee)),
               "xtb": torsion_barrier(named("xtb"), Uncertainty(named("xtb")))}
    m, x = barrier["model"], barrier["xtb"]
    out = {
        "machine": machine(), "demo_minutes": (t1 - t0) / 60, "validate_minutes": (t2 - t1) / 60,
        "oracle_calls": figures["oracle_calls"], "valid_forces_mae": figures["valid_forces_mae"],
        "frequencies": [{"name": r.name, "model": r.model, "ci": r.model_ci, "xtb": r.reference, "passed": r.passed,
                         "xtb_in_ci": r.reference_in_ci, "out_of_domain": r.out_of_domain} for r in rows],
        "frequency_mae_cm": float(np.mean(np.abs(dev))), "frequency_max_abs_cm": float(np.max(np.abs(dev))),
        "frequency_mean_rel": float(np.mean(np.abs(dev) / np.array([r.reference for r in rows]))),
        "frequency_coverage": float(np.mean([bool(r.reference_in_ci) for r in rows])),
        "torsion": barrier, "torsion_xtb_in_ci": None if m["ci"] is None else bool(m["ci"][0] <= x["barrier"] <= m["ci"][1]),
    }
    atomic_write_bytes(RESULTS / "properties_xtb_ethanol.json", (json.dumps(out, indent=1) + "\n").encode())
    lines = ["# Ethanol: the main job's committee against GFN2-xTB, through the same workflows", "",
             f"Machine: {out['machine']}. The committee: `ridgeline demo` ({out['oracle_calls']} xTB calls, "
             f"{out['demo_minutes']:.1f} min; validation force MAE {out['valid_forces_mae']:.3f} eV/Å). "
             "Made by `benchmarks/properties_xtb_ethanol.py`.", "",
             "## Harmonic frequencies (each calculator at its own minimum)", "",
             f"MAE {out['frequency_mae_cm']:.1f} cm^-1, largest |deviation| {out['frequency_max_abs_cm']:.1f} cm^-1, mean "
             f"relative deviation {100 * out['frequency_mean_rel']:.1f}%; xTB inside the committee's 95% interval for "
             f"{100 * out['frequency_coverage']:.0f}% of the modes.", "",
             "| mode | model (cm^-1) | 95% interval | xTB | within 5% | xTB in interval | domain |", "|---|---|---|---|---|---|---|"]
    for f in out["frequencies"]:
        ci = f"[{f['ci'][0]:.0f}, {f['ci'][1]:.0f}]" if f["ci"] else "-"
        lines.append(f"| {f['name'].split('_')[1]} | {f['model']:.0f} | {ci} | {f['xtb']:.0f} | {'yes' if f['passed'] else 'no'} | "
                     f"{'yes' if f['xtb_in_ci'] else 'no'} | {'OUT' if f['out_of_domain'] else 'in'} |")
    ci = f"[{m['ci'][0]:.3f}, {m['ci'][1]:.3f}]" if m["ci"] else "-"
    lines += ["", "## Methyl torsion barrier (climbing-image NEB, 7 images)", "",
              "| calculator | barrier (eV) | 95% interval | converged | out of domain | NEB time (s) |", "|---|---|---|---|---|---|",
              f"| committee | {m['barrier']:.4f} | {ci} | {m['converged']} | {m['out_of_domain']} | {m['seconds']:.1f} |",
              f"| GFN2-xTB | {x['barrier']:.4f} | - | {x['converged']} | - | {x['seconds']:.1f} |", "",
              f"xTB's barrier inside the committee's interval: {out['torsion_xtb_in_ci']}.", ""]
    atomic_write_bytes(RESULTS / "properties_xtb_ethanol.md", "\n".join(lines).encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()

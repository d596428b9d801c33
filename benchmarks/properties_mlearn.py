"""mlearn Si and Mo: the properties of ridgeline's models against DFT and the published SNAP models.

Issue 27's mlearn benchmark. For each element:

1. **DFT values** from the data's own frames (``mlearn_reference.py``): lattice constant, C11,
   C12, bulk modulus (and C44 where the data's shears are ion-relaxed: Mo; Si's are clamped-ion)
   and the surface energies of every relaxed slab in the data. They are written as a ``validate``
   reference table (``cache/properties_mlearn/dft_{element}.yaml``).
2. **ridgeline**: the moment model of ``mlearn_vs_mace.py`` (preset medium, the same cached run),
   calibrated here (last-layer Laplace posterior, Mahalanobis domain model, variance scale on its
   validation split), then ``ridgeline.validate`` against that table with the workflows eos,
   elastic, vacancy, surfaces and phonons: each value with its 95% interval and domain flag.
3. **the published SNAP and qSNAP** of the same paper (``../shared/data/mlearn/snap``), through
   LAMMPS (ASE's LAMMPSlib, in the peers' environment of ``properties_vs_matcalc.py``), run
   through the same ridgeline workflows on the same structures.
4. **on the data's own structures**, for every code: the elastic constants fitted to its
   stresses on the data's strained frames (clamped-ion where DFT's are) and the surface energies
   of the data's slabs (relaxed by the code from the DFT geometry, and unrelaxed), against DFT on
   identical structures.
5. **matcalc / janus-core** on the same ridgeline models (``properties_vs_matcalc.run_case``):
   EOS, elastic constants and phonons computed by those codes agree with ridgeline's own.

The data has no DFT vacancy formation energy (its vacancy cells are MD snapshots) and no DFT
phonons: those rows compare ridgeline with SNAP and qSNAP only.

``python benchmarks/properties_mlearn.py [--elements Si Mo] [--parts validate,peers,matcalc]``
writes results/properties_mlearn.{json,md}. The model's training (``--minutes``, cached, about
10 minutes per element on 2 cores) is shared with mlearn_vs_mace.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mlearn_reference as dft  # noqa: E402
from common import CACHE, DATA, machine, mlearn_file, require_data, ridgeline_config, train_ridgeline, write_results  # noqa: E402

OUT = CACHE / "properties_mlearn"
WORKFLOWS = ("eos", "elastic", "vacancy", "surfaces", "phonons")
SNAP_MODELS = ("snap", "qsnap")
RELAX_FMAX = 0.005  # eV/Å: validate's, for every code's starting crystal
SLAB_FMAX = 0.01  # eV/Å: the data's slabs relaxed by each code


# ------------------------------------------------------------------------------------- the data
def frames_of(element: str) -> list:
    from ase.io import read

    return read(mlearn_file(element, "train"), ":") + read(mlearn_file(element, "test"), ":")


def write_table(element: str, ref: dict) -> Path:
    import yaml

    from ridgeline.files import atomic_write_bytes

    path = OUT / f"dft_{element}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, yaml.safe_dump(dft.reference_table(element, ref), allow_unicode=True, sort_keys=False).encode())
    return path


def reference_summary(ref: dict) -> dict:
    c = ref["crystal"]
    return {"crystal": {k: v for k, v in c.items() if k != "atoms"}, "elastic": ref["elastic"],
            "relaxed_constants": sorted(ref["relaxed"]),
            "slabs": [{k: v for k, v in s.items() if k != "atoms"} for s in ref["slabs"]],
            "surface_energies": {f: r["surface_energy"] for f, r in ref["surfaces"].items()}}


# ----------------------------------------------------------------------------------- the model
def calibrated_model(element: str, minutes: float) -> tuple[Path, dict]:
    """mlearn_vs_mace.py's moment model of ``element`` (trained if not cached), calibrated here."""
    from ridgeline.models.io import load_model
    from ridgeline.training.trainer import Trainer
    from ridgeline.uncertainty import UncertaintyOptions, fit_uncertainty

    run = train_ridgeline(element, "moment", "medium", minutes, [])
    path = Path(run["model"]).with_name("calibrated.safetensors")
    if not path.exists():
        trainer = Trainer(ridgeline_config(element, "moment", "medium", minutes, []), progress=False)
        trainer.load_data()
        model, description = load_model(run["model"], dtype="float64")
        uq = fit_uncertainty(model, trainer.train_frames, trainer.valid_frames, UncertaintyOptions(domains=("mahalanobis",)),
                             description)
        uq.save(path)
    return path, {"test": run["test"], "train_wall_s": run["train_wall_s"], "epochs": run["epochs"]}


# --------------------------------------------------------------- any calculator on the data's frames
def on_data(ref: dict, frames: list, calc) -> dict:
    """The elastic fit to ``calc``'s stresses on the data's strained frames, and the surface
    energies of the data's slabs under ``calc`` (unrelaxed, and relaxed at fixed cell)."""
    from ase import units

    from ridgeline.properties.defects import relaxed_at_fixed_cell

    def stress(atoms):
        a = atoms.copy()
        a.calc = calc
        return a.get_stress(voigt=True) / units.GPa

    def energy(atoms):
        a = atoms.copy()
        a.calc = calc
        return float(a.get_potential_energy())

    fit = dft.fit_elastic(frames, stress_of=stress)
    crystal = ref["crystal"]["atoms"]
    e_bulk = energy(crystal) / len(crystal)
    slabs = []
    for row in ref["slabs"]:
        _, unrelaxed, relaxed, converged, steps = relaxed_at_fixed_cell(row["atoms"], calc, True, SLAB_FMAX, 2000)
        slabs.append({"index": row["index"], "facet": row["facet"],
                      "unrelaxed": (unrelaxed - len(row["atoms"]) * e_bulk) / (2 * row["area"]) * dft.J_PER_M2,
                      "relaxed": (relaxed - len(row["atoms"]) * e_bulk) / (2 * row["area"]) * dft.J_PER_M2,
                      "converged": bool(converged), "steps": int(steps)})
    return {"elastic": {k: fit[k] for k in ("C11", "C12", "C44", "bulk_modulus")}, "energy_per_atom": e_bulk, "slabs": slabs}


def run_workflows(element: str, calc, workflows=WORKFLOWS) -> dict:
    """What ``validate`` does for its reference side: the named crystal relaxed (cell and
    positions) under ``calc``, then each workflow; {workflow: {"estimates", "warnings", "wall_s"}}."""
    from ridgeline.properties.estimates import Uncertainty
    from ridgeline.simulate.named import structure
    from ridgeline.simulate.relax import relax
    from ridgeline.validate.workflows import WORKFLOWS as REGISTRY

    result = relax(structure(element), calc, cell=True, fmax=RELAX_FMAX, max_steps=500)
    out = {"relaxation": {"converged": bool(result.converged), "steps": int(result.steps)}}
    for name in workflows:
        start = time.perf_counter()
        try:
            r = REGISTRY[name](result.atoms, calc, Uncertainty(calc))
        except Exception as err:  # a peer's workflow that fails is a row of the results, not the end of the run
            out[name] = {"error": f"{type(err).__name__}: {err}", "wall_s": time.perf_counter() - start}
            continue
        out[name] = {"estimates": {k: e.value for k, e in r.estimates().items()},
                     "warnings": [str(w) for w in getattr(r, "warnings", []) or []], "wall_s": time.perf_counter() - start}
    return out


# ------------------------------------------------------------------------ the peers (SNAP, qSNAP)
def snap_calculator(element: str, variant: str):
    from ase.calculators.lammpslib import LAMMPSlib

    folder = Path(DATA) / "snap" / f"{element}-{variant}"
    return LAMMPSlib(lmpcmds=["pair_style snap",
                              f"pair_coeff * * {folder / 'SNAPotential.snapcoeff'} {folder / 'SNAPotential.snapparam'} {element}"],
                     atom_types={element: 1}, keep_alive=True, log_file=None)


def worker(job_file: str, out_file: str) -> None:
    """The peers' side, in the peers' environment: for each element and SNAP model, the workflows
    and the data-side comparison."""
    from ridgeline.files import atomic_write_bytes

    job = json.loads(Path(job_file).read_text())
    out = {}
    for element in job["elements"]:
        frames = frames_of(element)
        ref = dft.reference(frames)
        for variant in SNAP_MODELS:
            label = f"{element} {variant}"
            start = time.perf_counter()
            out[label] = {"workflows": run_workflows(element, snap_calculator(element, variant), job["workflows"]),
                          "data": on_data(ref, frames, snap_calculator(element, variant))}
            out[label]["wall_s"] = time.perf_counter() - start
            print(f"  {label}: {out[label]['wall_s']:.0f} s", flush=True)
            atomic_write_bytes(Path(out_file), json.dumps(out).encode())


def peers(elements: list[str]) -> dict:
    from properties_vs_matcalc import PEER_VENV, peer_python

    python, install = peer_python()
    if not install["installs"].get("lammps", {}).get("ok"):
        return {"error": "LAMMPS did not install in the peers' environment"}
    env = dict(os.environ, LD_LIBRARY_PATH=f"{PEER_VENV / 'lib'}:{os.environ.get('LD_LIBRARY_PATH', '')}")
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job.write_text(json.dumps({"elements": elements, "workflows": list(WORKFLOWS)}))
        run = subprocess.run([python, __file__, "--worker", str(job), str(out)], env=env, stdout=subprocess.PIPE, text=True)
        print(run.stdout)
        if run.returncode != 0 or not out.exists():
            raise SystemExit(f"the SNAP worker failed (exit {run.returncode})")
        return json.loads(out.read_text())


# ----------------------------------------------------------------------------------- the tables
ROWS = (  # (property, label, unit)
    ("lattice_constant", "a0", "Å"), ("bulk_modulus", "B0 (EOS)", "GPa"), ("C11", "C11", "GPa"), ("C12", "C12", "GPa"),
    ("C44", "C44", "GPa"), ("vacancy_formation_energy", "E_vac", "eV"), ("surface_energy_100", "gamma(100), own slab", "J/m^2"),
    ("surface_energy_110", "gamma(110), own slab", "J/m^2"), ("surface_energy_111", "gamma(111), own slab", "J/m^2"),
    ("max_frequency", "max phonon frequency", "THz"), ("free_energy_300K", "F_vib(300 K)", "eV/atom"))


def element_rows(element: str, out: dict) -> list[dict]:
    """One row per property: DFT (where the data has it), ridgeline with its interval, SNAP, qSNAP."""
    e = out["elements"][element]
    table = {r["name"]: r for r in e["validation"]["properties"]}
    snap = {v: out.get("peers", {}).get(f"{element} {v}", {}) for v in SNAP_MODELS}
    dft_values = dict(e["table"]["properties"])
    rows = []
    for name, label, unit in ROWS:
        r = table.get(name)
        peer = {}
        for v in SNAP_MODELS:
            flows = snap[v].get("workflows", {})
            peer[v] = next((w["estimates"][name] for w in flows.values() if isinstance(w, dict) and name in w.get("estimates", {})),
                           None)
        rows.append({"property": label, "unit": unit, "dft": dft_values.get(name, {}).get("value"),
                     "ridgeline": None if r is None else r["model"], "ridgeline_ci": None if r is None else r["model_ci"],
                     "passed": None if r is None else r["passed"], "in_ci": None if r is None else r["reference_in_ci"],
                     "out_of_domain": None if r is None else r["out_of_domain"], **peer})
    # on the data's own structures
    codes = {"ridgeline": e["data"], **{v: snap[v].get("data") for v in SNAP_MODELS}}
    ref = e["reference"]
    relaxed = set(ref["relaxed_constants"])
    for name in ("C11", "C12", "C44"):
        kind = "" if name in relaxed else ", clamped-ion"
        rows.append({"property": f"{name}, data's strained frames{kind}", "unit": "GPa", "dft": ref["elastic"][name],
                     **{c: (None if d is None else d["elastic"][name]) for c, d in codes.items()}})
    for slab in ref["slabs"]:
        facet = "".join(map(str, slab["facet"])) if slab["facet"] else "?"
        for mode in ("relaxed", "unrelaxed"):
            vals = {}
            for c, d in codes.items():
                hit = None if d is None else next((s for s in d["slabs"] if s["index"] == slab["index"]), None)
                vals[c] = None if hit is None else hit[mode]
            rows.append({"property": f"gamma({facet}), data's slab #{slab['index']} ({slab['n_atoms']} atoms), {mode}",
                         "unit": "J/m^2", "dft": slab["surface_energy"], **vals})
    return rows


def error_summary(rows: list[dict]) -> dict:
    """Per code: mean |relative error| against DFT over the rows that have DFT values, and how
    many rows that is (every code over the same rows)."""
    compared = [r for r in rows if r["dft"] and all(r.get(c) is not None for c in ("ridgeline", *SNAP_MODELS))]
    out = {}
    for code in ("ridgeline", *SNAP_MODELS):
        errors = [abs(r[code] - r["dft"]) / abs(r["dft"]) for r in compared]
        out[code] = {"mean_abs_rel_error": float(np.mean(errors)) if errors else None, "rows": len(errors)}
    return out


def fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}"


def markdown(out: dict) -> str:
    lines = ["# mlearn Si and Mo: properties against DFT and the published SNAP / qSNAP", "",
             f"Machine: {out['machine']}. DFT values derived from the mlearn frames themselves "
             "(`benchmarks/mlearn_reference.py`: the relaxed crystal, a linear stress-strain fit over the Elastic frames "
             f"with strains up to {dft.MAX_STRAIN:g}, the relaxed Surface slabs). ridgeline: the moment model (preset "
             "medium) of mlearn_vs_mace.py, calibrated (last-layer Laplace, Mahalanobis domain); values from "
             "`ridgeline.validate` against the DFT table, with 95% intervals. SNAP and qSNAP: the published models of the "
             "same paper in LAMMPS (ASE LAMMPSlib), run through the same ridgeline workflows.", "",
             "Rows marked *own slab* use each code's workflow slab (ridgeline's `surface_energies`, ASE's cut, "
             "unreconstructed); the DFT value beside them is the data's slab of that facet, which may be reconstructed "
             "(Si(100) is a 2x1 cell) or terminated otherwise, so compare those against the *data's slab* rows, where "
             "every code has the identical structure. The data has no DFT vacancy formation energy or phonons.", ""]
    for element, e in out["elements"].items():
        lines += [f"## {element}", "",
                  f"Model test errors: E MAE {e['model']['test']['energy_mae']:.2f} meV/atom, F MAE "
                  f"{e['model']['test']['forces_mae']:.4f} eV/Å. Validation: {e['validation']['summary']['passed']} of "
                  f"{e['validation']['summary']['compared']} compared properties within tolerance; the DFT value inside the "
                  f"95% interval for {e['validation']['summary']['reference_in_ci']} of {e['validation']['summary']['with_ci']}.",
                  "", "| property | unit | DFT | ridgeline | 95% interval | SNAP | qSNAP | ridgeline vs DFT |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in e["rows"]:
            ci = "-" if not r.get("ridgeline_ci") else f"[{fmt(r['ridgeline_ci'][0])}, {fmt(r['ridgeline_ci'][1])}]"
            rel = "-" if r["dft"] in (None, 0) or r.get("ridgeline") is None else f"{100 * (r['ridgeline'] - r['dft']) / r['dft']:+.1f}%"
            flag = " (out of domain)" if r.get("out_of_domain") else ""
            lines.append(f"| {r['property']} | {r['unit']} | {fmt(r['dft'])} | {fmt(r.get('ridgeline'))}{flag} | {ci} | "
                         f"{fmt(r.get('snap'))} | {fmt(r.get('qsnap'))} | {rel} |")
        s = e["errors"]
        lines += ["", "Mean |relative error| against DFT over the " + str(s["ridgeline"]["rows"]) + " rows every code has: "
                  + ", ".join(f"{c} {100 * v['mean_abs_rel_error']:.1f}%" for c, v in s.items() if v["mean_abs_rel_error"] is not None)
                  + ".", ""]
        warnings = [c for c in e["validation"]["checks"] if c["passed"] is not True]
        if warnings:
            lines += ["ridgeline's checks that did not pass or warned:", ""]
            lines += [f"- {c['name']}: {c['detail']}" for c in warnings]
            lines.append("")
    if out.get("matcalc"):
        lines += ["## matcalc and janus-core on the same ridgeline models", "",
                  "Each code's EOS, elastic constants and phonons with the ridgeline model as its ASE calculator, settings "
                  "matched to ridgeline's defaults (properties_vs_matcalc.py); relative difference to ridgeline's own workflow.", "",
                  "| element | property | unit | ridgeline | matcalc | diff | janus-core | diff |", "|---|---|---|---|---|---|---|---|"]
        for element, case in out["matcalc"].items():
            for row in case["table"]:
                m, j = row.get("matcalc_matched"), row.get("janus_matched")
                lines.append(f"| {element} | {row['label']} | {row['unit']} | {fmt(row['ridgeline'], 6)} | {fmt(m, 6)} | "
                             f"{pct(row.get('matcalc_matched_rel'))} | {fmt(j, 6)} | {pct(row.get('janus_matched_rel'))} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:+.3f}%"


# ----------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elements", nargs="+", default=["Si", "Mo"])
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per element (mlearn_vs_mace.py's)")
    parser.add_argument("--parts", default="validate,peers,matcalc")
    parser.add_argument("--worker", nargs=2, metavar=("JOB", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    require_data()
    parts = set(args.parts.split(","))

    from ridgeline.simulate.calculator import Calculator
    from ridgeline.validate import validate

    t0 = time.perf_counter()
    out = {"machine": machine(), "workflows": list(WORKFLOWS), "elements": {}}
    for element in args.elements:
        frames = frames_of(element)
        ref = dft.reference(frames)
        table = write_table(element, ref)
        e = {"reference": reference_summary(ref), "table": json.loads(json.dumps(dft.reference_table(element, ref)))}
        if parts & {"validate", "matcalc"}:
            model, info = calibrated_model(element, args.minutes)
            e["model"] = {"path": str(model), **info}
        if "validate" in parts:
            start = time.perf_counter()
            report = validate(model, structures=[element], reference=table, workflows=list(WORKFLOWS),
                              output_dir=OUT / f"validation_{element}")
            e["validation"] = report.to_dict()
            e["validate_s"] = time.perf_counter() - start
            e["data"] = on_data(ref, frames, Calculator(model, dtype="float64", uncertainty=False))
            print(report.markdown())
        out["elements"][element] = e
    if "peers" in parts:
        out["peers"] = peers(args.elements)
    if "matcalc" in parts:
        from properties_vs_matcalc import peer_python, run_case, table as matcalc_table

        python, _ = peer_python()
        out["matcalc"] = {}
        for element in args.elements:
            case = run_case(f"ridgeline moment model, {element}", element,
                            {"kind": "ridgeline", "path": out["elements"][element]["model"]["path"]}, python)
            case["table"] = matcalc_table(case)
            out["matcalc"][element] = case
    if "validate" in parts:
        for element, e in out["elements"].items():
            e["rows"] = element_rows(element, out)
            e["errors"] = error_summary(e["rows"])
    out["total_s"] = time.perf_counter() - t0
    write_results("properties_mlearn", out, markdown(out))


if __name__ == "__main__":
    main()

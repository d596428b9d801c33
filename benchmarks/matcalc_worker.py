"""The peers' side of ``properties_vs_matcalc.py``, run in the peers' environment
(benchmarks/cache/venv-peers: matcalc, janus-core where it installed, ridgeline):

    python matcalc_worker.py JOB.json OUT.json

JOB.json names the calculator (``{"kind": "emt"}`` or ``{"kind": "ridgeline", "path": MODEL}``,
evaluated in float64), the relaxed structure (symbols, cell, scaled positions), and the runs:
``{"code": "matcalc" | "janus", "variant": a label, "property": "eos" | "elastic" | "phonons",
"settings": {...}}``, the settings being the keyword arguments of matcalc's ``EOSCalc``,
``ElasticityCalc``, ``PhononCalc`` or janus-core's ``EoS``, ``Elasticity``, ``Phonons``.
OUT.json gets, per run, the headline numbers in ridgeline's units, the wall time (the codes are
imported before any clock starts) and the settings as given. A run that raises is recorded with
its error, not fatal.

Every number is the code's own but these, derived from its own results the way that code does
not report them itself: matcalc's V0 (pymatgen's Birch-Murnaghan fit of matcalc's own E(V)
points, the fit matcalc makes for B0); C11, C12, C44 (read from the stiffness); the phonons'
maximum frequency (the most over the code's own mesh and ASE's standard band path of the
primitive cell, evaluated with the code's force constants), and the thermal properties per atom.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np
from ase import Atoms, units
from ase.cell import Cell

EV_PER_KJ_MOL = units.kJ / units.mol
EV_PER_J_MOL = units.J / units.mol
ROOM = 300.0


def calculator(spec: dict):
    if spec["kind"] == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from ridgeline.simulate.calculator import Calculator

    return Calculator(spec["path"], dtype="float64", uncertainty=False)


def structure(spec: dict, calc) -> Atoms:
    atoms = Atoms(spec["symbols"], cell=spec["cell"], scaled_positions=spec["scaled_positions"], pbc=True)
    atoms.calc = calc
    return atoms


def cubic_constants(c: np.ndarray) -> dict:
    """C11, C12, C44 averaged over the three cubic-equivalent entries (GPa)."""
    return {"C11": float(np.mean(np.diag(c)[:3])), "C12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
            "C44": float(np.mean(np.diag(c)[3:]))}


def path_and_mesh_max(phonon) -> float:
    """The highest frequency over the phonopy object's last mesh and ASE's standard band path."""
    mesh_max = float(np.max(phonon.mesh.frequencies))
    path = Cell(np.array(phonon.primitive.cell)).bandpath(npoints=200)
    phonon.run_qpoints(np.array(path.kpts))
    return max(mesh_max, float(np.max(phonon.qpoints.frequencies)))


def thermal_at(temperatures, free_energy, entropy, heat_capacity, n_primitive: int) -> dict:
    k = int(np.argmin(np.abs(np.asarray(temperatures) - ROOM)))
    return {"free_energy_300K": float(free_energy[k]) * EV_PER_KJ_MOL / n_primitive,
            "entropy_300K": float(entropy[k]) * 1000 * EV_PER_J_MOL / n_primitive,
            "heat_capacity_300K": float(heat_capacity[k]) * 1000 * EV_PER_J_MOL / n_primitive}


# ---------------------------------------------------------------------------------------- matcalc
def matcalc_eos(atoms, calc, settings: dict) -> dict:
    from matcalc import EOSCalc
    from pymatgen.analysis.eos import BirchMurnaghan

    result = EOSCalc(calc, **settings).calc(atoms)
    n = len(atoms)
    fit = BirchMurnaghan(result["eos"]["volumes"], result["eos"]["energies"])
    fit.fit()
    return {"bulk_modulus": float(result["bulk_modulus_bm"]), "equilibrium_volume": float(fit.v0) / n,
            "r2": float(result["r2_score_bm"]),
            "n_points": len(result["eos"]["volumes"])}


def matcalc_elastic(atoms, calc, settings: dict) -> dict:
    from matcalc import ElasticityCalc

    result = ElasticityCalc(calc, units_GPa=True, **settings).calc(atoms)
    c = np.asarray(result["elastic_tensor"].voigt)
    return {**cubic_constants(c), "bulk_modulus_vrh": float(result["bulk_modulus_vrh"]),
            "shear_modulus_vrh": float(result["shear_modulus_vrh"]), "r2": float(result["r2_score_mean"]),
            "stiffness": c.tolist()}


def matcalc_phonons(atoms, calc, settings: dict) -> dict:
    from matcalc import PhononCalc

    result = PhononCalc(calc, write_phonon=False, **settings).calc(atoms)
    phonon = result["phonon"]
    t = result["thermal_properties"]
    n = len(phonon.primitive)
    out = thermal_at(t["temperatures"], t["free_energy"], t["entropy"], t["heat_capacity"], n)
    return {"max_frequency": path_and_mesh_max(phonon), "mesh": [int(m) for m in phonon.mesh.mesh_numbers],
            "supercell_atoms": len(phonon.supercell), "n_displacements": len(result["disp_supercells"]), **out}


# ------------------------------------------------------------------------------------- janus-core
def janus_eos(atoms, calc, settings: dict) -> dict:
    from janus_core.calculations.eos import EoS

    result = EoS(atoms, write_results=False, **settings).run()
    n = len(atoms)
    v0 = float(result["v_0"]) / n
    return {"bulk_modulus": float(result["bulk_modulus"]), "equilibrium_volume": v0}


def janus_elastic(atoms, calc, settings: dict) -> dict:
    from janus_core.calculations.elasticity import Elasticity

    tensor = Elasticity(atoms, write_results=False, **settings).run()
    c = np.asarray(tensor.voigt)
    return {**cubic_constants(c), "bulk_modulus_vrh": float(tensor.k_vrh), "shear_modulus_vrh": float(tensor.g_vrh),
            "stiffness": c.tolist()}


def janus_phonons(atoms, calc, settings: dict) -> dict:
    from janus_core.calculations.phonons import Phonons

    job = Phonons(atoms, write_results=False, hdf5=False, **settings)
    job.calc_force_constants(write_force_consts=False)
    job.calc_thermal_props(write_thermal=False)
    phonon = job.results["phonon"]
    t = job.results["thermal_properties"]
    n = len(phonon.primitive)
    out = thermal_at(t["temperatures"], t["free_energy"], t["entropy"], t["heat_capacity"], n)
    return {"max_frequency": path_and_mesh_max(phonon), "mesh": [int(m) for m in phonon.mesh.mesh_numbers],
            "supercell_atoms": len(phonon.supercell), "n_displacements": len(phonon.supercells_with_displacements),
            **out}


CODES = {"matcalc": {"eos": matcalc_eos, "elastic": matcalc_elastic, "phonons": matcalc_phonons},
         "janus": {"eos": janus_eos, "elastic": janus_elastic, "phonons": janus_phonons}}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("matcalc", "janus-core", "pymatgen", "phonopy", "ase", "torch", "ridgeline"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def main() -> None:
    job = json.loads(open(sys.argv[1]).read())
    calc = calculator(job["calculator"])
    start = time.perf_counter()
    import matcalc  # noqa: F401

    try:
        import janus_core.calculations.elasticity  # noqa: F401
        import janus_core.calculations.eos  # noqa: F401
        import janus_core.calculations.phonons  # noqa: F401
    except ImportError:
        pass  # janus-core did not install: its runs record the ImportError
    out = {"versions": versions(), "import_s": time.perf_counter() - start}
    with tempfile.TemporaryDirectory(prefix="matcalc_worker_") as workdir:
        os.chdir(workdir)  # janus-core and phonopy write files into the working directory
        out["runs"] = [one_run(run, job["structure"], calc) for run in job["runs"]]
        os.chdir(os.path.dirname(os.path.abspath(sys.argv[2])))
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, indent=1)


def one_run(run: dict, spec: dict, calc) -> dict:
    atoms = structure(spec, calc)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = CODES[run["code"]][run["property"]](atoms, calc, dict(run["settings"]))
        row = {"values": values, "warnings": sorted({str(w.message)[:300] for w in caught
                                                     if not issubclass(w.category, DeprecationWarning)})}
    except Exception as err:  # a peer's failure is a result to report
        row = {"error": f"{type(err).__name__}: {err}"[:1000], "traceback": traceback.format_exc()[-3000:]}
    row = {**run, **row, "wall_s": time.perf_counter() - start}
    print(f"  {run['code']} ({run['variant']}) {run['property']}: {row['wall_s']:.1f} s"
          f"{'  ERROR ' + row['error'][:200] if 'error' in row else ''}", file=sys.stderr, flush=True)
    return row


if __name__ == "__main__":
    main()

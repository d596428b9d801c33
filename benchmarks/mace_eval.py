"""Test errors of a MACE model on an extxyz file with REF_ labels (run in the MACE environment):

    python mace_eval.py MODEL DATA.xyz

prints one JSON line with energy_mae (meV/atom), forces_mae (eV/Å), n_frames and per_config_type,
computed exactly as ridgeline's reports compute them.
"""

import json
import sys

import numpy as np
from ase.io import read


def errors(e_err, f_err) -> dict:
    return {"energy_mae": float(np.mean(np.abs(e_err))), "energy_rmse": float(np.sqrt(np.mean(np.square(e_err)))),
            "forces_mae": float(np.mean(np.abs(f_err))), "forces_rmse": float(np.sqrt(np.mean(np.square(f_err)))),
            "n_frames": len(e_err)}


def main():
    from mace.calculators import MACECalculator

    calc = MACECalculator(model_paths=sys.argv[1], device="cpu", default_dtype="float32")
    frames = read(sys.argv[2], ":")
    e_err, f_err, types = [], [], []
    for atoms in frames:
        ref_e, ref_f = atoms.info["REF_energy"], atoms.arrays["REF_forces"]
        atoms.calc = calc
        e_err.append(1000.0 * (atoms.get_potential_energy() - ref_e) / len(atoms))
        f_err.append(atoms.get_forces() - ref_f)
        types.append(atoms.info.get("config_type", "Default"))
    result = errors(np.array(e_err), np.concatenate(f_err))
    result["per_config_type"] = {
        ct: errors(np.array([e for e, t in zip(e_err, types) if t == ct]), np.concatenate([f for f, t in zip(f_err, types) if t == ct]))
        for ct in sorted(set(types))
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

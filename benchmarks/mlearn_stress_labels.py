"""The shear order of the shared mlearn files' stress labels, checked against ridgeline models
trained without stress (their stresses are exact strain derivatives of energies fitted to the
energies and forces alone), per element and config_type, on the training files:

    python benchmarks/mlearn_stress_labels.py [--elements Si Mo]

Trains (or reuses from the cache) the default model with ``training.stress_weight=0`` on the
shared files as they are, then runs ``ridgeline eval --check-stress``'s check on them. The
benchmarks' correction (``common.SHEAR_SWAPPED``: yz and xz swapped in every config_type but Si's
Elastic one) comes from this table. Writes results/mlearn_stress_labels.{json,md}.
"""

from __future__ import annotations

import argparse
import json

from common import CACHE, DATA, RESULTS, SHEAR_SWAPPED, require_data


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elements", nargs="+", default=["Si", "Mo"])
    args = parser.parse_args()
    require_data()
    import torch

    from ridgeline.data import read_frames
    from ridgeline.files import atomic_write_bytes
    from ridgeline.models.io import load_model
    from ridgeline.names import CHECKPOINT_FILE, MODEL_FILE
    from ridgeline.training.metrics import predict
    from ridgeline.training.stress_labels import check_stress_labels, stress_check_table

    torch.set_num_threads(1)
    results, lines = {}, ["# Shear order of the mlearn stress labels, against models trained without stress\n"]
    for element in args.elements:
        model_path = CACHE / "stress_labels" / element / MODEL_FILE
        if not model_path.exists():  # the default model, no stress in the loss, on the shared file as it is
            from ridgeline.training.config import load_config
            from ridgeline.training.trainer import Trainer

            config = load_config(base={"train_file": str(DATA / f"{element}_train.xyz"), "output_dir": str(model_path.parent),
                                       "model": {"name": "moment", "preset": "medium"}, "training": {"stress_weight": 0.0}})
            Trainer(config, progress=True).run(resume=(model_path.parent / CHECKPOINT_FILE).exists())
        model, _ = load_model(model_path)
        frames = read_frames(DATA / f"{element}_train.xyz", require=("energy", "forces"))
        check = check_stress_labels(predict(model, frames, stress=True))
        for config_type, c in check.items():
            c["corrected_by_benchmarks"] = bool(SHEAR_SWAPPED[element](config_type))
        results[element] = check
        lines += [f"## {element} (training file; model {model_path.relative_to(CACHE.parent)}, trained without stress)\n",
                  stress_check_table(check), "",
                  "corrected by the benchmarks (yz <-> xz): " + ", ".join(ct for ct, c in check.items() if c["corrected_by_benchmarks"]), ""]
        print("\n".join(lines[-5:]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(RESULTS / "mlearn_stress_labels.json", json.dumps(results, indent=2).encode())
    atomic_write_bytes(RESULTS / "mlearn_stress_labels.md", "\n".join(lines).encode())


if __name__ == "__main__":
    main()

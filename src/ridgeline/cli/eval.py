"""``ridgeline eval MODEL DATA [--json]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .data_args import add_key_arguments, read_labelled


def add_arguments(p) -> None:
    p.add_argument("model", help="a model file (model.safetensors) written by 'ridgeline train'")
    p.add_argument("data", help="labelled structures: extxyz, ASE database, or a converted dataset directory")
    p.add_argument("--json", action="store_true", help="print one JSON object (energy_mae, energy_rmse in meV/atom; forces_mae, forces_rmse in eV/Å; n_frames; the same per config_type)")
    add_key_arguments(p)
    p.add_argument("--batch-size", type=int, default=8, help="structures per batch (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    p.add_argument("--dtype", default=None, choices=["float32", "float64"], help="default: the model's own")
    p.add_argument("--plot", metavar="PNG", help="also write a parity plot here")
    p.add_argument("--check-stress", action="store_true",
                   help="also check the file's stress labels against the model's stresses, per config_type: whether the shear "
                        "components fit the model better in another order than ASE's Voigt order (xx yy zz yz xz xy), and "
                        "the isotropic offset (a Pulay stress). Use a model trained without stress")


def run(args) -> int:
    from ..models.io import load_model
    from ..training.metrics import compute_metrics, predict
    from ..training.report import metrics_table, parity_plot
    from ..training.stress_labels import check_stress_labels, stress_check_table, stress_label_warnings

    model, _ = load_model(args.model, device=args.device, dtype=args.dtype)
    frames = read_labelled(args.data, args, model.elements)
    p = predict(model, frames, batch_size=args.batch_size, device=args.device)
    metrics = compute_metrics(p)
    check = check_stress_labels(p) if args.check_stress else None
    if check is not None:
        metrics["stress_labels"] = check
    if args.plot:
        parity_plot(p, args.plot, title=Path(args.data).name)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(metrics_table(metrics, Path(args.data).name))
        if check is not None:
            print("\nstress labels against the model's stresses:\n" + (stress_check_table(check) if check else "no frame carries a stress"))
    if check:
        for line in stress_label_warnings(check, args.data):
            print(f"warning: {line}", file=sys.stderr)
    return 0

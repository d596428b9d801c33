"""``ridgeline eval MODEL DATA [--json]``."""

from __future__ import annotations

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


def run(args) -> int:
    import json
    from pathlib import Path

    from ..models.io import load_model
    from ..training.metrics import compute_metrics, predict
    from ..training.report import metrics_table, parity_plot

    model, _ = load_model(args.model, device=args.device, dtype=args.dtype)
    frames = read_labelled(args.data, args, model.elements)
    p = predict(model, frames, batch_size=args.batch_size, device=args.device)
    metrics = compute_metrics(p)
    if args.plot:
        parity_plot(p, args.plot, title=Path(args.data).name)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(metrics_table(metrics, Path(args.data).name))
    return 0

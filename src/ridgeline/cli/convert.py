"""``ridgeline convert DATA OUT_DIR``: stream a data file into memory-mapped arrays once, so that
datasets larger than memory train with bounded memory (give OUT_DIR as train_file)."""

from __future__ import annotations

from .data_args import add_key_arguments, key_map


def add_arguments(p) -> None:
    p.add_argument("data", help="extxyz file or ASE database")
    p.add_argument("out_dir", help="directory to create (written atomically)")
    add_key_arguments(p)
    p.add_argument("--min-distance", type=float, default=0.5, help="closer atoms are an error, Å (default: %(default)s)")


def run(args) -> int:
    from ..data import iter_frames, write_disk_dataset

    frames = iter_frames(args.data, key_map(args), require=("energy",), min_distance=args.min_distance)
    path = write_disk_dataset(frames, args.out_dir)
    print(path)
    return 0

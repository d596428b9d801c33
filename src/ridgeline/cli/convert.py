"""``ridgeline convert DATA OUT_DIR``: stream a data file into memory-mapped arrays once, so that
datasets larger than memory train with bounded memory (give OUT_DIR as train_file)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("data", help="extxyz file or ASE database")
    p.add_argument("out_dir", help="directory to create (written atomically)")
    p.add_argument("--energy-key", default="REF_energy", help="default: %(default)s")
    p.add_argument("--forces-key", default="REF_forces", help="default: %(default)s")
    p.add_argument("--stress-key", default="REF_stress", help="default: %(default)s")
    p.add_argument("--config-type-key", default="config_type", help="default: %(default)s")
    p.add_argument("--min-distance", type=float, default=0.5, help="closer atoms are an error, Å (default: %(default)s)")


def run(args) -> int:
    from ..data import KeyMap, iter_frames, write_disk_dataset

    key_map = KeyMap(energy=args.energy_key, forces=args.forces_key, stress=args.stress_key, config_type=args.config_type_key)
    frames = iter_frames(args.data, key_map, require=("energy",), min_distance=args.min_distance)
    path = write_disk_dataset(frames, args.out_dir)
    print(path)
    return 0

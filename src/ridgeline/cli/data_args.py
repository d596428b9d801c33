"""Options and reading shared by the commands that take labelled data files."""

from __future__ import annotations

from pathlib import Path


def add_key_arguments(p) -> None:
    p.add_argument("--energy-key", default="REF_energy", help="energy key in the data (default: %(default)s)")
    p.add_argument("--forces-key", default="REF_forces", help="forces key in the data (default: %(default)s)")
    p.add_argument("--stress-key", default="REF_stress", help="stress key in the data (default: %(default)s)")
    p.add_argument("--config-type-key", default="config_type", help="key grouping frames in the report (default: %(default)s)")


def read_labelled(path, args, elements):
    """Frames with energies and forces from a data file or a converted dataset directory."""
    from ..data import DiskFrames, KeyMap, read_frames

    if Path(path).is_dir():
        return DiskFrames(path).check(("energy", "forces"), elements)
    key_map = KeyMap(energy=args.energy_key, forces=args.forces_key, stress=args.stress_key, config_type=args.config_type_key)
    return read_frames(path, key_map, require=("energy", "forces"), elements=elements)

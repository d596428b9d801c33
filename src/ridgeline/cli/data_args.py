"""Options and reading shared by the commands that take labelled data files."""

from __future__ import annotations

from ..names import CONFIG_TYPE_KEY, ENERGY_KEY, FORCES_KEY, STRESS_KEY


def add_key_arguments(p) -> None:
    p.add_argument("--energy-key", default=ENERGY_KEY, help="energy key in the data (default: %(default)s)")
    p.add_argument("--forces-key", default=FORCES_KEY, help="forces key in the data (default: %(default)s)")
    p.add_argument("--stress-key", default=STRESS_KEY, help="stress key in the data (default: %(default)s)")
    p.add_argument("--config-type-key", default=CONFIG_TYPE_KEY, help="key grouping the frames (config_type) (default: %(default)s)")


def key_map(args):
    """The ``KeyMap`` of the ``--*-key`` options."""
    from ..data import KeyMap

    return KeyMap(energy=args.energy_key, forces=args.forces_key, stress=args.stress_key, config_type=args.config_type_key)


def read_labelled(path, args, elements):
    """Frames with energies and forces from a data file or a converted dataset directory."""
    from ..data import load_frames

    return load_frames(path, key_map(args), require=("energy", "forces"), elements=elements)

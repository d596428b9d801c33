"""Reference data: reading, validation, graphs, datasets and batches."""

from .dataset import DiskFrames, FrameSubset, GraphDataset, count_labelled, frame_config_types, frame_strata, make_loader, split_frames, write_disk_dataset
from .frame import Frame
from .graph import collate, frame_to_graph
from .neighbors import neighbor_list
from .readers import KeyMap, iter_frames, load_frames, read_frames
from .validation import validate_frame

__all__ = [
    "Frame",
    "KeyMap",
    "read_frames",
    "iter_frames",
    "load_frames",
    "validate_frame",
    "GraphDataset",
    "DiskFrames",
    "FrameSubset",
    "count_labelled",
    "write_disk_dataset",
    "make_loader",
    "split_frames",
    "frame_config_types",
    "frame_strata",
    "frame_to_graph",
    "collate",
    "neighbor_list",
]

from .writers import frames_to_atoms, write_frames  # noqa: E402

__all__ += ["frames_to_atoms", "write_frames"]

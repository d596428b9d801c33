"""Datasets of frames (in memory or memory-mapped from disk), graph datasets and deterministic loaders.

The disk format is a directory of ``.npy`` arrays: per-atom arrays are concatenated over frames and
indexed by ``offsets``; per-frame arrays have one row per frame; ``meta.json`` says what is there.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ase.data import chemical_symbols

from ..errors import ConfigError, DataError
from ..names import SPLITS
from .frame import Frame
from .graph import collate, frame_to_graph

FORMAT = "ridgeline-disk-frames"
FORMAT_VERSION = 1
META = "meta.json"

# name -> (dtype, shape of one row); per-atom arrays have total_N rows, per-frame arrays F rows
ATOM_ARRAYS = {"positions": ("float64", (3,)), "numbers": ("int64", ()), "forces": ("float64", (3,))}
FRAME_ARRAYS = {
    "cells": ("float64", (3, 3)),
    "pbc": ("bool", (3,)),
    "energies": ("float64", ()),
    "has_energy": ("bool", ()),
    "has_forces": ("bool", ()),
    "stresses": ("float64", (3, 3)),
    "has_stress": ("bool", ()),
    "config_type": ("int64", ()),
}
_COPY_BYTES = 64 << 20  # bounded memory when turning raw appends into .npy


class _Column:
    """An array grown by appending raw bytes to a file, turned into a ``.npy`` at the end."""

    def __init__(self, folder: Path, name: str, dtype: str, tail: tuple):
        self.folder, self.name, self.dtype, self.tail = folder, name, np.dtype(dtype), tail
        self.raw = folder / f"{name}.raw"
        self.file = open(self.raw, "wb")
        self.rows = 0

    def append(self, a) -> None:
        a = np.ascontiguousarray(a, dtype=self.dtype).reshape(-1, *self.tail)
        self.file.write(a.tobytes())
        self.rows += len(a)

    def finish(self) -> None:
        self.file.close()
        shape = (self.rows, *self.tail)
        out = np.lib.format.open_memmap(self.folder / f"{self.name}.npy", mode="w+", dtype=self.dtype, shape=shape)
        raw = np.memmap(self.raw, dtype=self.dtype, mode="r", shape=shape)
        step = max(1, _COPY_BYTES // max(1, raw[:1].nbytes))
        for a in range(0, self.rows, step):
            out[a : a + step] = raw[a : a + step]
        out.flush()
        del out, raw
        self.raw.unlink()


def write_disk_dataset(frames_iterable, out_dir, source: str | None = None, overwrite: bool = False) -> Path:
    """Stream frames into a disk dataset at ``out_dir``; one frame in memory at a time.

    The data is written into a temporary sibling directory and renamed into place at the end, so a
    conversion that fails or is killed leaves no half-written dataset. ``source`` (for the record)
    defaults to the files named in the frames' ``source``. Returns ``out_dir`` as a Path.
    """
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise DataError(f"{out}: already exists; remove it or pass overwrite=True")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        columns = {n: _Column(tmp, n, d, t) for n, (d, t) in {**ATOM_ARRAYS, **FRAME_ARRAYS}.items()}
        columns["offsets"] = _Column(tmp, "offsets", "int64", ())
        columns["offsets"].append([0])
        config_types: dict[str, int] = {}
        sources: dict[str, None] = {}  # ordered set of the files the frames came from
        n_atoms = 0
        for k, f in enumerate(frames_iterable):
            n = len(f)
            if n == 0 or np.shape(f.positions) != (n, 3):
                raise DataError(f"{f.source or f'frame {k}'}: cannot write a frame with positions of shape {np.shape(f.positions)}")
            n_atoms += n
            c = columns
            c["positions"].append(f.positions)
            c["numbers"].append(f.numbers)
            c["forces"].append(np.zeros((n, 3)) if f.forces is None else f.forces)
            c["has_forces"].append([f.forces is not None])
            c["cells"].append(f.cell)
            c["pbc"].append(f.pbc)
            c["energies"].append([np.nan if f.energy is None else f.energy])
            c["has_energy"].append([f.energy is not None])
            c["stresses"].append(np.zeros((3, 3)) if f.stress is None else f.stress)
            c["has_stress"].append([f.stress is not None])
            c["config_type"].append([config_types.setdefault(f.config_type, len(config_types))])
            c["offsets"].append([n_atoms])
            if f.source and len(sources) < 1000:
                sources[f.source.rsplit(":", 1)[0]] = None
        n_frames = columns["offsets"].rows - 1
        if n_frames == 0:
            raise DataError(f"{out}: no frames to write")
        for col in columns.values():
            col.finish()
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "n_frames": n_frames,
            "n_atoms": n_atoms,
            "config_types": list(config_types),
            "source": source if source is not None else ", ".join(sources),
            "arrays": {n: {"dtype": d, "row_shape": list(t)} for n, (d, t) in {**ATOM_ARRAYS, **FRAME_ARRAYS}.items()},
        }
        (tmp / META).write_text(json.dumps(meta, indent=1))
        if out.exists():  # overwrite: move the old one aside first so there is never a half dataset
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        for col in locals().get("columns", {}).values():
            col.file.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


LABEL_FLAGS = {"energy": "has_energy", "forces": "has_forces", "stress": "has_stress"}  # label -> its stored flag


class DiskFrames(Sequence):
    """A disk dataset as a read-only sequence of ``Frame``s, memory-mapped; an item copies only its slices."""

    def __init__(self, path):
        self.path = Path(path)
        self._open()

    def _open(self) -> None:
        p = self.path
        if not p.is_dir():
            raise DataError(f"{p}: no such disk dataset directory")
        try:
            meta = json.loads((p / META).read_text())
        except FileNotFoundError:
            raise DataError(f"{p}: not a disk dataset ({META} missing)") from None
        except (OSError, ValueError) as e:
            raise DataError(f"{p}: corrupt {META}: {e}") from None
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise DataError(
                f"{p}: unsupported dataset format {meta.get('format')!r} version {meta.get('format_version')!r}; "
                f"this ridgeline reads {FORMAT!r} version {FORMAT_VERSION}; convert the data again"
            )
        self.meta = meta
        try:
            n_frames, n_atoms = int(meta["n_frames"]), int(meta["n_atoms"])
            self.config_types = list(meta["config_types"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{p}: corrupt {META}: {e!r}") from None
        expected = {n: ((n_atoms, *t), d) for n, (d, t) in ATOM_ARRAYS.items()}
        expected |= {n: ((n_frames, *t), d) for n, (d, t) in FRAME_ARRAYS.items()}
        expected["offsets"] = ((n_frames + 1,), "int64")
        self._a = {}
        for name, (shape, dtype) in expected.items():
            try:
                a = np.load(p / f"{name}.npy", mmap_mode="r")
            except (OSError, ValueError) as e:
                raise DataError(f"{p}: missing or corrupt array {name}.npy: {e}") from None
            if a.shape != shape or a.dtype != np.dtype(dtype):
                raise DataError(f"{p}: corrupt array {name}.npy: {a.dtype}{a.shape}, expected {dtype}{shape}")
            self._a[name] = a
        off = np.asarray(self._a["offsets"])
        if off[0] != 0 or off[-1] != n_atoms or (np.diff(off) <= 0).any():
            raise DataError(f"{p}: corrupt offsets.npy (not increasing from 0 to {n_atoms})")
        ct = np.asarray(self._a["config_type"])
        if len(ct) and (ct.min() < 0 or ct.max() >= len(self.config_types)):
            raise DataError(f"{p}: corrupt config_type.npy (index outside the {len(self.config_types)} names)")
        self._offsets = off

    def check(self, require=(), elements=None) -> "DiskFrames":
        """Raise a DataError naming the first frame that lacks a required label, or the elements
        outside ``elements`` (atomic numbers): the checks the readers make, on the stored arrays."""
        for q in require:
            missing = np.flatnonzero(~np.asarray(self._a[LABEL_FLAGS[q]]))
            if len(missing):
                raise DataError(f"{self.path} frame {missing[0]}: no {q} ({len(missing)} of {len(self)} frames lack it)")
        if elements is not None:
            unknown = sorted(set(np.unique(self._a["numbers"]).tolist()) - {int(z) for z in elements})
            if unknown:
                known = ", ".join(chemical_symbols[int(z)] for z in elements)
                raise DataError(f"{self.path}: element(s) {', '.join(chemical_symbols[z] for z in unknown)} not known to the model ({known})")
        return self

    def __getstate__(self):  # pickle the path, not the mapped arrays
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._open()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def sizes(self) -> np.ndarray:
        """Number of atoms of each frame."""
        return np.diff(self._offsets)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        k = int(k)
        if k < 0:
            k += len(self)
        if not 0 <= k < len(self):
            raise IndexError(f"frame {k} out of range for {len(self)} frames")
        a, b = int(self._offsets[k]), int(self._offsets[k + 1])
        A = self._a
        return Frame(
            numbers=np.array(A["numbers"][a:b]),
            positions=np.array(A["positions"][a:b]),
            cell=np.array(A["cells"][k]),
            pbc=np.array(A["pbc"][k]),
            energy=float(A["energies"][k]) if A["has_energy"][k] else None,
            forces=np.array(A["forces"][a:b]) if A["has_forces"][k] else None,
            stress=np.array(A["stresses"][k]) if A["has_stress"][k] else None,
            config_type=self.config_types[int(A["config_type"][k])],
            source=f"{self.path}:{k}",
        )


class FrameSubset(Sequence):
    """A view of some frames of a sequence (a split), copying nothing: on-disk frames stay on disk."""

    def __init__(self, frames, indices):
        self.base = frames
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self.base[i] for i in self.indices[k]]
        return self.base[self.indices[k]]


def count_labelled(frames, quantity: str) -> int:
    """How many frames carry ``quantity`` ("energy", "forces" or "stress"); on-disk frames are
    counted from their stored flags, without loading the frames."""
    flag = LABEL_FLAGS[quantity]
    if isinstance(frames, DiskFrames):
        return int(np.asarray(frames._a[flag]).sum())
    if isinstance(frames, FrameSubset) and isinstance(frames.base, DiskFrames):
        return int(np.asarray(frames.base._a[flag])[frames.indices].sum())
    return sum(getattr(f, quantity) is not None for f in frames)


def _on_disk(frames) -> bool:
    return isinstance(frames, DiskFrames) or isinstance(getattr(frames, "base", None), DiskFrames)


class GraphDataset(torch.utils.data.Dataset):
    """Frames -> graphs for a cutoff. ``indices`` selects a subset (e.g. a train split) without copying;
    ``frame_index`` in each graph is then the index in ``frames``. Graphs are cached in memory when
    ``cache`` (default: yes for in-memory frames, no for ``DiskFrames``)."""

    def __init__(self, frames, cutoff: float, cache: bool | None = None, indices=None, backend: str = "vesin"):
        self.frames = frames
        self.cutoff = float(cutoff)
        self.indices = None if indices is None else [int(i) for i in indices]
        self.backend = backend
        self.cache = (not _on_disk(frames)) if cache is None else bool(cache)
        self._graphs: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.frames) if self.indices is None else len(self.indices)

    def __getitem__(self, k: int) -> dict:
        i = int(k) if self.indices is None else self.indices[k]
        g = self._graphs.get(i)
        if g is None:
            g = frame_to_graph(self.frames[i], self.cutoff, frame_index=i, backend=self.backend)
            if self.cache:
                self._graphs[i] = g
        return g


def _collate(graphs, dtype):
    return collate(graphs, dtype) if graphs else None


class _ShardedBatches(torch.utils.data.Sampler):
    """Each batch's share for one process of a data-parallel run: items rank, rank + world, ..."""

    def __init__(self, batches, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world

    def __iter__(self):
        for batch in self.batches:
            yield list(batch)[self.rank :: self.world]

    def __len__(self) -> int:
        return len(self.batches)


def make_loader(dataset, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0, dtype=torch.float64, shard=(0, 1)):
    """Batches of ``dataset``; with ``shuffle`` the order is a function of ``(seed, epoch)`` only.

    ``shard=(rank, world)`` gives one process of a data-parallel run its share of every batch (the
    same global batches on every process; ``None`` where its share is empty). Make a new loader
    for each epoch: iterating one loader twice draws a second, different order.
    """
    g = torch.Generator()
    g.manual_seed(int(seed) * 100003 + int(epoch))
    sampler = torch.utils.data.RandomSampler(dataset, generator=g) if shuffle else torch.utils.data.SequentialSampler(dataset)
    batches = torch.utils.data.BatchSampler(sampler, int(batch_size), drop_last=False)
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=_ShardedBatches(batches, *shard), num_workers=0,
        collate_fn=functools.partial(_collate, dtype=dtype),
    )


def split_frames(n: int, valid_fraction: float, seed: int, mode: str = "random", groups=None,
                 block_size: int = 10, strata=None) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split of ``range(n)`` into sorted ``(train_idx, valid_idx)``.

    ``mode="random"``: a random subset of frames. ``mode="block"``: for time series (MD snapshots),
    where a frame's neighbours in the file are nearly the same structure and a random split would
    leave them on both sides: within each group (``groups``: one label per frame, e.g. the
    config_type; None = one group) the frames, in file order, are cut into blocks of
    ``block_size`` consecutive frames and whole blocks, chosen by ``seed``, are held out until the
    group's share reaches ``valid_fraction`` (the last block chosen is cut short to hit it, so
    each held-out run is still contiguous). Each group is held out in proportion.
    ``mode="stratified"``: a validation set that spans the data, for calibration and model
    selection from few frames: within each group the frames are ordered by ``strata`` (one number
    per frame, e.g. its force RMS: ``frame_strata``), cut into as many runs of equal count as the
    group's share of validation frames, and one frame drawn by ``seed`` from each run. A small
    random split can miss a whole part of the data (an MD run at another temperature); this one
    cannot.

    A positive fraction gives at least one validation and one training frame (when ``n >= 2``).
    """
    if not 0.0 <= valid_fraction < 1.0:
        raise ConfigError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    if mode not in SPLITS:
        raise ConfigError(f"validation split must be one of {', '.join(SPLITS)}, got {mode!r}")
    rng = np.random.default_rng(seed)
    n_valid = int(round(n * valid_fraction))
    if valid_fraction > 0 and n >= 2:
        n_valid = min(max(n_valid, 1), n - 1)
    if mode == "random":
        perm = rng.permutation(n)
        return np.sort(perm[n_valid:]).astype(np.int64), np.sort(perm[:n_valid]).astype(np.int64)
    if mode == "block" and int(block_size) < 1:
        raise ConfigError(f"validation block size must be >= 1, got {block_size}")
    if mode == "stratified":
        strata = np.zeros(n) if strata is None else np.asarray(strata, dtype=float).ravel()
        if len(strata) != n or not np.all(np.isfinite(strata)):
            raise ConfigError(f"split_frames: stratified split needs one finite number per frame ({n}), got {len(strata)}")
    labels = np.zeros(n, dtype=np.int64) if groups is None else np.unique(np.asarray(list(groups), dtype=object).astype(str), return_inverse=True)[1]
    if len(labels) != n:
        raise ConfigError(f"split_frames: {len(labels)} group labels for {n} frames")
    members = [np.flatnonzero(labels == g) for g in range(int(labels.max()) + 1 if n else 0)]
    # each group's share, rounded so that the shares add up to n_valid (largest remainders first)
    exact = np.array([len(m) * n_valid / max(n, 1) for m in members])
    quota = np.floor(exact).astype(int)
    for g in np.argsort(-(exact - quota), kind="stable")[: n_valid - int(quota.sum())]:
        quota[g] += 1
    valid = []
    for m, q in zip(members, quota):
        if mode == "stratified":
            if q > 0:
                order = m[np.argsort(strata[m], kind="stable")]
                valid.extend(int(run[rng.integers(len(run))]) for run in np.array_split(order, q))
            continue
        blocks = [m[k:k + int(block_size)] for k in range(0, len(m), int(block_size))]
        for b in rng.permutation(len(blocks)):
            if q <= 0:
                break
            valid.extend(blocks[b][:q].tolist())
            q -= len(blocks[b][:q])
    valid = np.sort(np.asarray(valid, dtype=np.int64))
    return np.setdiff1d(np.arange(n), valid).astype(np.int64), valid


def frame_strata(frames) -> np.ndarray:
    """One number per frame for ``split_frames(mode="stratified")``: the RMS of its force
    components, or, for a frame without forces, its energy per atom (0 without either)."""
    out = np.zeros(len(frames))
    for k, f in enumerate(frames):
        if f.forces is not None and len(f.forces):
            out[k] = float(np.sqrt(np.mean(np.square(f.forces))))
        elif f.energy is not None and len(f):
            out[k] = float(f.energy) / len(f)
    return out


def frame_config_types(frames) -> list:
    """The config_type of each frame; read from the index of an on-disk dataset, not frame by frame."""
    base, idx = (frames.base, frames.indices) if isinstance(frames, FrameSubset) else (frames, None)
    if isinstance(base, DiskFrames):
        names = np.asarray(base.config_types, dtype=object)[np.asarray(base._a["config_type"])]
        return list(names if idx is None else names[idx])
    return [f.config_type for f in frames]

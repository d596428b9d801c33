import json

import ase.io
import numpy as np
import pytest
import torch
from ase.build import bulk, molecule

from ridgeline import keys
from ridgeline.data import (
    DiskFrames, Frame, FrameSubset, GraphDataset, KeyMap, collate, frame_config_types, frame_to_graph, iter_frames, load_frames,
    make_loader, split_frames, write_disk_dataset, write_frames,
)
from ridgeline.errors import ConfigError, DataError


def make_frames(n=7, seed=0):
    """Frames of different sizes, periodicity and label sets (some labels absent)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((1 + k % 3, 1, 1)) if k % 4 != 3 else molecule("H2O")
        a.positions += rng.normal(0, 0.03, a.positions.shape)
        n_at = len(a)
        out.append(Frame(
            numbers=a.numbers.astype(np.int64), positions=a.positions.copy(), cell=a.cell.array.copy(),
            pbc=a.pbc.copy(),
            energy=None if k == 2 else float(rng.normal()),
            forces=None if k == 4 else rng.normal(size=(n_at, 3)),
            stress=rng.normal(size=(3, 3)) if k % 2 == 0 and a.pbc.all() else None,
            config_type=["bulk", "rattled", "mol"][k % 3], source=f"made.xyz:{k}",
        ))
    return out


def assert_same(f, g):
    np.testing.assert_array_equal(f.numbers, g.numbers)
    assert f.numbers.dtype == g.numbers.dtype == np.int64
    np.testing.assert_array_equal(f.positions, g.positions)
    np.testing.assert_array_equal(f.cell, g.cell)
    np.testing.assert_array_equal(f.pbc, g.pbc)
    assert f.energy == g.energy  # exact, None == None included
    for a, b in ((f.forces, g.forces), (f.stress, g.stress)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert f.config_type == g.config_type


def test_disk_round_trip_exact(tmp_path):
    frames = make_frames()
    out = write_disk_dataset(iter(frames), tmp_path / "ds")
    disk = DiskFrames(out)
    assert len(disk) == len(frames)
    for f, g in zip(frames, disk):
        assert_same(f, g)
    assert_same(frames[-1], disk[-1])
    assert [len(f) for f in frames] == disk.sizes().tolist()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["n_frames"] == 7 and meta["n_atoms"] == sum(len(f) for f in frames)
    assert meta["config_types"] == ["bulk", "rattled", "mol"] and meta["source"] == "made.xyz"
    assert np.load(out / "positions.npy").shape == (meta["n_atoms"], 3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers
    with pytest.raises(IndexError):
        disk[7]


def test_streaming_from_extxyz_and_graphs_match(tmp_path):
    images = []
    for k in range(4):
        a = bulk("Cu", "fcc", a=3.6, cubic=True)
        a.positions += 0.02 * k
        a.info["REF_energy"] = -1.0 * k
        a.arrays["REF_forces"] = np.full((4, 3), 0.1 * k)
        images.append(a)
    ase.io.write(tmp_path / "in.xyz", images, format="extxyz")
    out = write_disk_dataset(iter_frames(tmp_path / "in.xyz"), tmp_path / "ds")
    mem, disk = GraphDataset(list(iter_frames(tmp_path / "in.xyz")), 3.0), GraphDataset(DiskFrames(out), 3.0)
    assert mem.cache and not disk.cache
    for k in range(4):
        a, b = mem[k], disk[k]
        for key in (keys.EDGE_INDEX, keys.EDGE_SHIFTS, keys.POSITIONS, keys.FORCES):
            np.testing.assert_array_equal(a[key], b[key])
        assert a[keys.FRAME_INDEX] == b[keys.FRAME_INDEX] == k
    assert mem[1] is mem[1]  # cached


def test_failed_conversion_leaves_nothing(tmp_path):
    frames = make_frames(3)

    def broken():
        yield frames[0]
        yield frames[1]
        raise DataError("in.xyz:2: boom")

    with pytest.raises(DataError, match="boom"):
        write_disk_dataset(broken(), tmp_path / "ds")
    assert list(tmp_path.iterdir()) == []
    write_disk_dataset(frames, tmp_path / "ds")
    with pytest.raises(DataError, match="already exists"):
        write_disk_dataset(frames, tmp_path / "ds")
    write_disk_dataset(frames[:1], tmp_path / "ds", overwrite=True)
    assert len(DiskFrames(tmp_path / "ds")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_disk_errors(tmp_path):
    with pytest.raises(DataError, match="no such disk dataset"):
        DiskFrames(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="meta.json missing"):
        DiskFrames(tmp_path / "empty")
    out = write_disk_dataset(make_frames(2), tmp_path / "ds")
    meta = json.loads((out / "meta.json").read_text())
    meta["format_version"] = 99
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="version 99"):
        DiskFrames(out)
    meta["format_version"] = 1
    (out / "meta.json").write_text(json.dumps(meta))
    np.save(out / "forces.npy", np.zeros((3, 3)))
    with pytest.raises(DataError, match="corrupt array forces.npy"):
        DiskFrames(out)
    (out / "positions.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="positions.npy"):
        DiskFrames(out)
    with pytest.raises(DataError, match="no frames"):
        write_disk_dataset([], tmp_path / "none")


def test_load_frames_reads_a_data_file_or_a_converted_dataset_alike(tmp_path):
    """One entry point for a path that may be either: the same frames, the same checks of
    required labels and elements, and a clear error for anything else."""
    frames = make_frames()
    write_frames(tmp_path / "in.xyz", frames, KeyMap(energy="E", forces="F", stress="S", config_type="kind"))
    key_map = {"energy": "E", "forces": "F", "stress": "S", "config_type": "kind"}
    from_file = load_frames(tmp_path / "in.xyz", key_map)
    from_disk = load_frames(write_disk_dataset(iter(from_file), tmp_path / "ds"), key_map)
    assert isinstance(from_file, list) and isinstance(from_disk, DiskFrames) and len(from_file) == len(from_disk) == 7
    for f, g, h in zip(frames, from_file, from_disk):
        assert_same(g, h)
        np.testing.assert_allclose(g.positions, f.positions, atol=1e-7)  # extxyz keeps 8 decimals
        assert (g.energy is None, g.forces is None, g.stress is None) == (f.energy is None, f.forces is None, f.stress is None)
    assert load_frames(tmp_path / "ds", elements=["Cu", "H", "O"]) is not None
    assert load_frames(str(tmp_path / "in.xyz"), KeyMap(**key_map), elements=[1, 8, 29])[0].config_type == "bulk"
    for path, where in ((tmp_path / "in.xyz", "in.xyz frame 2"), (tmp_path / "ds", "ds frame 2")):
        with pytest.raises(DataError, match=f"{where}.*energy"):
            load_frames(path, key_map, require=("energy",))
        with pytest.raises(DataError, match="H, O"):
            load_frames(path, key_map, elements=["Cu"])
        with pytest.raises(ConfigError, match="unknown required quantity 'charge'"):
            load_frames(path, key_map, require=("charge",))
        with pytest.raises(ConfigError, match="unknown key_map key"):
            load_frames(path, {"enrgy": "E"})
    with pytest.raises(DataError, match="missing.xyz: no such file"):
        load_frames(tmp_path / "missing.xyz")
    (tmp_path / "folder").mkdir()
    with pytest.raises(DataError, match="not a disk dataset"):
        load_frames(tmp_path / "folder")


def loader_order(ds, seed, epoch):
    return [int(i) for b in make_loader(ds, 3, shuffle=True, seed=seed, epoch=epoch) for i in b[keys.FRAME_INDEX]]


def test_loader_order_deterministic(tmp_path):
    ds = GraphDataset(make_frames(10), 3.0)
    o = loader_order(ds, 1, 0)
    assert sorted(o) == list(range(10))
    assert o == loader_order(ds, 1, 0)
    assert o != loader_order(ds, 1, 1)
    assert o != loader_order(ds, 2, 0)
    unshuffled = [int(i) for b in make_loader(ds, 4, shuffle=False) for i in b[keys.FRAME_INDEX]]
    assert unshuffled == list(range(10))
    batch = next(iter(make_loader(ds, 4, shuffle=False, dtype=torch.float32)))
    assert batch[keys.POSITIONS].dtype == torch.float32
    # a subset keeps the frames' own indices
    sub = GraphDataset(make_frames(10), 3.0, indices=[7, 2])
    assert [int(b[keys.FRAME_INDEX][0]) for b in make_loader(sub, 1, shuffle=False)] == [7, 2]


def test_collate_offsets_edges():
    frames = make_frames(3)
    g0, g1 = frame_to_graph(frames[0], 3.0, 0), frame_to_graph(frames[1], 3.0, 1)
    n0, n1 = len(frames[0]), len(frames[1])
    b = collate([g0, g1])
    e0 = g0[keys.EDGE_INDEX].shape[1]
    ei = b[keys.EDGE_INDEX]
    assert ei.shape[1] == e0 + g1[keys.EDGE_INDEX].shape[1]
    assert (ei[:, :e0] < n0).all()
    second = ei[:, e0:]
    assert ((second >= n0) & (second < n0 + n1)).all()
    assert (b[keys.BATCH][second] == 1).all()
    np.testing.assert_array_equal(second.numpy() - n0, g1[keys.EDGE_INDEX])
    # edge vectors rebuilt from the batch equal the ones of the lone graph
    cell = b[keys.CELL][b[keys.BATCH][ei[0]]]
    vec = b[keys.POSITIONS][ei[1]] - b[keys.POSITIONS][ei[0]] + torch.einsum("ek,ekl->el", b[keys.EDGE_SHIFTS], cell)
    p1 = frames[1].positions
    i1, j1 = g1[keys.EDGE_INDEX]
    np.testing.assert_allclose(vec[e0:].numpy(), p1[j1] - p1[i1] + g1[keys.EDGE_SHIFTS] @ frames[1].cell)
    assert b[keys.HAS_FORCES].tolist() == [True] * (n0 + n1)


def test_split_frames():
    tr, va = split_frames(20, 0.25, seed=3)
    assert len(va) == 5 and len(tr) == 15
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(20))
    t2, v2 = split_frames(20, 0.25, seed=3)
    assert tr.tolist() == t2.tolist() and va.tolist() == v2.tolist()
    assert split_frames(20, 0.25, seed=4)[1].tolist() != va.tolist()
    assert len(split_frames(3, 0.01, 0)[1]) == 1 and len(split_frames(5, 0.0, 0)[1]) == 0
    with pytest.raises(ConfigError):
        split_frames(5, 1.0, 0)


def test_block_split_holds_out_contiguous_runs_per_group():
    groups = ["md"] * 60 + ["strain"] * 40
    tr, va = split_frames(100, 0.2, seed=5, mode="block", groups=groups, block_size=7)
    assert len(va) == 20 and sorted(np.concatenate([tr, va]).tolist()) == list(range(100))
    # each group in proportion
    assert (va < 60).sum() == 12 and (va >= 60).sum() == 8
    # held-out runs lie inside blocks of 7 consecutive frames of their group: a run starts where a
    # block starts (the last block chosen may be cut short at its end)
    md_blocks = {int(i) // 7 for i in va if i < 60}
    for b in md_blocks:
        run = [int(i) for i in va if i < 60 and int(i) // 7 == b]
        assert run == list(range(7 * b, 7 * b + len(run)))
    assert len(md_blocks) == 2  # 12 frames: one whole block and 5 frames of another
    # deterministic; another seed holds out other blocks
    t2, v2 = split_frames(100, 0.2, seed=5, mode="block", groups=groups, block_size=7)
    assert tr.tolist() == t2.tolist() and va.tolist() == v2.tolist()
    assert split_frames(100, 0.2, seed=6, mode="block", groups=groups, block_size=7)[1].tolist() != va.tolist()
    # groups interleaved in the file: blocks run over each group's own frames in file order
    inter = ["a", "b"] * 20
    _, vi = split_frames(40, 0.25, seed=0, mode="block", groups=inter, block_size=5)
    assert len(vi) == 10 and sum(inter[i] == "a" for i in vi) == 5
    # no groups: one group; tiny fractions still give one validation frame
    assert len(split_frames(30, 0.1, 0, mode="block")[1]) == 3
    assert len(split_frames(3, 0.01, 0, mode="block", groups=["x", "y", "y"])[1]) == 1
    with pytest.raises(ConfigError, match="one of random, block"):
        split_frames(5, 0.2, 0, mode="blocks")
    with pytest.raises(ConfigError, match="block size"):
        split_frames(5, 0.2, 0, mode="block", block_size=0)


def test_frame_config_types_of_disk_and_memory_frames(tmp_path):
    frames = make_frames(4)
    disk = DiskFrames(write_disk_dataset(frames, tmp_path / "ds"))
    assert frame_config_types(frames) == frame_config_types(disk) == ["bulk", "rattled", "mol", "bulk"]
    assert frame_config_types(FrameSubset(disk, [2, 1])) == ["mol", "rattled"]


def test_disk_frames_pickle_reopens(tmp_path):
    import pickle

    out = write_disk_dataset(make_frames(3), tmp_path / "ds")
    disk = DiskFrames(out)
    blob = pickle.dumps(disk)
    assert len(blob) < 1000  # the path, not the mapped arrays
    assert_same(pickle.loads(blob)[1], disk[1])


def test_stratified_split_spans_each_group():
    """mode="stratified": one validation frame from each run of equal count of a group's frames
    ordered by the strata, so the held-out set spans the range even where a random one would not."""
    groups = ["md"] * 60 + ["strain"] * 40
    rng = np.random.default_rng(0)
    strata = np.r_[rng.permutation(np.linspace(0.5, 1.5, 60)), rng.permutation(np.linspace(0.0, 0.2, 40))]
    tr, va = split_frames(100, 0.2, seed=1, mode="stratified", groups=groups, strata=strata)
    assert len(va) == 20 and sorted(np.concatenate([tr, va]).tolist()) == list(range(100))
    assert (va < 60).sum() == 12 and (va >= 60).sum() == 8  # each group in proportion
    for members, q in ((np.arange(60), 12), (np.arange(60, 100), 8)):
        ranks = np.argsort(np.argsort(strata[members]))  # rank of each frame within its group
        held = ranks[np.isin(members, va)]
        # exactly one held-out frame in each of the q runs of equal count
        assert sorted(held // (len(members) // q)) == list(range(q))
    t2, v2 = split_frames(100, 0.2, seed=1, mode="stratified", groups=groups, strata=strata)
    assert va.tolist() == v2.tolist()
    assert split_frames(100, 0.2, seed=2, mode="stratified", groups=groups, strata=strata)[1].tolist() != va.tolist()
    with pytest.raises(ConfigError, match="one finite number per frame"):
        split_frames(10, 0.2, 0, mode="stratified", strata=[1.0] * 9)


def test_frame_strata_is_the_force_rms(emt_files):
    from ridgeline.data import frame_strata, read_frames

    frames = read_frames(emt_files["train"])
    s = frame_strata(frames)
    assert s.shape == (len(frames),)
    np.testing.assert_allclose(s[3], np.sqrt(np.mean(frames[3].forces ** 2)))

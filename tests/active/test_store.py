"""The label store: what it keeps does not depend on the order in which oracle calls finish."""

from __future__ import annotations

import json

from ase.build import bulk

from ridgeline.active import emt, structure_key
from ridgeline.active.store import LabelStore


def _structures(n=4):
    out = []
    for seed in range(n):
        atoms = bulk("Cu", cubic=True).repeat(2)
        atoms.rattle(0.05, seed=seed)
        out.append(atoms)
    return out


def test_store_keeps_calls_in_the_order_asked_whatever_order_they_finish(tmp_path):
    structures = _structures()
    labels = [emt()(atoms) for atoms in structures]
    keys = [structure_key(atoms) for atoms in structures]
    in_order, shuffled = LabelStore(tmp_path / "a"), LabelStore(tmp_path / "b")
    for i in range(4):
        in_order.put(labels[i], structures[i], "seed", 0, index=i)
    for i in (2, 0, 3, 1):  # as a pool might finish them
        shuffled.put(labels[i], structures[i], "seed", 0, index=i)
    for store in (in_order, shuffled, LabelStore(tmp_path / "b")):  # the last: read back from disk
        assert [r["key"] for r in store.calls()] == keys
        assert [f.energy for f in store.frames()] == [label.energy for label in labels]
    for key in keys:  # the label files are the same, byte for byte
        assert (tmp_path / "a" / "labels" / f"{key}.json").read_bytes() == (tmp_path / "b" / "labels" / f"{key}.json").read_bytes()

    def log(folder):  # the log's lines follow completion order: sorted by place they are the same
        lines = [json.loads(line) for line in (folder / "oracle_log.jsonl").read_text().splitlines()]
        return sorted(lines, key=lambda r: (r["iteration"], r["index"]))

    assert log(tmp_path / "a") == log(tmp_path / "b") and [r["key"] for r in log(tmp_path / "a")] == keys

    # a later iteration's calls come after, however they finished
    more = _structures(6)[4:]
    for i in (1, 0):
        shuffled.put(emt()(more[i]), more[i], "selected", 1, index=i)
    assert [r["key"] for r in LabelStore(tmp_path / "b").calls()] == keys + [structure_key(a) for a in more]


def test_store_reads_records_that_carry_a_running_call_number(tmp_path):
    """A run directory whose label records have the call's running number ``order`` instead of an
    index resumes with its calls listed in that order."""
    structures = _structures(3)
    store = LabelStore(tmp_path)
    for i, atoms in enumerate(structures):
        store.put(emt()(atoms), atoms, "seed", 0, index=i)
    for order, atoms in zip((2, 0, 1), structures):
        path = tmp_path / "labels" / f"{structure_key(atoms)}.json"
        record = json.loads(path.read_text())
        del record["index"]
        record["order"] = order
        path.write_text(json.dumps(record))
    keys = [structure_key(a) for a in structures]
    assert [r["key"] for r in LabelStore(tmp_path).calls()] == [keys[1], keys[2], keys[0]]

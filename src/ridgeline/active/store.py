"""What the oracle said, kept on disk so that no call is ever repeated.

Every oracle call, success or failure, is one file ``labels/<structure key>.json`` written
atomically as soon as the call finishes (the structure, its labels or the error, the cost, the
purpose, the iteration and the structure's index in what that iteration labelled), and one line of
``oracle_log.jsonl`` for people and plots. The label files are the source of truth: the training
data of every iteration are rebuilt from them, and a resumed run looks a structure's key up before
calling the oracle.

Calls finish in an order that depends on the executor (and a kill), so nothing kept depends on it:
a record holds no completion counter, and the store lists its records by (iteration, index), the
order in which they were asked for. The log's lines follow completion order; sorted by
(iteration, index) they are the same for every executor, apart from the measured seconds.
"""

from __future__ import annotations

import bisect
import json
import os
from pathlib import Path

import numpy as np

from ..data.frame import Frame, voigt_to_matrix
from ..errors import DataError
from ..files import atomic_write_bytes


def _asked(record: dict) -> tuple[int, int]:
    """Where a call stands in the order the run asked for labels: (iteration, index). A record
    without an index (from a run directory of an older ridgeline) has the running number of its
    call (``order``) instead, the order such runs recorded their calls in."""
    return record["iteration"], (record["index"] if "index" in record else record["order"])


class LabelStore:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.labels = self.folder / "labels"
        self.log_path = self.folder / "oracle_log.jsonl"
        self.labels.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict] = {}
        for path in self.labels.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except json.JSONDecodeError as err:  # atomic writes make this a foreign or damaged file
                raise DataError(f"{path}: damaged oracle label file ({err}); delete it to label that structure again") from None
            self.records[record["key"]] = record
        self._order = sorted(self.records.values(), key=_asked)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def put(self, label, atoms, purpose: str, iteration: int, index: int) -> dict:
        """Record one oracle call (``label``: an ``oracles.Label``) on ``atoms``, the ``index``-th
        structure that ``iteration`` labelled for ``purpose``."""
        record = {
            **label.record(), "key": label.key, "purpose": purpose, "iteration": iteration, "index": int(index),
            "numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
            "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist(),
            "forces": None if label.forces is None else np.asarray(label.forces).tolist(),
            "stress": None if label.stress is None else np.asarray(label.stress).tolist(),
        }
        atomic_write_bytes(self.labels / f"{label.key}.json", json.dumps(record).encode())
        summary = {k: record[k] for k in ("iteration", "purpose", "index", "key", "ok", "energy", "seconds", "error", "oracle")}
        with open(self.log_path, "a") as fh:  # the human-readable log; the label files are the truth
            fh.write(json.dumps(summary) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records[label.key] = record
        self._order.insert(bisect.bisect(self._order, _asked(record), key=_asked), record)
        return record

    def frames(self, purposes=None) -> list[Frame]:
        """Successful labels as frames, in the order they were asked for (``purposes``: only those,
        e.g. {"seed", "selected"})."""
        return [self.frame(r) for r in self._order if r["ok"] and (purposes is None or r["purpose"] in purposes)]

    def calls(self, purposes=None) -> list[dict]:
        """Records of the oracle calls (failed ones too), in the order they were asked for."""
        return [r for r in self._order if purposes is None or r["purpose"] in purposes]

    @staticmethod
    def frame(r: dict) -> Frame:
        """The labelled frame of a successful call's record."""
        return Frame(
            numbers=np.asarray(r["numbers"], dtype=np.int64), positions=np.asarray(r["positions"], dtype=np.float64),
            cell=np.asarray(r["cell"], dtype=np.float64), pbc=np.asarray(r["pbc"], dtype=bool),
            energy=float(r["energy"]), forces=np.asarray(r["forces"], dtype=np.float64),
            stress=None if r["stress"] is None else voigt_to_matrix(r["stress"]),
            config_type=r["purpose"], source=f"oracle call {_asked(r)[1]} of iteration {r['iteration']}",
        )

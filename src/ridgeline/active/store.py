"""What the oracle said, kept on disk so that no call is ever repeated.

Every oracle call, success or failure, is one file ``labels/<structure key>.json`` written
atomically (the structure, its labels or the error, the cost, the purpose and iteration), and one
line of ``oracle_log.jsonl`` for people and plots. The label files are the source of truth: the
training data of every iteration are rebuilt from them, and a resumed run looks a structure's key
up before calling the oracle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..data.frame import Frame, voigt_to_matrix
from ..errors import DataError
from ..files import atomic_write_bytes


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
        self._order = sorted(self.records.values(), key=lambda r: r["order"])

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> dict | None:
        return self.records.get(key)

    def put(self, label, atoms, purpose: str, iteration: int) -> dict:
        """Record one oracle call (``label``: an ``oracles.Label``) on ``atoms``."""
        record = {
            **label.record(), "key": label.key, "order": len(self.records), "purpose": purpose, "iteration": iteration,
            "numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
            "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist(),
            "forces": None if label.forces is None else np.asarray(label.forces).tolist(),
            "stress": None if label.stress is None else np.asarray(label.stress).tolist(),
        }
        atomic_write_bytes(self.labels / f"{label.key}.json", json.dumps(record).encode())
        summary = {k: record[k] for k in ("order", "iteration", "purpose", "key", "ok", "energy", "seconds", "error", "oracle")}
        with open(self.log_path, "a") as fh:  # the human-readable log; the label files are the truth
            fh.write(json.dumps(summary) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records[label.key] = record
        self._order.append(record)
        return record

    def frames(self, purposes=None) -> list[Frame]:
        """Successful labels as frames, in call order (``purposes``: only those, e.g. {"seed", "selected"})."""
        return [self.frame(r) for r in self._order if r["ok"] and (purposes is None or r["purpose"] in purposes)]

    def calls(self, purposes=None) -> list[dict]:
        return [r for r in self._order if purposes is None or r["purpose"] in purposes]

    @staticmethod
    def frame(r: dict) -> Frame:
        """The labelled frame of a successful call's record."""
        return Frame(
            numbers=np.asarray(r["numbers"], dtype=np.int64), positions=np.asarray(r["positions"], dtype=np.float64),
            cell=np.asarray(r["cell"], dtype=np.float64), pbc=np.asarray(r["pbc"], dtype=bool),
            energy=float(r["energy"]), forces=np.asarray(r["forces"], dtype=np.float64),
            stress=None if r["stress"] is None else voigt_to_matrix(r["stress"]),
            config_type=r["purpose"], source=f"oracle call {r['order']} (iteration {r['iteration']})",
        )

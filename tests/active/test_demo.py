"""The main job end to end on a tiny budget (xTB through tblite; skipped without it)."""

import json

import numpy as np
import pytest


def test_demo_smoke(tmp_path):
    pytest.importorskip("tblite")
    from ridgeline.active.demo import run_demo

    overrides = ["stop.max_iterations=1", "validation.frames=4", "validation.equilibration=20", "validation.steps_between=5",
                 "explore.walkers=2", "explore.steps=40", "select.per_iteration=3", "training.epochs=3", "seed_frames=4",
                 "committee=2", "oracle.workers=1"]
    figures = run_demo(tmp_path / "demo", progress=False, overrides=overrides, nve_steps=40)
    assert figures["oracle_calls"] == 4 + json.loads((tmp_path / "demo/active_learning/summary.json").read_text())["iterations"][1]["selected"]
    assert np.isfinite(figures["valid_forces_mae"]) and np.isfinite(figures["nve_drift"]) and figures["nve_steps"] == 40
    for name in ("report.md", "report.json", "parity_validation.png", "nve_energy.png", "active_learning/learning_curve.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    assert "NVE MD" in (tmp_path / "demo/report.md").read_text()

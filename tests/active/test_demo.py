"""The main job end to end on a tiny budget (xTB through tblite; skipped without it), and its NVE
check stopping, and saying so, where the committee's trajectory blows up or leaves its domain."""

import json

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.calculator import Calculator as ASECalculator
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT


def test_demo_smoke(tmp_path):
    pytest.importorskip("tblite")
    from ridgeline.active.demo import run_demo

    # 10 epochs: the committee holds for the 40 NVE steps (it peaks near 460 K); after 3 epochs it
    # heats the 9 atoms past 3000 K within 12 fs and the NVE check rightly stops it
    overrides = ["stop.max_iterations=1", "validation.frames=4", "validation.equilibration=20", "validation.steps_between=5",
                 "explore.walkers=2", "explore.steps=40", "select.per_iteration=3", "training.epochs=10", "seed_frames=4",
                 "committee=2", "oracle.workers=1"]
    figures = run_demo(tmp_path / "demo", progress=False, overrides=overrides, nve_steps=40)
    assert figures["oracle_calls"] == 4 + json.loads((tmp_path / "demo/active_learning/summary.json").read_text())["iterations"][1]["selected"]
    assert np.isfinite(figures["valid_forces_mae"]) and np.isfinite(figures["nve_drift"]) and figures["nve_steps"] == 40
    for name in ("report.md", "report.json", "parity_validation.png", "nve_energy.png", "active_learning/learning_curve.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    assert "NVE MD" in (tmp_path / "demo/report.md").read_text()
    saved = json.loads((tmp_path / "demo/report.json").read_text())
    assert saved["nve_status"] == "completed" and saved["nve_stop_step"] is None and saved["nve_stop_reason"] is None

    # the closing validation: ethanol's 21 frequencies and zero-point energy against xTB's, with intervals
    from ridgeline.cli.demo import validate_demo

    validate_demo(figures, tmp_path / "demo", progress=False)
    assert "## Validation against GFN2-xTB" in (tmp_path / "demo/report.md").read_text()
    report = json.loads((tmp_path / "demo/validation/validation.json").read_text())
    assert len(report["properties"]) == 22 and report["errors"]["n_frames"] == 4
    assert all(p["model_ci"] is not None and p["reference"] > 0 for p in report["properties"])
    assert json.loads((tmp_path / "demo/report.json").read_text())["validation"]["compared"] == 22


class BrokenCommittee(ASECalculator):
    """EMT standing in for a committee whose trajectory has gone wrong: from call (= MD step)
    ``out_from`` on every atom is out of domain, and ``pump`` (1/fs) adds a non-conservative force
    gamma m v that heats the system exponentially (a potential that does not conserve energy)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, out_from: int = 10**9, pump: float = 0.0):
        super().__init__()
        self.out_from, self.pump, self.calls = out_from, pump, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        emt = EMT()
        emt.calculate(self.atoms, ["energy", "forces"], all_changes)
        forces = emt.results["forces"] + self.pump / units.fs * self.atoms.get_momenta()
        n = len(self.atoms)
        self.results = {"energy": emt.results["energy"], "free_energy": emt.results["energy"], "forces": forces,
                        "forces_sigma": np.full(n, 0.1), "out_of_domain": np.full(n, self.calls >= self.out_from)}
        self.calls += 1


@pytest.mark.parametrize("calculator, status, step, reason", [
    (lambda: BrokenCommittee(out_from=20), "out_of_domain", 199,  # 180 of the last 200 steps (100 fs) flagged
     "step 199 (99.5 fs): out of the model's domain at 180 of the last 200 checks (100 fs)"),
    (lambda: BrokenCommittee(pump=0.01), "exploded", None, "K above 3000 K (10 x the target)"),
])
def test_nve_check_stops_a_blown_up_run_and_says_so(tmp_path, calculator, status, step, reason):
    """The reported defect: the demo's 2000-step NVE check ran through a blown-up trajectory (1995
    steps out of domain) and only reported its numbers."""
    from ridgeline.active.demo import nve_check, nve_warning

    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    figures, section = nve_check(atoms, calculator(), tmp_path, steps=2000, seed=0)
    assert figures["nve_status"] == status and reason in figures["nve_stop_reason"]
    stopped_at = figures["nve_stop_step"]
    assert stopped_at == figures["nve_steps"] and 20 < stopped_at < 2000 and (step is None or stopped_at == step)
    assert figures["nve_stop_reason"].startswith(f"step {stopped_at} (")
    warning = nve_warning(figures, 2000)
    assert warning.startswith(f"Warning: the NVE check stopped early ({status}) at step {stopped_at} (")
    assert section[2].startswith(f"**{warning}**") and "(2000 steps were asked for)" in warning
    assert (tmp_path / "nve_energy.png").stat().st_size > 0
    # a healthy run completes and warns of nothing
    figures, section = nve_check(atoms, EMT(), tmp_path, steps=50, seed=0)
    assert figures["nve_status"] == "completed" and figures["nve_stop_step"] is None and nve_warning(figures) is None
    assert figures["nve_steps"] == 50 and not section[2].startswith("**")


def test_demo_command_warns_on_stderr_when_the_nve_check_stopped(tmp_path, monkeypatch, capsys):
    import ridgeline.active.demo as demo
    from ridgeline.cli.main import main

    def fake_run_demo(output_dir, progress=True, overrides=()):
        (tmp_path / "report.md").write_text("# report\n")
        return {"nve_status": "exploded", "nve_stop_step": 12, "nve_stop_reason": "step 12 (6 fs): non-finite energy"}

    monkeypatch.setattr(demo, "run_demo", fake_run_demo)
    assert main(["demo", "--output-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "# report" in out
    assert err.strip().splitlines() == ["Warning: the NVE check stopped early (exploded) at step 12 (6 fs): non-finite energy."]

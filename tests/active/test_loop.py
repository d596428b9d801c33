"""The active-learning loop on EMT: completes, resumes after a kill without repeating an oracle
call, survives an oracle that fails on some inputs; config and CLI errors are clear."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from ridgeline.active import ActiveLearning, emt, from_calculator, load_active_config
from ridgeline.active.config import RESUMABLE_KEYS, load_run_config, read_resumes, record_resume, resume_changes
from ridgeline.active.reference_md import oracle_md
from ridgeline.active.store import LabelStore
from ridgeline.cli.main import main
from ridgeline.data import read_frames, write_frames
from ridgeline.errors import ConfigError
from ridgeline.names import MODEL_FILE
from ridgeline.uncertainty import UncertaintyModel

CALLS: list[str] = []  # structures the counting oracle was asked about, in order (serial labelling)


class CountingEMT(EMT):
    """EMT that records every structure it is asked about; ``fail_every`` fails a share of them."""

    def __init__(self, fail_every: int = 0, interrupt_at: int | None = None):
        super().__init__()
        self.fail_every, self.interrupt_at = fail_every, interrupt_at

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        from ridgeline.active import structure_key

        key = structure_key(atoms)
        if self.interrupt_at is not None and len(CALLS) == self.interrupt_at:
            raise KeyboardInterrupt  # a kill in the middle of labelling
        CALLS.append(key)
        if self.fail_every and len(CALLS) % self.fail_every == 0:
            raise RuntimeError("SCF not converged (simulated)")
        super().calculate(atoms, properties, system_changes)


def counting_oracle(**kwargs):
    return from_calculator(functools.partial(CountingEMT, **kwargs), name="counting-emt")


@pytest.fixture()
def config(tmp_path):
    start, valid = tmp_path / "start.xyz", tmp_path / "valid.xyz"
    cell = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    write(start, cell)
    write_frames(valid, oracle_md([cell], emt(), 4, temperature=600.0, interval=5, equilibration=10))
    return {
        "output_dir": str(tmp_path / "run"), "structures": str(start), "seed_frames": 4, "committee": 2,
        "oracle": {"name": "emt", "workers": 1},
        "explore": {"walkers": 2, "steps": 40, "interval": 10, "temperature": 600.0, "temperature_end": 900.0},
        "select": {"per_iteration": 3},
        "stop": {"max_iterations": 2},
        "validation": {"file": str(valid)},  # made with plain EMT: the counting oracle sees seed and selected calls only
        "model": {"name": "bpnn", "preset": "small", "cutoff": 4.0},
        "training": {"epochs": 6, "batch_size": 4},
    }


def _rows(out) -> list[dict]:
    return json.loads((out / "summary.json").read_text())["iterations"]


def test_loop_completes_on_emt(config, tmp_path):
    CALLS.clear()
    out = ActiveLearning(load_active_config(base=config), progress=False, oracle=counting_oracle()).run()
    run = tmp_path / "run"
    rows = _rows(run)
    assert out == run / MODEL_FILE and [r["iteration"] for r in rows] == [0, 1, 2]
    assert rows[0]["oracle_calls_total"] == 4
    for prev, row in zip(rows, rows[1:]):
        assert 0 < row["selected"] <= 3
        assert row["oracle_calls_total"] == prev["oracle_calls_total"] + row["selected"]
        assert np.isfinite(row["valid_forces_rmse"]) and row["explored_frames"] > 0
    store = LabelStore(run)
    assert len(CALLS) == len(set(CALLS)) == rows[-1]["oracle_calls_total"] == len(store)  # one call per structure
    uq = UncertaintyModel.load(out)
    assert uq.method == "ensemble" and len(uq.model) == 2 and "mahalanobis" in uq.domains
    assert (run / "learning_curve.png").stat().st_size > 0 and "| iteration |" in (run / "summary.md").read_text()
    log = [json.loads(line) for line in (run / "oracle_log.jsonl").read_text().splitlines()]
    assert [r["purpose"] for r in log].count("seed") == 4 and all(r["seconds"] >= 0 for r in log)


def test_resume_after_kill_repeats_no_oracle_call(config, tmp_path):
    CALLS.clear()
    cfg = load_active_config(base=config)
    with pytest.raises(KeyboardInterrupt):  # killed during iteration 1's labelling (6th call)
        ActiveLearning(cfg, progress=False, oracle=counting_oracle(interrupt_at=5)).run()
    done_before = list(CALLS)
    assert len(done_before) == 5 and len(LabelStore(tmp_path / "run")) == 5
    with pytest.raises(ConfigError, match="al resume"):  # a second 'run' into the same folder is refused
        ActiveLearning(cfg, progress=False, oracle=counting_oracle()).run()
    ActiveLearning(cfg, progress=False, oracle=counting_oracle()).run(resume=True)
    assert CALLS[:5] == done_before and len(CALLS) == len(set(CALLS))  # nothing asked twice
    rows = _rows(tmp_path / "run")
    assert [r["iteration"] for r in rows] == [0, 1, 2] and rows[-1]["oracle_calls_total"] == len(CALLS)

    # raising a limit continues a finished run; no old structure is labelled again
    n = len(CALLS)
    cfg.stop.max_iterations = 3
    ActiveLearning(cfg, progress=False, oracle=counting_oracle()).run(resume=True)
    assert len(_rows(tmp_path / "run")) == 4 and len(CALLS) > n and len(CALLS) == len(set(CALLS))
    # the run's config stays the one it started with; the resume's change is kept beside it
    assert load_active_config(tmp_path / "run" / "config.yaml").stop.max_iterations == 2
    assert [r["changes"] for r in read_resumes(tmp_path / "run")] == [{"stop.max_iterations": 3}]
    assert load_run_config(tmp_path / "run").stop.max_iterations == 3


def test_loop_survives_failing_oracle(config, tmp_path):
    CALLS.clear()
    ActiveLearning(load_active_config(base=config), progress=False, oracle=counting_oracle(fail_every=3)).run()
    rows = _rows(tmp_path / "run")
    store = LabelStore(tmp_path / "run")
    failed = [r for r in store.calls() if not r["ok"]]
    assert failed and all("not converged" in r["error"] for r in failed)
    assert sum(r.get("failed", 0) for r in rows) == len(failed)
    assert len(store.frames()) == len(store) - len(failed)  # failures never enter the training data
    assert len(rows) == 3


def test_config_errors_name_the_key(config):
    with pytest.raises(ConfigError, match="select.method"):
        load_active_config(base={**config, "select": {"method": "greedy"}})
    with pytest.raises(ConfigError, match="explore.*valid keys"):
        load_active_config(base={**config, "explore": {"temprature": 300}})
    with pytest.raises(ConfigError, match="committee"):
        load_active_config(base={**config, "committee": 1})


def test_cli_run_and_resume(config, tmp_path, capsys):
    import yaml

    path = tmp_path / "al.yaml"
    validation = {"frames": 3, "steps_between": 5, "equilibration": 10, "temperature": 600.0}  # made by oracle MD
    path.write_text(yaml.safe_dump({**config, "stop": {"max_iterations": 1}, "validation": validation}))
    assert main(["al", "run", str(path), "--no-progress"]) == 0
    assert "Stopped: max_iterations" in capsys.readouterr().out
    assert main(["al", "resume", str(tmp_path / "run"), "--no-progress", "stop.max_iterations=2"]) == 0
    assert len(_rows(tmp_path / "run")) == 3
    assert [r["changes"] for r in read_resumes(tmp_path / "run")] == [{"stop.max_iterations": 2}]
    assert main(["al", "resume", str(tmp_path / "run"), "select.method=maxvol"]) == 2  # would change what was done
    assert "'select.method' cannot change on resume" in capsys.readouterr().err
    assert len(read_resumes(tmp_path / "run")) == 1
    assert len(read_frames(tmp_path / "run" / "validation.extxyz")) == 3
    assert main(["al", "resume", str(tmp_path / "nowhere")]) == 2
    assert main(["al", "run", str(path), "select.method=nope"]) == 2


def _started_run(config, folder):
    """A run directory as a run leaves it after its start: its config, no resume history."""
    import yaml

    folder.mkdir()
    text = yaml.safe_dump(load_active_config(base={**config, "output_dir": str(folder)}).to_dict(), sort_keys=False)
    (folder / "config.yaml").write_text(text)
    return text


def test_resume_refuses_keys_that_would_change_what_the_run_did(config, tmp_path, capsys):
    """A resume may change the limits (stop.*) and how the oracle is called (oracle.workers,
    oracle.timeout); any other key is refused by name, with the keys that may change, before
    anything runs, and the run's files stay as they were."""
    run = tmp_path / "run"
    started = _started_run(config, run)
    for override in ("select.method=maxvol", "explore.bias=adversarial", "training.epochs=7", "oracle.name=xtb"):
        assert main(["al", "resume", str(run), "--no-progress", override]) == 2
        err = capsys.readouterr().err
        assert f"config key '{override.split('=')[0]}' cannot change on resume" in err
        assert "stop.max_iterations" in err and "oracle.workers" in err and "oracle.timeout" in err
    with pytest.raises(ConfigError, match="'select.method' cannot change on resume"):
        ActiveLearning(load_active_config(base={**config, "select": {"method": "random"}}), progress=False).run(resume=True)
    assert (run / "config.yaml").read_text() == started and not (run / "resumes.jsonl").exists()
    assert not (run / "labels").exists()  # refused before the run went on


def test_resume_history_is_kept_beside_the_started_config(config, tmp_path):
    run = tmp_path / "run"
    started = _started_run(config, run)
    assert "stop.max_iterations" in RESUMABLE_KEYS and "select.method" not in RESUMABLE_KEYS
    for overrides in (["stop.max_iterations=4", "oracle.workers=2"], ["stop.max_iterations=5", "oracle.timeout=60"]):
        record_resume(run, resume_changes(load_run_config(run), load_run_config(run, overrides)))
    assert [r["changes"] for r in read_resumes(run)] == [{"oracle.workers": 2, "stop.max_iterations": 4},
                                                          {"oracle.timeout": 60.0, "stop.max_iterations": 5}]
    assert all(r["time"] for r in read_resumes(run))
    now = load_run_config(run)
    assert (now.stop.max_iterations, now.oracle.workers, now.oracle.timeout, now.output_dir) == (5, 2, 60.0, str(run))
    assert (run / "config.yaml").read_text() == started
    assert resume_changes(now, load_run_config(run)) == {}  # an unchanged config changes nothing
    moved = load_run_config(run)
    moved.output_dir = str(tmp_path / "elsewhere")
    assert resume_changes(now, moved) == {}  # where the run is, is not part of what it does


def test_loop_retrains_in_one_loss_stage_unless_asked(config):
    """A standalone run has two loss stages by default; the loop's short warm-started retrainings
    keep one, with the final stage's energy weight, and a config can still ask for two."""
    from ridgeline.training.config import TrainingConfig

    standalone = TrainingConfig()
    assert standalone.final_stage is not None and standalone.energy_weight < standalone.final_energy_weight
    loop = load_active_config(base=config).training
    assert loop.final_stage is None and loop.energy_weight == standalone.final_energy_weight
    asked = load_active_config(base={**config, "training": {**config.get("training", {}), "final_stage": 0.5}}).training
    assert asked.final_stage == 0.5

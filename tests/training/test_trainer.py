"""Training: exact resume after an interruption, on-disk datasets, reports, config errors."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import small_config

from ridgeline.data import write_disk_dataset, read_frames
from ridgeline.errors import ConfigError
from ridgeline.models.io import load_model
from ridgeline.training.checkpoint import load_checkpoint
from ridgeline.training.config import load_config
from ridgeline.training.trainer import Trainer


@pytest.fixture(autouse=True)
def one_thread():
    """Runs compared bitwise need one torch thread: with two, the stress term's matrix products
    (fitted by default where frames carry a stress) came out ~1e-7 apart between two identical runs on a busy
    machine (the BLAS library may use fewer threads than asked, which changes its summation order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(config_dict, resume=False):
    return Trainer(load_config(base=config_dict), progress=False).run(resume=resume)


def _history(out):
    rows = json.loads(load_checkpoint(out / "checkpoint.pt")["history"])
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


def _weights(out):
    return load_checkpoint(out / "checkpoint.pt")["model"]


class Interrupt(Exception):
    pass


def _interrupted(config_dict, epoch, monkeypatch) -> Path:
    """Train ``config_dict``, killed at the start of epoch ``epoch`` (0-based); its checkpoint."""
    original = Trainer._train_epoch

    def dying_epoch(self):
        if self.epoch == epoch:
            raise Interrupt
        return original(self)

    monkeypatch.setattr(Trainer, "_train_epoch", dying_epoch)
    with pytest.raises(Interrupt):
        _train(config_dict)
    monkeypatch.setattr(Trainer, "_train_epoch", original)
    path = Path(config_dict["output_dir"]) / "checkpoint.pt"
    assert load_checkpoint(path)["epoch"] == epoch
    return path


def _interrupted_then_resumed(config_dict, epoch, monkeypatch):
    """Train ``config_dict``, killed at the start of epoch ``epoch`` (0-based), then resume it."""
    _interrupted(config_dict, epoch, monkeypatch)
    _train(config_dict, resume=True)


def test_resume_reproduces_uninterrupted_run(emt_files, tmp_path, monkeypatch):
    full = tmp_path / "full"
    _train(small_config(emt_files, full))

    # the same run, killed in the middle of its third epoch
    cut = tmp_path / "cut"
    _interrupted_then_resumed(small_config(emt_files, cut), 2, monkeypatch)

    assert _history(cut) == _history(full)
    a, b = _weights(full), _weights(cut)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (cut / "model.safetensors").read_bytes() == (full / "model.safetensors").read_bytes()
    for name in ("metrics.csv", "report.json", "report.md", "parity_test.png", "config.yaml"):
        assert (cut / name).exists()


def test_resume_can_extend_epochs_but_not_change_the_model(emt_files, tmp_path):
    out = tmp_path / "run"
    _train(small_config(emt_files, out, epochs=2))
    _train(small_config(emt_files, out, epochs=3), resume=True)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 3
    changed = small_config(emt_files, out, epochs=4)
    changed["model"]["cutoff"] = 4.0
    with pytest.raises(ConfigError, match="model.cutoff"):
        _train(changed, resume=True)
    with pytest.raises(ConfigError, match="--resume"):
        _train(small_config(emt_files, out))  # a fresh run must not overwrite an existing one


def test_disk_dataset_trains_like_the_file(emt_files, tmp_path):
    disk = write_disk_dataset(read_frames(emt_files["train"]), tmp_path / "disk")
    cfg_file, cfg_disk = small_config(emt_files, tmp_path / "a", epochs=2), small_config(emt_files, tmp_path / "b", epochs=2)
    cfg_disk["train_file"] = str(disk)
    _train(cfg_file)
    _train(cfg_disk)
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.allclose(a[k], b[k], rtol=0, atol=1e-12) for k in a)


def test_report_has_errors_per_config_type(trained_model):
    report = json.loads((trained_model.parent / "report.json").read_text())
    test = report["test"]
    assert set(test["per_config_type"]) == {"md_300K", "md_800K", "md_1400K", "strained", "vacancy"}
    assert sum(m["n_frames"] for m in test["per_config_type"].values()) == test["n_frames"]
    # a trained potential on EMT Cu: far better than the spread of the data
    assert test["energy_mae"] < 5.0 and test["forces_mae"] < 0.05
    rows = (trained_model.parent / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,lr,stage,train_loss") and len(rows) > 2  # two loss stages by default


def test_float64_training(emt_files, tmp_path):
    out = tmp_path / "f64"
    cfg = small_config(emt_files, out, epochs=1)
    cfg["dtype"] = "float64"
    _train(cfg)
    from ridgeline.models.io import load_model

    model, desc = load_model(out / "model.safetensors")
    assert desc["dtype"] == "float64" and next(model.parameters()).dtype == torch.float64


def test_element_references_are_least_squares():
    from ridgeline.data import Frame
    from ridgeline.data.statistics import fit_atomic_energies

    rng = np.random.default_rng(0)
    e0 = {1: -13.6, 8: -432.1, 6: -1029.0}
    frames = []
    for _ in range(12):
        numbers = rng.choice(list(e0), size=rng.integers(3, 9))
        frames.append(Frame(numbers=numbers, positions=np.zeros((len(numbers), 3)), cell=np.zeros((3, 3)),
                            pbc=np.zeros(3, bool), energy=sum(e0[z] for z in numbers)))
    np.testing.assert_allclose(fit_atomic_energies(frames, [1, 6, 8]), [e0[1], e0[6], e0[8]], rtol=1e-10)


def test_disk_dataset_checks_required_labels_and_elements(emt_files, tmp_path):
    from ridgeline.data import DiskFrames
    from ridgeline.errors import DataError

    frames = read_frames(emt_files["test"])
    frames[2].forces = None
    disk = DiskFrames(write_disk_dataset(frames, tmp_path / "disk"))
    disk.check(("energy",), elements=[29])
    with pytest.raises(DataError, match=r"disk frame 2: no forces"):
        disk.check(("energy", "forces"))
    with pytest.raises(DataError, match=r"element\(s\) Cu not known"):
        disk.check((), elements=[14])


def test_cosine_schedule_anneals_over_the_run_and_plateau_stops_early(emt_files, tmp_path):
    import math

    out = tmp_path / "cos"
    _train(small_config(emt_files, out, epochs=6, lr=1e-3, min_lr=1e-5))
    lrs = [float(r["lr"]) for r in _history(out)]
    expected = [1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + math.cos(math.pi * k / 6)) for k in range(6)]
    assert lrs == pytest.approx(expected, rel=1e-9)
    # plateau: with nothing learned (lr 0) the validation loss stops improving at once (up to
    # rounding in the EMA), so early stopping (patience 1) ends the run within a few epochs
    out = tmp_path / "plateau"
    _train(small_config(emt_files, out, epochs=50, lr=0.0, min_lr=0.0, scheduler="plateau", early_stopping_patience=1))
    assert len(_history(out)) <= 4 and load_checkpoint(out / "checkpoint.pt")["stop_reason"] == "early_stopping"
    with pytest.raises(ConfigError, match="training.scheduler"):
        load_config(base=small_config(emt_files, out, scheduler="linear"))


def test_warm_start_continues_from_the_model_file(emt_files, trained_model, tmp_path):
    from ridgeline.models.io import load_model

    base = small_config(emt_files, tmp_path / "zero", epochs=0)
    base["training"]["init_model"] = str(trained_model)
    base["model"]["preset"] = "medium"  # ignored: the file's sizes win
    warm = _train(base)
    a, _ = load_model(trained_model)
    b, _ = load_model(warm)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))  # 0 epochs: the same weights

    cold, hot = tmp_path / "cold", tmp_path / "hot"
    _train(small_config(emt_files, cold, epochs=1))
    cfg = small_config(emt_files, hot, epochs=1)
    cfg["training"]["init_model"] = str(trained_model)
    _train(cfg)
    assert _history(hot)[0]["valid_forces_mae"] < 0.5 * _history(cold)[0]["valid_forces_mae"]

    wrong = small_config(emt_files, tmp_path / "wrong", epochs=1)
    wrong["model"]["name"] = "moment"
    wrong["training"]["init_model"] = str(trained_model)
    with pytest.raises(ConfigError, match="init_model.*bpnn"):
        _train(wrong)


def test_block_validation_split(emt_files, tmp_path):
    """training.valid_split=block: the trainer holds out runs of consecutive frames per config_type."""
    from ridgeline.data import frame_config_types, split_frames

    config = load_config(base=small_config(emt_files, tmp_path, valid_fraction=0.3, valid_split="block", valid_block=3, seed=2))
    trainer = Trainer(config, progress=False)
    trainer.load_data()
    frames = read_frames(emt_files["train"])
    groups = frame_config_types(frames)
    _, expected = split_frames(len(frames), 0.3, 2, mode="block", groups=groups, block_size=3)
    assert trainer.valid_frames.indices == expected.tolist() and len(expected) == round(0.3 * len(frames))
    assert len(trainer.train_frames) + len(trainer.valid_frames) == len(frames)


def test_final_stage_switches_loss_weights_and_keeps_its_weights(emt_files, tmp_path, monkeypatch):
    """training.final_stage: the epochs from that fraction of the run on use the final_* loss
    weights; the model kept is the stage's last EMA weights (final_stage_keep: last) or its best
    on validation (best), tracked from the stage's first epoch on; a resume inside the final
    stage reproduces the uninterrupted run."""
    # stress_weight 0: the loss below is the energy and force terms alone
    stage = dict(stress_weight=0.0, epochs=6, energy_weight=1.0, final_stage=0.5, final_energy_weight=100.0, final_forces_weight=2.0,
                 final_stage_ramp=0.0)  # the weights switch at once (the ramp: the next test)
    out = tmp_path / "full"
    _train(small_config(emt_files, out, **stage))
    rows = _history(out)
    assert [r["stage"] for r in rows] == [1, 1, 1, 2, 2, 2]
    for r in rows:
        we, wf = (1.0, 1.0) if r["stage"] == 1 else (100.0, 2.0)
        assert float(r["train_loss"]) == pytest.approx(we * float(r["train_energy"]) + wf * float(r["train_forces"]), rel=1e-6)
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["stage"] == 1
    assert state["best_loss"] == pytest.approx(min(float(r["valid_loss"]) for r in rows[3:]))
    # a validation loss that rises every epoch: the final stage's best epoch is its first, so
    # "best" and "last" keep different weights
    kept = {}
    for keep in ("last", "best"):
        rising = iter(range(100))
        monkeypatch.setattr("ridgeline.training.trainer.validation_loss", lambda p, loss: float(next(rising)))
        _train(small_config(emt_files, tmp_path / keep, **stage, final_stage_keep=keep))
        kept[keep] = load_model(tmp_path / keep / "model.safetensors")[0].state_dict()
        state_keep = load_checkpoint(tmp_path / keep / "checkpoint.pt")
        expected = state_keep["ema"]["shadow"] if keep == "last" else state_keep["best_state"]
        for k, v in expected.items():
            torch.testing.assert_close(kept[keep][k], v.to(kept[keep][k].dtype))
    monkeypatch.undo()
    assert any(not torch.equal(kept["best"][k], kept["last"][k]) for k in kept["last"])

    cut = tmp_path / "cut"
    _interrupted_then_resumed(small_config(emt_files, cut, **stage), 4, monkeypatch)
    assert _history(cut) == rows
    assert (cut / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()

    for bad, match in ((dict(final_stage=1.5), "training.final_stage"), (dict(final_energy_weight=-1.0), "training.final_energy_weight"),
                       (dict(final_stage_keep="first"), "training.final_stage_keep.*last, best")):
        with pytest.raises(ConfigError, match=match):
            load_config(base=small_config(emt_files, tmp_path / "bad", **bad))


def test_final_stage_ramps_its_weights_geometrically(emt_files, tmp_path, monkeypatch):
    """training.final_stage_ramp: over that fraction of the final stage, each loss weight moves
    from the first stage's to the final one geometrically, epoch by epoch (by the run's fraction
    at the epoch's start), then stays there; validation is measured by the final weights
    throughout the stage; a resume inside the ramp reproduces the uninterrupted run."""
    stage = dict(stress_weight=0.0, epochs=8, energy_weight=1.0, final_stage=0.5, final_energy_weight=100.0, final_forces_weight=2.0,
                 final_stage_ramp=0.5)  # over 0.25 of the run
    seen = []
    monkeypatch.setattr("ridgeline.training.trainer.validation_loss",
                        lambda p, loss: seen.append(dict(loss.weights)) or 1.0)
    out = tmp_path / "ramp"
    _train(small_config(emt_files, out, **stage))
    monkeypatch.undo()
    rows = _history(out)
    assert [r["stage"] for r in rows] == [1] * 4 + [2] * 4
    # fractions 0.5, 0.625, 0.75, 0.875 at the final stage's epochs: s = 0, 0.5, 1, 1
    expected = [(1.0, 1.0)] * 5 + [(10.0, 2.0 ** 0.5), (100.0, 2.0), (100.0, 2.0)]
    for r, (we, wf) in zip(rows, expected):
        assert float(r["train_loss"]) == pytest.approx(we * float(r["train_energy"]) + wf * float(r["train_forces"]), rel=1e-6)
    assert [(w["energy"], w["forces"]) for w in seen] == [(1.0, 1.0)] * 4 + [(100.0, 2.0)] * 4

    cut = tmp_path / "cut"
    _interrupted_then_resumed(small_config(emt_files, cut, **stage), 5, monkeypatch)
    plain = tmp_path / "plain"
    _train(small_config(emt_files, plain, **stage))
    assert _history(cut) == _history(plain)

    with pytest.raises(ConfigError, match="training.final_stage_ramp.*between 0 and 1"):
        load_config(base=small_config(emt_files, tmp_path / "bad", **{**stage, "final_stage_ramp": 1.5}))


def test_checkpoint_from_before_added_keys_resumes_as_it_trained(emt_files, tmp_path, monkeypatch):
    """A checkpoint written before training.final_stage_ramp, training.amsgrad and
    training.stress_components existed trained with a step switch, plain Adam and the full stress:
    it resumes with final_stage_ramp: 0, amsgrad off and stress_components full, and the default
    ramp, AMSGrad or the deviatoric stress is refused by name."""
    config = small_config(emt_files, tmp_path / "old", epochs=3, final_stage=0.5, final_stage_ramp=0.0)
    path = _interrupted(config, 1, monkeypatch)
    state = load_checkpoint(path)
    saved = json.loads(state["config"])
    for key in ("final_stage_ramp", "amsgrad", "stress_components"):  # as an older version wrote it
        del saved["training"][key]
    state["config"] = json.dumps(saved)
    del state["format_version"]  # nor did it stamp a format version
    torch.save(state, path)
    with pytest.raises(ConfigError, match="training.final_stage_ramp"):
        _train({**config, "training": {**config["training"], "final_stage_ramp": 1 / 3}}, resume=True)
    with pytest.raises(ConfigError, match="training.amsgrad"):
        _train({**config, "training": {**config["training"], "amsgrad": True}}, resume=True)
    with pytest.raises(ConfigError, match="training.stress_components"):
        _train({**config, "training": {**config["training"], "stress_components": "deviatoric"}}, resume=True)
    _train(config, resume=True)
    assert load_checkpoint(path)["epoch"] == 3


def test_final_stage_starts_from_the_best_first_stage_weights(emt_files, tmp_path, monkeypatch):
    """training.final_stage_start: best: the final stage's first epoch starts from the first
    stage's best-on-validation EMA weights (under a rising validation loss, epoch 1's), not from
    where the first stage ended (last, the default)."""
    stage = dict(epochs=4, energy_weight=1.0, final_stage=0.5, final_energy_weight=100.0)
    for start in ("last", "best"):
        rising = iter(range(100))
        monkeypatch.setattr("ridgeline.training.trainer.validation_loss", lambda p, loss: float(next(rising)))
        seen = []  # (model weights, EMA weights) at the start of each epoch
        train_epoch = Trainer._train_epoch

        def spy(self):
            seen.append(({k: v.clone() for k, v in self.model.state_dict().items()},
                         {k: v.clone() for k, v in self.ema.shadow.items()}))
            return train_epoch(self)

        monkeypatch.setattr(Trainer, "_train_epoch", spy)
        _train(small_config(emt_files, tmp_path / start, **stage, final_stage_start=start))
        monkeypatch.undo()
        assert [r["stage"] for r in _history(tmp_path / start)] == [1, 1, 2, 2]
        epoch3_model, epoch3_ema = seen[2]
        after_epoch1_ema = seen[1][1]  # the best first-stage weights under a rising loss
        same = all(torch.equal(epoch3_model[k], after_epoch1_ema[k]) for k in epoch3_model)
        assert same == (start == "best")
        if start == "best":
            assert all(torch.equal(epoch3_ema[k], after_epoch1_ema[k]) for k in epoch3_ema)
    with pytest.raises(ConfigError, match="training.final_stage_start"):
        load_config(base=small_config(emt_files, tmp_path / "bad", final_stage_start="middle"))


def test_stratified_validation_split(emt_files, tmp_path):
    """training.valid_split=stratified: the trainer stratifies each config_type by force RMS."""
    from ridgeline.data import frame_config_types, frame_strata, split_frames

    config = load_config(base=small_config(emt_files, tmp_path, valid_fraction=0.3, valid_split="stratified", seed=2))
    trainer = Trainer(config, progress=False)
    trainer.load_data()
    frames = read_frames(emt_files["train"])
    _, expected = split_frames(len(frames), 0.3, 2, mode="stratified", groups=frame_config_types(frames), strata=frame_strata(frames))
    assert trainer.valid_frames.indices == expected.tolist() and len(expected) == round(0.3 * len(frames))


def test_huber_force_loss(emt_files, tmp_path):
    """training.forces_loss=huber: the squared error below huber_delta, linear (slope 2 delta) above,
    in the training loss and the validation loss alike; bad values are config errors."""
    from ridgeline.training.loss import penalty

    diff = torch.tensor([-0.3, -0.004, 0.0, 0.002, 0.5], dtype=torch.float64)
    torch.testing.assert_close(penalty(diff), diff**2)
    small = diff.abs() <= 0.01
    huber = penalty(diff, "huber", 0.01)
    torch.testing.assert_close(huber[small], diff[small] ** 2)
    torch.testing.assert_close(huber[~small], 0.02 * diff[~small].abs() - 1e-4)

    from types import SimpleNamespace

    from ridgeline.training.loss import WeightedLoss
    from ridgeline.training.trainer import validation_loss

    p = SimpleNamespace(energy_pred=np.array([1.0]), energy_ref=np.array([1.0]), n_atoms=np.array([1]),
                        forces_pred=np.array([[0.3, -0.004, 7.0]]), forces_ref=np.array([[0.0, 0.0, np.nan]]))  # a missing label is skipped
    loss = WeightedLoss(1.0, 2.0, forces_loss="huber", huber_delta=0.01)
    assert validation_loss(p, loss) == pytest.approx(2.0 * ((0.02 * 0.3 - 1e-4) + 0.004**2) / 2)
    p.forces_pred = np.array([[np.inf, 0.0, 7.0]])  # a diverged prediction is never skipped
    assert validation_loss(p, loss) == np.inf
    p.forces_pred = np.array([[np.nan, 0.0, 7.0]])  # nor is a NaN one (never a best epoch: NaN < x is false)
    assert np.isnan(validation_loss(p, loss))

    out = tmp_path / "huber"
    _train(small_config(emt_files, out, epochs=2, forces_loss="huber", huber_delta=0.05, final_stage=None))
    rows = _history(out)
    assert all(np.isfinite(float(r["valid_loss"])) for r in rows)
    trainer = Trainer(load_config(base=small_config(emt_files, out, forces_loss="huber", huber_delta=0.05)), progress=False)
    assert trainer.loss.forces_loss == "huber" and trainer.final_loss.huber_delta == 0.05
    for bad, match in ((dict(forces_loss="l3"), "training.forces_loss"), (dict(huber_delta=0.0), "training.huber_delta")):
        with pytest.raises(ConfigError, match=match):
            load_config(base=small_config(emt_files, tmp_path / "bad", **bad))


def test_stress_is_fitted_where_labelled(emt_files, tmp_path):
    """training.stress_weight > 0: frames without a stress label are masked out of the stress term
    (a data set may mix molecules and crystals); if no frame has one, the term is left out with
    a warning that names the file and key."""
    from ase.io import read, write

    from ridgeline.training.loss import WeightedLoss
    from ridgeline.data import collate, frame_to_graph

    frames = read(emt_files["train"], ":")
    for atoms in frames[::2]:
        del atoms.info["REF_stress"]
    mixed = tmp_path / "mixed.xyz"
    write(mixed, frames, format="extxyz")
    graphs = [frame_to_graph(f, 4.5) for f in read_frames(mixed, require=("energy", "forces"))[:4]]
    batch = collate(graphs, dtype=torch.float64)
    assert WeightedLoss(1.0, 1.0, 10.0).counts(batch)[2] == 9.0 * 2  # two of the four frames carry a stress

    out = tmp_path / "stress"
    _train({**small_config(emt_files, out, epochs=2, stress_weight=10.0), "train_file": str(mixed)})
    rows = _history(out)
    assert all(np.isfinite(r["train_stress"]) and r["train_stress"] > 0 for r in rows)

    for atoms in frames:
        atoms.info.pop("REF_stress", None)
    none = tmp_path / "none.xyz"
    write(none, frames, format="extxyz")
    out = tmp_path / "no_stress"
    with pytest.warns(UserWarning, match=r"none\.xyz: no training frame carries a stress \(key 'REF_stress'\)"):
        _train({**small_config(emt_files, out, epochs=1, stress_weight=10.0), "train_file": str(none)})
    assert "train_stress" not in _history(out)[0]


def test_stress_is_fitted_by_default_where_frames_carry_one(emt_files, tmp_path):
    """training.stress_weight unset: loss.DEFAULT_STRESS_WEIGHT for data with stress labels; data
    without any (molecules) trains without the term and without a warning."""
    import warnings

    from ase.io import read, write

    from ridgeline.training.loss import DEFAULT_STRESS_WEIGHT

    out = tmp_path / "with"
    trainer = Trainer(load_config(base=small_config(emt_files, out, epochs=1)), progress=False)
    trainer.run()
    assert trainer.loss.weights["stress"] == trainer.final_loss.weights["stress"] == DEFAULT_STRESS_WEIGHT
    assert _history(out)[0]["train_stress"] > 0
    frames = read(emt_files["train"], ":")
    for atoms in frames:
        del atoms.info["REF_stress"]
    none = tmp_path / "none.xyz"
    write(none, frames, format="extxyz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer = Trainer(load_config(base={**small_config(emt_files, tmp_path / "without", epochs=1), "train_file": str(none)}),
                          progress=False)
        trainer.run()
    assert trainer.loss.weights["stress"] == 0.0 and "train_stress" not in _history(tmp_path / "without")[0]


def test_deviatoric_stress_ignores_an_isotropic_offset(emt_files, tmp_path):
    """training.stress_components=deviatoric: the stress term sees the traceless part of the error
    only, in the training loss and the validation loss alike, so labels offset by a pressure (a
    plane-wave code's Pulay stress) train the same weights; a shear error still counts."""
    from types import SimpleNamespace

    from ase.io import read, write

    from ridgeline import keys
    from ridgeline.training.loss import WeightedLoss
    from ridgeline.training.trainer import validation_loss

    eye = torch.eye(3, dtype=torch.float64)
    shear = torch.tensor([[0.0, 0.01, 0.0], [0.01, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    batch = {keys.N_ATOMS: torch.tensor([2]), keys.ENERGY: torch.zeros(1), keys.HAS_ENERGY: torch.tensor([True]),
             keys.FORCES: torch.zeros(2, 3), keys.HAS_FORCES: torch.tensor([True, True]),
             keys.STRESS: (0.03 * eye)[None], keys.HAS_STRESS: torch.tensor([True])}
    pred = {keys.ENERGY: torch.zeros(1), keys.FORCES: torch.zeros(2, 3), keys.STRESS: (shear - 0.02 * eye)[None]}
    full, dev = WeightedLoss(0.0, 0.0, 1.0), WeightedLoss(0.0, 0.0, 1.0, stress_components="deviatoric")
    assert full(pred, batch)[1]["stress"] == pytest.approx((3 * 0.05**2 + 2 * 0.01**2) / 9)
    assert dev(pred, batch)[1]["stress"] == pytest.approx(2 * 0.01**2 / 9)  # the pressure part is gone, the shear is not
    voigt = lambda t: np.array([[t[0, 0], t[1, 1], t[2, 2], t[1, 2], t[0, 2], t[0, 1]]])  # noqa: E731
    p = SimpleNamespace(energy_pred=np.zeros(1), energy_ref=np.zeros(1), n_atoms=np.array([2]),
                        forces_pred=np.zeros((2, 3)), forces_ref=np.zeros((2, 3)),
                        stress_pred=voigt(shear - 0.02 * eye), stress_ref=voigt(0.03 * eye))
    assert validation_loss(p, dev) == pytest.approx(0.01**2 / 6)
    assert validation_loss(p, full) == pytest.approx((3 * 0.05**2 + 0.01**2) / 6)

    frames = read(emt_files["train"], ":")
    for atoms in frames:
        atoms.info["REF_stress"] = atoms.info["REF_stress"] + np.array([0.004] * 3 + [0.0] * 3)
    shifted = tmp_path / "shifted.xyz"
    write(shifted, frames, format="extxyz")
    runs = {}
    for name, train_file in (("plain", emt_files["train"]), ("shifted", shifted)):
        for components in ("full", "deviatoric"):
            out = tmp_path / f"{name}_{components}"
            _train({**small_config(emt_files, out, epochs=2, stress_weight=10.0, stress_components=components),
                    "train_file": str(train_file)})
            runs[name, components] = _weights(out)
    a, b = runs["plain", "deviatoric"], runs["shifted", "deviatoric"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)
    a, b = runs["plain", "full"], runs["shifted", "full"]
    assert any(not torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-5) for k in a)  # the full stress sees the offset
    with pytest.raises(ConfigError, match="training.stress_components"):
        load_config(base=small_config(emt_files, tmp_path / "bad", stress_components="trace"))


def test_amsgrad_trains_and_resumes_exactly(emt_files, tmp_path, monkeypatch):
    """training.amsgrad: Adam with the running maximum of its second moments (MACE's default); its
    extra state is checkpointed, so an interrupted run resumes to the same weights."""
    full = tmp_path / "full"
    _train(small_config(emt_files, full, amsgrad=True))
    state = load_checkpoint(full / "checkpoint.pt")["optimizer"]["state"]
    assert state and all("max_exp_avg_sq" in s for s in state.values())
    plain = tmp_path / "plain"
    _train(small_config(emt_files, plain))
    a, b = _weights(full), _weights(plain)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the optimizer took other steps

    cut = tmp_path / "cut"
    _interrupted_then_resumed(small_config(emt_files, cut, amsgrad=True), 2, monkeypatch)
    a, b = _weights(full), _weights(cut)
    assert all(torch.equal(a[k], b[k]) for k in a)

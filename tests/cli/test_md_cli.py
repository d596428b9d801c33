"""``ridgeline md``: the files a run writes, resuming a killed run exactly, biased NPT, uncertain
frames from a model with uncertainties, blow-ups (exit 3) and bad input (exit 2), all on small
EMT cells."""

import json

import numpy as np
import pytest
import yaml
from ase.io import read

from ridgeline.cli.main import main
from ridgeline.simulate.md_files import LOG_COLUMNS, STATE_FILE

BASE = {"structure": "Cu", "supercell": 2, "ensemble": "nve", "steps": 40, "timestep": 2.0, "temperature": 500.0,
        "interval": 5}


def config(tmp_path, name="c.yaml", **changes):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({**BASE, "output_dir": str(tmp_path / "run"), **changes}))
    return str(path)


def md(capsys, *argv):
    code = main(["md", *argv, "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def state(directory):
    with np.load(directory / STATE_FILE) as data:
        return {k: data[k].copy() for k in data.files}


def test_run_writes_trajectory_log_summary_and_plot(tmp_path, capsys):
    code, out, err = md(capsys, config(tmp_path))
    assert code == 0, err
    run = tmp_path / "run"
    frames = read(run / "trajectory.extxyz", ":")
    assert [f.info["step"] for f in frames] == list(range(0, 41, 5)) and len(frames[0]) == 32
    last = frames[-1]
    assert last.get_momenta().shape == (32, 3) and np.abs(last.get_momenta()).max() > 0
    assert np.isfinite(last.get_potential_energy()) and last.get_forces().shape == (32, 3)
    assert last.get_stress().shape == (6,)
    log = np.loadtxt(run / "md.log", ndmin=2)
    assert (run / "md.log").read_text().startswith("# " + " ".join(LOG_COLUMNS))
    np.testing.assert_array_equal(log[:, 0], np.arange(0, 41, 5))
    np.testing.assert_allclose(log[:, 4], log[:, 2] + log[:, 3], rtol=1e-9)
    assert np.all(np.isfinite(log[:, 6])) and np.all(np.isnan(log[:, 7]))  # a pressure; EMT gives no sigma
    summary = json.loads((run / "summary.json").read_text())
    assert summary == json.loads(out)
    assert summary["status"] == "completed" and summary["steps"] == 40 and summary["n_atoms"] == 32
    assert abs(summary["energy_drift"]) < 5.0 and summary["mean_pressure"] is not None  # meV/atom/ps, GPa
    assert summary["out_of_domain_steps"] == 0 and summary["max_forces_sigma"] is None
    assert (run / "energy.png").stat().st_size > 0 and (run / "config.yaml").exists()
    assert not (run / "uncertain.extxyz").exists()
    # a finished run is not overwritten
    code, _, err = md(capsys, config(tmp_path))
    assert code == 2 and "holds a finished run" in err and "--resume" in err


@pytest.mark.parametrize("ensemble, extra", [("nve", {}), ("langevin", {"friction": 0.02})])
@pytest.mark.parametrize("model", ["emt", "trained"])
def test_killed_and_resumed_run_equals_an_uninterrupted_one(tmp_path, capsys, ensemble, extra, model, request):
    """NVE and Langevin (its generator's state restored) continue from the exact positions, momenta
    and cell, whether resumed by --resume after a shorter run or automatically after a kill that
    left half a frame behind. With a ridgeline model (a fresh neighbour list each call) the resumed
    run is the uninterrupted one bit for bit; EMT keeps a neighbour list with a skin between calls,
    whose pair order changes the last bits of its sums, so there the two agree to rounding."""
    if model == "trained":
        extra = {**extra, "model": str(request.getfixturevalue("trained_model")), "max_force": None}
    whole = tmp_path / "whole"
    assert md(capsys, config(tmp_path, "a.yaml", ensemble=ensemble, output_dir=str(whole), **extra))[0] == 0
    half = tmp_path / "half"
    half_config = config(tmp_path, "b.yaml", ensemble=ensemble, output_dir=str(half), **extra)
    assert md(capsys, half_config, "steps=20")[0] == 0
    code, _, err = md(capsys, half_config, "--resume")
    assert code == 0 and "resuming" in err and "from step 20" in err
    killed = tmp_path / "killed"
    killed_config = config(tmp_path, "c.yaml", ensemble=ensemble, output_dir=str(killed), **extra)
    assert md(capsys, killed_config, "steps=25")[0] == 0
    (killed / "summary.json").unlink()  # as if killed before the end ...
    with open(killed / "trajectory.extxyz", "a") as handle:  # ... in the middle of writing a frame
        handle.write("32\nLattice=\"7.2 0 0 0 7.2 0 0 0 7.2\" Properties=species:S:1:pos:R:3\nCu 0.0 0.")
    assert md(capsys, killed_config)[0] == 0  # resumed automatically
    final = state(whole)
    same = np.testing.assert_array_equal if model == "trained" else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12))
    for directory in (half, killed):
        resumed = state(directory)
        assert int(resumed["step"]) == 40
        for key in ("positions", "momenta", "cell"):
            same(resumed[key], final[key])
        np.testing.assert_array_equal(np.loadtxt(directory / "md.log")[:, 0], np.arange(0, 41, 5))
        same(np.loadtxt(directory / "md.log"), np.loadtxt(whole / "md.log"))
        assert len(read(directory / "trajectory.extxyz", ":")) == 9
        assert json.loads((directory / "summary.json").read_text())["steps"] == 40


def test_umbrella_at_constant_pressure(tmp_path, capsys):
    path = config(tmp_path, ensemble="npt_mtk", pressure=1.0, tau_p=200.0, temperature=100.0, steps=30,
                  bias={"i": 0, "j": 1, "center": 2.9, "k": 2.0})
    code, out, err = md(capsys, path)
    assert code == 0, err
    log = np.loadtxt(tmp_path / "run" / "md.log", ndmin=2)
    assert np.all(np.isfinite(log[:, 6]))
    cells = [f.cell.volume for f in read(tmp_path / "run" / "trajectory.extxyz", ":")]
    assert cells[-1] != cells[0]  # the barostat moved the cell


def test_uncertain_frames_from_a_model_with_uncertainties(tmp_path, capsys):
    import torch

    from ridgeline.data import read_frames
    from ridgeline.models import Ensemble, build_model
    from ridgeline.uncertainty import UncertaintyModel

    members = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        members.append(build_model("bpnn", [29], preset="small", cutoff=4.5).double().eval())
    model = tmp_path / "ens.safetensors"
    UncertaintyModel(Ensemble(members), alpha={"energy": 2.0, "forces": 1.0}).save(model)
    code, _, err = md(capsys, config(tmp_path, model=str(model), ensemble="langevin", friction=0.05, steps=10,
                                     temperature=100.0, max_forces_sigma=1e-9, max_force=None,
                                     max_temperature_factor=None))
    assert code == 0, err
    run = tmp_path / "run"
    frames = read(run / "trajectory.extxyz", ":")
    assert frames[0].arrays["forces_sigma"].shape[0] == 32
    uncertain = read_frames(run / "uncertain.extxyz", require=())
    # every recorded step after the start (a perfect crystal: zero forces, zero sigma) is over 1e-9 eV/Å
    assert [f.info["step"] for f in read(run / "uncertain.extxyz", ":")] == [5, 10] and len(uncertain) == 2
    np.testing.assert_array_equal(np.loadtxt(run / "md.log")[:, 8], [0, 1, 1])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["out_of_domain_steps"] == 2 and summary["max_forces_sigma"] > 0
    # an element the model does not know
    code, _, err = md(capsys, config(tmp_path, model=str(model), structure="Ag", output_dir=str(tmp_path / "ag")))
    assert code == 2 and "Ag" in err and "not known to" in err and "Traceback" not in err


def test_explosion_exits_3_naming_the_step_and_keeps_the_files(tmp_path, capsys):
    code, _, err = md(capsys, config(tmp_path, timestep=30.0, temperature=2000.0, steps=60))
    assert code == 3
    assert "exploded at step 4 (120 fs)" in err and len(err.strip().splitlines()) == 1
    run = tmp_path / "run"
    assert len(read(run / "trajectory.extxyz", ":")) == 1 and (run / "exploded.extxyz").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "exploded" and summary["reason"].startswith("step 4")
    code, _, err = md(capsys, config(tmp_path, timestep=30.0, temperature=2000.0, steps=60), "--resume")
    assert code == 2 and "did not complete" in err


@pytest.mark.parametrize("changes, message", [
    ({"temprature": 300.0}, "unknown config key 'temprature'; valid keys: structure, supercell, model"),
    ({"structure": "Fe"}, "EMT has no parameters for Fe"),
    ({"structure": "H2O", "ensemble": "npt_langevin"}, "needs the stress, so a cell periodic in all three directions"),
    ({"structure": "no_such_thing"}, "not a file, nor a chemical symbol"),
    ({"ensemble": "nve", "friction": 0.1}, "'nve' has no parameter friction"),
    ({"bias": {"i": 0, "j": 99}}, "two different indices below 32"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, changes, message):
    code, _, err = md(capsys, config(tmp_path, **changes))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_overrides_and_resume_without_a_run(tmp_path, capsys):
    code, _, err = md(capsys, config(tmp_path), "--resume")
    assert code == 2 and "no run to resume" in err
    code, out, _ = md(capsys, config(tmp_path), "steps=10", "ensemble=langevin", "friction=0.02")
    assert code == 0 and json.loads(out)["steps"] == 10 and json.loads(out)["ensemble"] == "langevin"


def test_min_distance_is_a_blow_up(tmp_path, capsys):
    """Atoms closer than min_distance (here above Cu's 2.55 Å nearest-neighbour distance) end the run
    at the first check."""
    code, _, err = md(capsys, config(tmp_path, min_distance=2.6))
    assert code == 3 and "exploded at step 0 (0 fs): atoms closer than 2.6 Å" in err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(), parse_constant=pytest.fail)
    assert summary["status"] == "exploded" and summary["mean_temperature"] is None


def test_min_distance_defaults_to_the_model_files_zbl_switch(tmp_path):
    import torch

    from ridgeline.models import build_model
    from ridgeline.models.io import save_model
    from ridgeline.simulate.md_config import build_calculator, build_structure, load_md_config

    torch.manual_seed(0)
    model = build_model("moment", [29], preset="small", cutoff=4.5, zbl=True).double()
    path = save_model(model, tmp_path / "moment.safetensors")
    cfg = load_md_config(None, [f"model={path}", "supercell=2"])
    _, closest = build_calculator(cfg, build_structure(cfg))
    switch = [m.switch_radius for m in model.modules() if hasattr(m, "switch_radius")]
    assert len(switch) == 1 and closest == pytest.approx(float(switch[0].min()))
    cfg = load_md_config(None, ["supercell=2"])
    assert build_calculator(cfg, build_structure(cfg))[1] is None  # EMT: the driver's default

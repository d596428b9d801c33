"""The command line: help, train/eval round trip, and clear errors (exit 2, no traceback) for bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
from ase.io import read, write

from ridgeline.cli.main import SUBCOMMANDS, main


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_documents_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert "usage: ridgeline " + name in capsys.readouterr().out


def test_eval_json(trained_model, emt_files, capsys):
    code, out, _ = _run(["eval", str(trained_model), str(emt_files["test"]), "--json"], capsys)
    assert code == 0
    result = json.loads(out)
    for key in ("energy_mae", "energy_rmse", "forces_mae", "forces_rmse", "n_frames"):
        assert key in result
    assert result["n_frames"] == len(read(emt_files["test"], ":"))
    assert result["energy_rmse"] >= result["energy_mae"] > 0
    assert set(result["per_config_type"]) >= {"md_300K", "strained"}
    assert result["per_config_type"]["strained"]["n_frames"] > 0


def test_train_cli_prints_model_path(emt_files, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"train_file: {emt_files['train']}\ntest_file: {emt_files['test']}\noutput_dir: {tmp_path / 'out'}\nmodel:\n  name: bpnn\n")
    code, out, err = _run(["train", str(config), "training.epochs=1", "model.preset=small", "--no-progress"], capsys)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(tmp_path / "out" / "model.safetensors")


def _frames(emt_files):
    return read(emt_files["test"], ":")


def _bad_file(tmp_path, emt_files, mutate, name="bad.xyz"):
    frames = _frames(emt_files)
    mutate(frames)
    path = tmp_path / name
    write(path, frames, format="extxyz")
    return path


def _nan_forces(f):
    f[2].arrays["REF_forces"][1, 0] = np.nan


def _close_atoms(f):
    f[1].positions[3] = f[1].positions[0] + [0.1, 0.0, 0.0]


def _flat_cell(f):
    f[1].set_cell([[3.6, 0, 0], [7.2, 0, 0], [0, 0, 3.6]], scale_atoms=False)


def _misspelt(f):
    f[0].info["REF_enrgy"] = f[0].info.pop("REF_energy")


def _gold(f):
    f[1].numbers[0] = 79


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (_misspelt, ["bad.xyz", "frame 0", "REF_enrgy", "REF_energy"]),
        (_nan_forces, ["bad.xyz", "2", "NaN", "forces"]),
        (_close_atoms, ["bad.xyz", "1", "0.1"]),
        (_flat_cell, ["bad.xyz", "1", "cell"]),
        (_gold, ["bad.xyz", "1", "Au"]),
    ],
)
def test_eval_bad_data_is_a_clear_error(trained_model, emt_files, tmp_path, capsys, mutate, expected):
    path = _bad_file(tmp_path, emt_files, mutate)
    code, _, err = _run(["eval", str(trained_model), str(path)], capsys)
    assert code == 2
    assert "Traceback" not in err and err.startswith("ridgeline eval: error:")
    for word in expected:
        assert word in err, (word, err)


def test_wrong_force_shape_is_a_clear_error(trained_model, emt_files, tmp_path, capsys):
    frames = _frames(emt_files)
    path = tmp_path / "shape.xyz"
    # a frame whose forces are per-frame info with the wrong shape
    frames[1].info["REF_forces"] = np.zeros(6)
    del frames[1].arrays["REF_forces"]
    write(path, frames, format="extxyz")
    code, _, err = _run(["eval", str(trained_model), str(path)], capsys)
    assert code == 2 and "shape.xyz" in err and "1" in err and "(" in err and "Traceback" not in err


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_bad_model_file_is_a_clear_error(trained_model, emt_files, tmp_path, capsys, damage):
    path = tmp_path / "model.safetensors"
    data = trained_model.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a model" * 100)
    code, _, err = _run(["eval", str(path), str(emt_files["test"])], capsys)
    assert code == 2 and str(path) in err and "Traceback" not in err


def test_train_bad_config_key_exits_2(emt_files, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"train_file: {emt_files['train']}\nepochz: 3\n")
    code, _, err = _run(["train", str(config)], capsys)
    assert code == 2 and "epochz" in err and "valid keys" in err


def test_train_bad_data_exits_2_without_traceback(emt_files, tmp_path):
    """The installed console script, as a user runs it."""
    path = _bad_file(tmp_path, emt_files, _nan_forces, name="nan.xyz")
    config = tmp_path / "c.yaml"
    config.write_text(f"train_file: {path}\noutput_dir: {tmp_path / 'out'}\n")
    result = subprocess.run([sys.executable, "-m", "ridgeline.cli.main", "train", str(config)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "nan.xyz" in result.stderr and "NaN" in result.stderr


def test_eval_check_stress_names_a_file_whose_shear_order_is_swapped(trained_model, emt_files, tmp_path, capsys):
    code, out, err = _run(["eval", str(trained_model), str(emt_files["test"]), "--check-stress", "--json"], capsys)
    assert code == 0 and "warning" not in err
    check = json.loads(out)["stress_labels"]
    assert check and not any(c["flagged"] for c in check.values())

    def swap(frames):
        for atoms in frames:
            atoms.info["REF_stress"] = atoms.info["REF_stress"][[0, 1, 2, 4, 3, 5]]

    path = _bad_file(tmp_path, emt_files, swap, "swapped.xyz")
    code, out, err = _run(["eval", str(trained_model), str(path), "--check-stress"], capsys)
    assert code == 0 and "stress labels against the model's stresses" in out
    assert f"warning: {path}: config_type " in err and "(xz yz xy)" in err


def test_eval_check_stress_calls_a_group_without_shear_labels_undecidable(trained_model, emt_files, tmp_path, capsys):
    """A config_type whose stress labels are isotropic (no shear) cannot tell shear orders apart:
    it is reported as undecidable, with no nan numbers and no best order, and never flagged."""
    groups = {atoms.info["config_type"] for atoms in _frames(emt_files)}
    hydrostatic = sorted(groups)[0]

    def isotropic(frames):
        for atoms in frames:
            if atoms.info["config_type"] == hydrostatic:
                p = atoms.info["REF_stress"][:3].mean()
                atoms.info["REF_stress"] = np.array([p, p, p, 0.0, 0.0, 0.0])

    path = _bad_file(tmp_path, emt_files, isotropic, "isotropic.xyz")
    code, out, err = _run(["eval", str(trained_model), str(path), "--check-stress", "--json"], capsys)
    assert code == 0 and "NaN" not in out and "warning" not in err
    check = json.loads(out)["stress_labels"]
    group = check[hydrostatic]
    assert group["undecidable"] and group["n_decidable"] == 0 and not group["flagged"]
    assert group["best_other_order"] is None and group["shear_mae_as_given"] is None and group["shear_mae_best_other"] is None
    others = [c for ct, c in check.items() if ct != hydrostatic]
    assert others and all(not c["undecidable"] and c["best_other_order"] for c in others if c["n_decidable"])

    code, out, err = _run(["eval", str(trained_model), str(path), "--check-stress"], capsys)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith(f"| {hydrostatic} |"))
    assert "undecidable" in row and "nan" not in row.lower()
    for order in ("yz", "xz", "xy"):
        assert order not in row


def test_overrides_are_accepted_anywhere_on_the_line(tmp_path, capsys):
    """key=value after an option is an override for every subcommand that takes them; an unknown
    option or a stray word is still an error."""
    from ridgeline.cli.main import build_parser, parse_args

    parser = build_parser()
    args = parse_args(parser, ["train", "cfg.yaml", "training.lr=1e-3", "--ensemble", "2", "training.max_time=1", "--no-progress",
                               "model.preset=small"])
    assert args.config == "cfg.yaml" and args.ensemble == 2 and args.no_progress
    assert args.overrides == ["training.lr=1e-3", "training.max_time=1", "model.preset=small"]
    before = parse_args(parser, ["train", "training.lr=1e-3", "model.preset=small", "cfg.yaml", "--ensemble", "2", "training.max_time=1"])
    assert before.config == "cfg.yaml" and before.overrides == ["training.lr=1e-3", "model.preset=small", "training.max_time=1"]
    assert parse_args(parser, ["al", "run", "al.yaml", "--no-progress", "stop.max_iterations=2"]).overrides == ["stop.max_iterations=2"]
    resume = parse_args(parser, ["al", "resume", "run", "--no-progress", "stop.max_iterations=3"])
    assert resume.directory == "run" and resume.overrides == ["stop.max_iterations=3"]
    demo = parse_args(parser, ["demo", "--kind", "active", "stop.max_iterations=2", "--seed", "1", "explore.walkers=2"])
    assert demo.overrides == ["stop.max_iterations=2", "explore.walkers=2"] and demo.seed == 1
    # al run without a config file (the embedded example): the first override is not a file name
    assert main(["al", "run", "select.method=nope", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown selector 'nope'" in err and "not found" not in err
    for argv in (["train", "cfg.yaml", "--ensemble", "2", "--bogus"], ["train", "cfg.yaml", "--ensemble", "2", "stray"],
                 ["eval", "model.safetensors", "data.xyz", "--json", "energy=1"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_train_cli_takes_overrides_after_options(emt_files, tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"train_file: {emt_files['train']}\noutput_dir: {tmp_path / 'out'}\nmodel:\n  name: bpnn\n")
    code, out, err = _run(["train", str(config), "--no-progress", "training.epochs=1", "model.preset=small"], capsys)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(tmp_path / "out" / "model.safetensors")
    assert "epochs: 1" in (tmp_path / "out" / "config.yaml").read_text()

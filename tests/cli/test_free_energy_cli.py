"""``ridgeline umbrella`` and ``ridgeline ti`` end to end on EMT: the files they write, worker
processes giving what one process gives, reruns that reuse finished runs, and bad input (exit 2)."""

import json
import re

import numpy as np
import pytest
import yaml

from ridgeline.cli.main import main

UMBRELLA = {"structure": "H2O", "model": "emt", "cv": {"kind": "angle", "atoms": [1, 0, 2]}, "lower": 1.6,
            "upper": 2.2, "windows": 4, "k": 5.0, "steps": 60, "equilibration": 10, "pull_steps": 10, "bins": 10}
TI = {"mode": "solid", "structure": "Cu", "model": "emt", "points": 3, "steps": 60, "equilibration": 10,
      "spring_steps": 60, "timestep": 2.0}


def write(tmp_path, data, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**data, "output_dir": str(tmp_path / name)}))
    return str(path)


def test_umbrella_writes_the_profile_and_reuses_finished_windows(tmp_path, capsys):
    config = write(tmp_path, UMBRELLA, "serial")
    assert main(["umbrella", config]) == 0
    out = tmp_path / "serial"
    summary = json.loads((out / "profile.json").read_text())
    assert (out / "profile.png").stat().st_size > 0 and (out / "config.yaml").exists()
    profile = summary["profile"]
    assert len(profile["centers"]) == 4 and len(summary["windows"]) == 4
    assert np.nanmin(np.array(profile["free_energy"], dtype=float)) == 0.0
    assert all(w["n_samples"] == 60 for w in summary["windows"])
    assert np.array(profile["overlap"]).shape == (4, 4)
    windows = sorted((out / "windows").glob("window_*.npz"))
    stamps = [p.stat().st_mtime_ns for p in windows]
    assert main(["umbrella", config]) == 0  # a rerun loads every window
    assert [p.stat().st_mtime_ns for p in windows] == stamps
    assert json.loads((out / "profile.json").read_text())["profile"] == profile
    # two worker processes give the windows one process gives
    parallel = write(tmp_path, {**UMBRELLA, "workers": 2}, "parallel")
    assert main(["umbrella", parallel]) == 0
    assert json.loads((tmp_path / "parallel" / "profile.json").read_text())["profile"] == profile
    # another k is another run: its windows are run again
    assert main(["umbrella", config, "k=6.0"]) == 0
    assert [p.stat().st_mtime_ns for p in windows] != stamps


def test_ti_solid_and_alchemical(tmp_path, capsys):
    assert main(["ti", write(tmp_path, TI, "solid")]) == 0
    result = json.loads((tmp_path / "solid" / "ti.json").read_text())
    assert result["n_atoms"] == 4 and len(result["integration"]["lambdas"]) == 3
    total = result["einstein"] + result["integration"]["delta_f"] + result["center_of_mass"]
    assert result["free_energy"] == pytest.approx(total)
    assert (tmp_path / "solid" / "ti.png").stat().st_size > 0
    # the same model at both ends: the integrand vanishes at every step
    alchemical = write(tmp_path, {**TI, "mode": "alchemical", "reference_model": "emt"}, "alchemical")
    assert main(["ti", alchemical]) == 0
    result = json.loads((tmp_path / "alchemical" / "ti.json").read_text())
    assert result["delta_f"] == 0.0 and result["error"] == 0.0


@pytest.mark.parametrize("command, data, override, message", [
    ("umbrella", UMBRELLA, "cv.kind=torsion", "unknown collective variable 'torsion'"),
    ("umbrella", UMBRELLA, "cv.atoms=[1,0,9]", r"atom indices \[9\] are not in a structure of 3 atoms"),
    ("umbrella", {**UMBRELLA, "lower": None}, "windows=4", "give 'centers', or 'lower' and 'upper'"),
    ("umbrella", UMBRELLA, "ensemble=nve", "needs a thermostat"),
    ("ti", TI, "mode=melt", "config key 'mode': 'melt'"),
    ("ti", TI, "springs=[1]", "config key 'springs': expected float or dict"),
    ("ti", {**TI, "structure": "H2O"}, "mode=solid", "periodic in all three directions"),
])
def test_bad_input_is_one_line(tmp_path, capsys, command, data, override, message):
    assert main([command, write(tmp_path, data, "bad"), override]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(message, err), err


def test_umbrella_with_a_committee_reports_the_models_band(tmp_path, capsys, ensemble_file):
    from ase import Atoms
    from ase.io import write as write_structure

    structure = tmp_path / "cu4.extxyz"
    write_structure(structure, Atoms("Cu4", positions=[[0, 0, 0], [2.5, 0, 0], [1.25, 2.1, 0], [1.25, 0.7, 2.0]]))
    data = {"structure": str(structure), "model": str(ensemble_file), "cv": {"kind": "distance", "atoms": [0, 1]},
            "lower": 2.3, "upper": 2.9, "windows": 3, "k": 4.0, "steps": 40, "equilibration": 5, "pull_steps": 5,
            "bins": 6, "frame_every": 4, "draws": 50, "timestep": 1.0}
    assert main(["umbrella", write(tmp_path, data, "committee")]) == 0
    summary = json.loads((tmp_path / "committee" / "profile.json").read_text())
    band = summary["model_uncertainty"]
    assert band["frames"] == 30 and band["draws"] == 50
    f = np.array(summary["profile"]["free_energy"], dtype=float)
    ok = np.isfinite(f)
    assert np.all(np.array(band["lower"], float)[ok] <= f[ok] + 1e-12)
    assert "model's 95% interval" in capsys.readouterr().out
    assert all(w["max_forces_sigma"] > 0 for w in summary["windows"])

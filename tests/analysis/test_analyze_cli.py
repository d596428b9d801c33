"""``ridgeline analyze`` end to end on a small extxyz, and its one-line errors (exit 2)."""

import json

import numpy as np
import pytest
from ase import Atoms, units
from ase.io import write

from ridgeline.cli.main import main


@pytest.fixture(scope="module")
def trajectory(tmp_path_factory):
    """60 frames of 8 Li and 8 Cl on random walks, wrapped, with velocities, 10 fs apart."""
    rng = np.random.default_rng(0)
    symbols = ["Li"] * 8 + ["Cl"] * 8
    path = rng.uniform(0, 8.0, (16, 3)) + np.cumsum(rng.normal(scale=0.05, size=(60, 16, 3)), axis=0)
    frames = []
    for x in path:
        atoms = Atoms(symbols, positions=x, cell=[8.0] * 3, pbc=True)
        atoms.wrap()
        atoms.set_velocities(rng.normal(scale=0.01, size=(16, 3)) / units.fs)
        frames.append(atoms)
    file = tmp_path_factory.mktemp("traj") / "licl.extxyz"
    write(file, frames)
    return file


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_analyze_writes_json_markdown_and_plots(trajectory, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = _run(["analyze", str(trajectory), "--rdf", "--msd", "--vacf", "--conductivity",
                              "--charges", "Li=1", "Cl=-1", "--timestep", "1", "--interval", "10", "--blocks", "3",
                              "--r-max", "3.9", "--output-dir", str(out), "--json"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["frames"] == 60 and summary["atoms"] == 16 and summary["frame_interval_fs"] == 10.0
    assert set(summary["rdf"]["first_shell"]) == {"Li-Li", "Li-Cl", "Cl-Li", "Cl-Cl"}
    assert set(summary["msd"]["D_A2_per_ps"]) == {"Li", "Cl", "all"}
    assert summary["msd"]["D_A2_per_ps"]["all"] > 0
    assert set(summary["vdos"]["peak_THz"]) == {"Li", "Cl", "all"}
    conductivity = summary["conductivity"]
    assert conductivity["green_kubo_S_per_m"] != 0 and conductivity["nernst_einstein_S_per_m"] > 0
    assert conductivity["volume_A3"] == pytest.approx(512.0) and conductivity["temperature_K"] > 0
    assert sorted(p.name for p in out.iterdir()) == ["analysis.json", "analysis.md", "msd.png", "rdf.png", "vdos.png"]
    full = json.loads((out / "analysis.json").read_text())
    assert full["summary"] == summary
    assert len(full["curves"]["rdf"]["g"]["Li-Cl"]) == 200
    markdown = (out / "analysis.md").read_text()
    assert "## Ionic conductivity" in markdown and "| Li |" in markdown


def test_analyze_defaults(trajectory, tmp_path, capsys):
    # no analysis named: the RDF, and the MSD when a timestep is given; output beside the trajectory by default
    code, stdout, _ = _run(["analyze", str(trajectory)], capsys)
    assert code == 0 and "Radial distribution" in stdout and "Diffusion" not in stdout
    assert sorted(p.name for p in (trajectory.parent / "licl_analysis").iterdir()) == ["analysis.json", "analysis.md", "rdf.png"]
    code, stdout, _ = _run(["analyze", str(trajectory), "--timestep", "10", "--blocks", "2",
                            "--output-dir", str(tmp_path / "b")], capsys)
    assert code == 0 and "## Diffusion" in stdout
    code, stdout, _ = _run(["analyze", str(trajectory), "--msd", "--timestep", "10", "--blocks", "2", "--remove-drift",
                            "--json", "--output-dir", str(tmp_path / "c")], capsys)
    assert code == 0 and json.loads(stdout)["msd"]["drift_removed"] is True
    assert (tmp_path / "b" / "msd.png").is_file()


def test_analyze_errors(trajectory, tmp_path, capsys):
    code, _, err = _run(["analyze", str(tmp_path / "missing.extxyz")], capsys)
    assert code == 2 and "missing.extxyz: no such trajectory file" in err and "Traceback" not in err

    bad = tmp_path / "bad.extxyz"
    write(bad, [Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]], cell=[5.0] * 3, pbc=True),
                Atoms("Cu3", positions=[[0, 0, 0], [2, 0, 0], [0, 2, 0]], cell=[5.0] * 3, pbc=True)])
    code, _, err = _run(["analyze", str(bad), "--output-dir", str(tmp_path / "x")], capsys)
    assert code == 2 and f"{bad}: frame 1 has 3 atoms, frame 0 has 2" in err

    still = tmp_path / "still.extxyz"
    write(still, [Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]], cell=[5.0] * 3, pbc=True)] * 4)
    code, _, err = _run(["analyze", str(still), "--vacf", "--timestep", "1", "--output-dir", str(tmp_path / "y")], capsys)
    assert code == 2 and f"{still}: frame 0 has no velocities" in err
    assert len(err.strip().splitlines()) == 1

    code, _, err = _run(["analyze", str(trajectory), "--msd", "--output-dir", str(tmp_path / "z")], capsys)
    assert code == 2 and "--msd needs --timestep" in err
    code, _, err = _run(["analyze", str(trajectory), "--conductivity", "--timestep", "1", "--charges", "Li:1"], capsys)
    assert code == 2 and "'Li:1' is not ELEMENT=CHARGE" in err
    code, _, err = _run(["analyze", str(trajectory), "--conductivity", "--timestep", "1", "--charges", "Li=1",
                         "--output-dir", str(tmp_path / "w")], capsys)
    assert code == 2 and "no charge given for Cl" in err
    assert not (tmp_path / "w").exists()  # checked before anything is computed or written


def test_ase_trajectory_files_and_unreadable_files(trajectory, tmp_path, capsys):
    from ase.io import read
    from ase.io.trajectory import Trajectory

    from ridgeline.analysis import load_frames
    from ridgeline.errors import DataError

    frames = read(trajectory, ":")
    traj = tmp_path / "licl.traj"
    with Trajectory(traj, "w") as writer:
        for atoms in frames:
            writer.write(atoms)
    loaded = load_frames(traj)
    assert len(loaded) == 60
    np.testing.assert_allclose(loaded[7].get_velocities(), frames[7].get_velocities())
    code, stdout, err = _run(["analyze", str(traj), "--vacf", "--timestep", "10", "--json",
                              "--output-dir", str(tmp_path / "t")], capsys)
    assert code == 0, err
    assert json.loads(stdout)["frames"] == 60 and "vdos" in json.loads(stdout)

    garbage = tmp_path / "garbage.extxyz"
    garbage.write_text("3\nnot a header\nthis is not xyz\n")
    with pytest.raises(DataError, match="garbage.extxyz: cannot read as a trajectory"):
        load_frames(garbage)
    code, _, err = _run(["analyze", str(trajectory), "--skip", "60", "--output-dir", str(tmp_path / "s")], capsys)
    assert code == 2 and "--skip 60 leaves no frames" in err

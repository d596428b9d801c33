"""``ridgeline phonons`` end to end: EMT Cu as JSON, table and plot; intervals with a committee;
bad input as one line."""

import json

import pytest

from ridgeline.cli.main import main
from ridgeline.properties.phonons import HEADLINE_UNITS


def test_phonons_emt_json_and_plot(tmp_path, capsys):
    plot = tmp_path / "cu.png"
    assert main(["phonons", "emt", "Cu", "--json", "--mesh", "8", "--plot", str(plot), "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stable"] is True and data["formula"] == "Cu" and data["mesh"] == [8, 8, 8]
    assert data["supercell_matrix"] == [[5, 0, 0], [0, 5, 0], [0, 0, 5]]
    assert set(data["estimates"]) == set(HEADLINE_UNITS)
    assert 7 < data["estimates"]["max_frequency"]["value"] < 8.5 and data["estimates"]["max_frequency"]["sigma"] is None
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_phonons_emt_table_with_relaxation(capsys):
    assert main(["phonons", "emt", "Cu", "--relax", "--supercell", "4", "--mesh", "6", "--temperature", "455",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "supercell 4x4x4 (64 atoms)" in text and "stable; lowest frequency" in text
    assert "at 455 K: free energy" in text and "heat_capacity_300K" in text and "warning" not in text


def test_phonons_committee_prints_intervals(ensemble_file, capsys):
    """A committee file (two random Cu models) loads with its uncertainties: intervals from its members."""
    assert main(["phonons", str(ensemble_file), "Cu", "--mesh", "6", "--confidence", "0.9", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "90% interval" in text
    row = next(line for line in text.splitlines() if line.startswith("zero_point_energy"))
    assert "[" in row and "]" in row


@pytest.mark.parametrize("argv, message", [
    (["phonons", "emt", "H2O"], "phonons need a crystal: H2O is not periodic"),
    (["phonons", "emt", "Cu", "--supercell", "1", "2"], "--supercell takes one integer or three"),
    (["phonons", "emt", "Cu", "--mesh", "0"], "mesh must be"),
    (["phonons", "emt", "Cu", "--temperature", "-5"], "--temperature must be >= 0 K"),
    (["phonons", "MODEL", "bulk:Al"], "Al"),
])
def test_bad_input_is_one_line_and_exit_2(ensemble_file, capsys, argv, message):
    argv = [str(ensemble_file) if a == "MODEL" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_compare_vdos_from_a_trajectory(tmp_path, capsys):
    """`--compare-vdos` on an EMT MD trajectory: the same comparison as `compare_vdos`."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.io import write

    from ridgeline.simulate.md import MD

    frames = []
    MD(bulk("Cu", cubic=True).repeat(3), EMT(), "langevin", timestep=5.0, temperature=50.0, seed=1, zero_momentum=True,
       friction=0.002, observers=[lambda step, atoms: frames.append(atoms.copy())]).run(300)
    traj = tmp_path / "md.extxyz"
    write(traj, frames)
    assert main(["phonons", "emt", "Cu", "--supercell", "4", "--mesh", "8", "--compare-vdos", str(traj), "--timestep", "5",
                 "--vdos-plot", str(tmp_path / "vdos.png"), "--json", "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    comparison = out["vdos_comparison"]
    assert 0.5 < comparison["overlap"] <= 1 and comparison["mean_frequency_ratio"] == pytest.approx(1.0, abs=0.15)
    assert (tmp_path / "vdos.png").stat().st_size > 0
    assert main(["phonons", "emt", "Cu", "--compare-vdos", str(traj)]) == 2
    assert "--timestep" in capsys.readouterr().err

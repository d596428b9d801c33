"""``ridgeline defects`` end to end on EMT Cu and a calibrated model; bad input as one line."""

import json

import pytest

from ridgeline.cli.main import main


def test_vacancy_json(capsys):
    assert main(["defects", "emt", "Cu", "--vacancy", "--supercell", "1", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"vacancy", "estimates"}
    assert [c["n_atoms"] for c in data["vacancy"]["cells"]] == [4, 32]
    assert 1.1 < data["estimates"]["vacancy_formation_energy"]["value"] < 1.3
    assert data["estimates"]["vacancy_formation_energy"]["sigma"] is None  # EMT: no interval


def test_surfaces_json_and_plots(tmp_path, capsys):
    assert main(["defects", "emt", "Cu", "--surfaces", "111", "--layers", "2", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"surfaces", "estimates"} and list(data["estimates"]) == ["surface_energy_111"]
    assert 0.8 < data["estimates"]["surface_energy_111"]["value"] < 1.5
    prefix = tmp_path / "cu"
    assert main(["defects", "emt", "Cu", "--interstitial", "--surfaces", "--supercell", "1", "--layers", "2",
                 "--relax-cell", "--plot", str(prefix)]) == 0
    text = capsys.readouterr().out
    assert "octahedral" in text and "surface_energy_110" in text and "interstitial_formation_energy" in text
    assert "GPa" not in text  # the cell relaxed first
    for name in ("interstitial", "surfaces"):
        assert (tmp_path / f"cu_{name}.png").stat().st_size > 0
    assert not (tmp_path / "cu_vacancy.png").exists()


def test_no_selection_runs_all_three(capsys):
    assert main(["defects", "emt", "Cu", "--supercell", "1", "--layers", "2", "--no-relax", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"vacancy", "interstitial", "surfaces", "estimates"} and data["vacancy"]["relaxed"] is False
    assert len(data["estimates"]) == 5


def test_intervals_in_the_table(calibrated_model, capsys):
    assert main(["defects", str(calibrated_model), "Cu", "--supercell", "1", "--layers", "2", "--surfaces", "111",
                 "--vacancy", "--fmax", "0.05", "--confidence", "0.9"]) == 0
    text = capsys.readouterr().out
    assert "vacancy_formation_energy" in text and "surface_energy_111" in text and "(90%)" in text
    assert "one size only" in text and "warning:" in text


@pytest.mark.parametrize("argv, message", [
    (["defects", "emt", "H2O"], "need a crystal periodic in three directions"),
    (["defects", "emt", "Cu", "--surfaces", "1x1"], "three Miller indices"),
    (["defects", "emt", "Cu", "--vacancy", "--supercell", "0"], "a supercell is a positive integer"),
    (["defects", "emt", "no_such_thing"], "not a molecule name"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("ridgeline defects: error:")

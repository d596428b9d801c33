"""``ridgeline elastic`` end to end on EMT and on a calibrated model."""

import json

import pytest

from ridgeline.cli.main import main


def test_json(capsys):
    assert main(["elastic", "emt", "Cu", "--json", "--strains", "-0.005", "0.005"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lattice_system"] == "cubic" and data["space_group"] == 225
    assert set(data["constants"]) == {"C11", "C12", "C44"} and data["constants"]["C11"] > data["constants"]["C12"] > 0
    assert data["summary"]["bulk_modulus_vrh"]["unit"] == "GPa" and data["summary"]["C44"]["sigma"] is None
    assert data["strains"] == [-0.005, 0.005] and "eos" not in data
    assert any("zero stress" in w for w in data["warnings"])  # ase.build.bulk's 3.61 Å is not EMT's minimum


def test_table_eos_relax_and_plots(tmp_path, capsys):
    plot = tmp_path / "cu.png"
    assert main(["elastic", "emt", "Cu", "--eos", "--relax", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "C11" in out and "C44" in out and "bulk_modulus_vrh" in out and "Born stable: yes" in out
    assert "EOS (birchmurnaghan)" in out and "B0" in out and "warning" not in out
    assert plot.read_bytes()[:4] == b"\x89PNG" and (tmp_path / "cu_eos.png").read_bytes()[:4] == b"\x89PNG"


def test_json_with_eos(capsys):
    assert main(["elastic", "emt", "Cu", "--eos", "--relax", "--json", "--strains", "-0.005", "0.005"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["eos"]["lattice_constant"] == pytest.approx(3.590, abs=2e-3)
    assert data["eos"]["bulk_modulus"] == pytest.approx(data["moduli"]["bulk_modulus_vrh"], rel=0.02)


@pytest.mark.parametrize("argv, message", [
    (["emt", "H2O"], "periodic in all three directions"),
    (["emt", "Cu", "--strains", "0.01"], "strains must be"),
    (["emt", "Unobtainium"], "no such file"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    assert main(["elastic", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("ridgeline elastic: error:")


def test_calibrated_model_prints_intervals(calibrated_model, capsys):
    assert main(["elastic", str(calibrated_model), "Cu", "--relax", "--strains", "-0.01", "0.01", "--draws", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("±") >= 7


def test_an_element_the_model_lacks(trained_model, capsys):
    assert main(["elastic", str(trained_model), "Si"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Si" in err and len(err.splitlines()) == 1

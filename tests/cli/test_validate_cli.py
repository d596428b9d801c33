"""``ridgeline validate`` from the command line: the JSON report, exit codes, one-line errors."""

import json

import pytest

from ridgeline.cli.main import main


def test_validate_json_and_exit_code(trained_model, emt_files, tmp_path, capsys):
    out = tmp_path / "val"
    code = main(["validate", str(trained_model), "--reference", "emt", "--quick", "--workflows", "eos",
                 "--data", str(emt_files["test"]), "--tolerance", "bulk_modulus=50%", "--tolerance", "lattice_constant=0.0",
                 "-o", str(out), "--json", "--no-progress"])
    report = json.loads(capsys.readouterr().out)
    rows = {p["name"]: p for p in report["properties"]}
    assert rows["bulk_modulus"]["tolerance"] == "50%" and rows["lattice_constant"]["tolerance"] == 0.0
    assert rows["lattice_constant"]["passed"] is False  # no model matches to 0 Å
    assert code == 1 and report["passed"] is False
    assert report["errors"]["n_frames"] > 0 and json.loads((out / "validation.json").read_text()) == report


def test_validate_only_errors(trained_model, emt_files, tmp_path, capsys):
    code = main(["validate", str(trained_model), "--workflows", "none", "--data", str(emt_files["test"]),
                 "-o", str(tmp_path), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0 and "Errors on the labelled data" in text and "## Properties" not in text


@pytest.mark.parametrize("extra, message", [
    (["--tolerance", "bulk_modulus"], "write NAME=TOL"),
    (["--tolerance", "C11=lots"], "C11"),
    (["--workflows", "eos,magic"], "unknown workflow"),
    (["--reference", "nonsense"], "not a reference calculator"),
    (["--structure", "H2O", "--workflows", "eos"], "need a crystal"),
])
def test_validate_bad_input_is_one_line(trained_model, tmp_path, capsys, extra, message):
    assert main(["validate", str(trained_model), "-o", str(tmp_path), "--no-progress", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1

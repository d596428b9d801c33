"""``ridgeline relax`` and ``ridgeline vibrations`` end to end, on a small untrained model and on EMT."""

import json

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.io import read

from ridgeline.cli.main import main
from ridgeline.models import build_model
from ridgeline.models.io import save_model
from ridgeline.testing.model_tests import batch_of


@pytest.fixture(scope="module")
def water_model(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("moment", [1, 8], preset="small", cutoff=4.0).double()
    model.fit_statistics([batch_of([molecule("H2O")])], np.array([-13.6, -432.0]), np.array([1.0, 1.0]))
    return save_model(model.eval(), tmp_path_factory.mktemp("model") / "m.safetensors")


def test_relax_json_and_output(water_model, tmp_path, capsys):
    out = tmp_path / "relaxed.extxyz"
    code = main(["relax", str(water_model), "H2O", "--optimizer", "newton", "--fmax", "0.01", "--max-steps", "200",
                 "-o", str(out), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["optimizer"] == "newton" and data["hessian_calls"] >= 1
    assert code == (0 if data["converged"] else 1)
    assert len(read(out)) == 3


def test_relax_emt_file_with_cell(tmp_path, capsys):
    from ase.build import bulk
    from ase.io import write

    path = tmp_path / "cu.extxyz"
    write(path, bulk("Cu", "fcc", a=3.7, cubic=True), format="extxyz")
    assert main(["relax", "emt", str(path), "--cell", "--optimizer", "fire", "--fmax", "0.005"]) == 0
    assert "fire converged" in capsys.readouterr().out
    assert main(["relax", "emt", str(path), "--cell"]) == 0
    assert "lbfgs converged" in capsys.readouterr().out  # auto


def test_vibrations_json(water_model, tmp_path, capsys):
    assert main(["vibrations", str(water_model), "H2O", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["method"] == "exact" and data["n_projected"] == 6 and len(data["frequencies_cm"]) == 3
    assert main(["vibrations", "emt", "CO2"]) == 0
    text = capsys.readouterr().out
    assert "4 modes (finite_differences Hessian, 5 rigid motions projected out)" in text


@pytest.mark.parametrize("argv, message", [
    (["relax", "MODEL", "CH4"], "element(s) C that the model was not trained on"),
    (["relax", "MODEL", "H2O", "--cell"], "periodic in all three directions"),
    (["relax", "MODEL", "H2O", "--optimizer", "sd"], "unknown optimizer 'sd'"),
    (["relax", "MODEL", "no_such_thing"], "not a molecule name"),
    (["vibrations", "MODEL", "CH4"], "element(s) C that the model was not trained on"),
    (["vibrations", "emt", "H2O", "--method", "exact"], "EMT has no get_hessian"),
])
def test_bad_input_is_one_line_and_exit_2(water_model, capsys, argv, message):
    argv = [str(water_model) if a == "MODEL" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_vibrations_table_gives_intervals_with_a_committee(ensemble_file, tmp_path, capsys):
    from ase.build import bulk
    from ase.io import write

    cluster = bulk("Cu", "fcc", a=3.61, cubic=True)
    cluster.pbc = False
    cluster.rattle(0.05, seed=2)
    path = tmp_path / "cu4.xyz"
    write(path, cluster)
    assert main(["vibrations", str(ensemble_file), str(path), "--confidence", "0.9"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "90% interval" in lines[1]
    rows = [line for line in lines[2:] if line.strip()]
    assert len(rows) == 6 and all("[" in row and "]" in row for row in rows)

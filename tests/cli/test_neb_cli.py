"""``ridgeline neb`` end to end: a band between two files, the vacancy hop, a dissociation scan,
and bad input as one line."""

import json

import pytest
from ase import Atoms
from ase.build import add_adsorbate, fcc100
from ase.io import read, write

from ridgeline.cli.main import main


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("neb")
    slab = fcc100("Cu", size=(2, 2, 2), vacuum=5.0)
    add_adsorbate(slab, "Cu", 1.7, "hollow")
    del slab.info["adsorbate_info"]  # not for extxyz
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / 2
    write(folder / "initial.extxyz", slab)
    write(folder / "final.extxyz", final)
    write(folder / "dimer.extxyz", Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.3]]))
    write(folder / "cuau.extxyz", Atoms("AuCu", positions=[[0, 0, 0], [0, 0, 2.3]]))
    return folder


def test_band_json_output_and_plot(endpoints, tmp_path, capsys):
    band, plot = tmp_path / "band.extxyz", tmp_path / "path.png"
    code = main(["neb", "emt", str(endpoints / "initial.extxyz"), str(endpoints / "final.extxyz"), "--images", "3",
                 "--json", "-o", str(band), "--plot", str(plot)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["converged"]
    assert set(data["estimates"]) == {"barrier_forward", "barrier_backward", "reaction_energy"}
    assert data["estimates"]["barrier_forward"]["value"] == pytest.approx(data["estimates"]["barrier_backward"]["value"], abs=3e-3)
    frames = read(band, ":")
    assert len(frames) == 5 and frames[2].get_potential_energy() == pytest.approx(data["energies"][2])
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_vacancy_migration_table(capsys):
    assert main(["neb", "emt", "Cu", "--vacancy-migration", "--images", "3"]) == 0
    text = capsys.readouterr().out
    assert "band of 5 images converged" in text and "climbing image 2" in text
    line = next(row for row in text.splitlines() if row.startswith("vacancy_migration_barrier"))
    assert 0.5 < float(line.split()[1]) < 0.8


def test_scan_with_a_calibrated_model(calibrated_model, endpoints, capsys):
    main(["neb", str(calibrated_model), str(endpoints / "dimer.extxyz"), "--scan", "0", "1", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["cutoff"] == 4.5 and data["checks"]["constant_beyond_cutoff"] is True
    assert data["estimates"]["dissociation_energy"]["sigma"] > 0
    assert all(isinstance(flag, bool) for flag in data["point_out_of_domain"])
    main(["neb", str(calibrated_model), str(endpoints / "dimer.extxyz"), "--scan", "0", "1", "--confidence", "0.9"])
    text = capsys.readouterr().out
    assert "constant_beyond_cutoff   passed" in text and "(90%)" in text


@pytest.mark.parametrize("argv, message", [
    (["neb", "emt", "DIMER", "CUAU"], "elements differ at 1 atom(s), first at atom 0: Cu (initial) and Au (final)"),
    (["neb", "emt", "DIMER"], "a band needs FINAL"),
    (["neb", "emt", "DIMER", "CUAU", "--scan", "0", "1"], "takes one structure"),
    (["neb", "emt", "DIMER", "--scan", "0", "1", "--vacancy-migration"], "give one"),
    (["neb", "emt", "DIMER", "--scan", "0", "7"], "pair (0, 7)"),
    (["neb", "emt", "DIMER", "--vacancy-migration"], "periodic in all three directions"),
    (["neb", "emt", "DIMER", "DIMER", "--optimizer", "sd"], "unknown NEB optimizer 'sd'"),
])
def test_bad_input_is_one_line_and_exit_2(endpoints, capsys, argv, message):
    files = {"DIMER": str(endpoints / "dimer.extxyz"), "CUAU": str(endpoints / "cuau.extxyz")}
    assert main([files.get(a, a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err

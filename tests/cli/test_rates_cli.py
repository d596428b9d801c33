"""``ridgeline rates`` end to end: the band `ridgeline neb -o` writes (a Cu adatom hop on Cu(100),
EMT) read directly for harmonic TST, a microkinetic network and Butler-Volmer points from the
YAML with overrides, and bad input as one line with exit status 2."""

import json
import re

import numpy as np
import pytest
import yaml
from ase.build import add_adsorbate, fcc100
from ase.io import write

from ridgeline.cli.main import main
from ridgeline.properties.rates import KB, PLANCK

NETWORK = {"gas": {"A": 2.0, "B": 0.0}, "adsorbates": ["A*", "B*"], "product": "B",
           "steps": [{"name": "adsorption", "reaction": "A + * -> A*", "barrier": 0.2, "reaction_energy": -0.3, "sigma": 0.05},
                     {"name": "reaction", "reaction": "A* -> B*", "barrier": 0.8, "reaction_energy": -0.1, "sigma": 0.1},
                     {"name": "desorption", "reaction": "B* -> B + *", "barrier": 0.7, "reaction_energy": 0.2}]}
POINTS = [[-0.2, 0.835, 0.05], [0.0, 0.745, 0.03], [0.3, 0.61, 0.04], {"potential": 0.5, "barrier": 0.52, "sigma": 0.06}]


def write_config(tmp_path, **sections):
    path = tmp_path / "rates.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "out"), **sections}))
    return str(path)


def rates(capsys, *argv):
    code = main(["rates", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def band(tmp_path_factory):
    folder = tmp_path_factory.mktemp("band")
    slab = fcc100("Cu", size=(2, 2, 2), vacuum=5.0)
    add_adsorbate(slab, "Cu", 1.7, "hollow")
    del slab.info["adsorbate_info"]
    final = slab.copy()
    final.positions[-1, 0] += slab.cell[0, 0] / 2
    write(folder / "initial.extxyz", slab)
    write(folder / "final.extxyz", final)
    assert main(["neb", "emt", str(folder / "initial.extxyz"), str(folder / "final.extxyz"), "--images", "3",
                 "--fmax", "0.01", "-o", str(folder / "band.extxyz")]) == 0
    return folder / "band.extxyz"


def test_harmonic_rates_from_the_neb_band(band, tmp_path, capsys):
    config = write_config(tmp_path, temperatures=[300, 600],
                          harmonic={"model": "emt", "band": str(band), "method": "finite_differences"})
    code, out, err = rates(capsys, config)
    assert code == 0, err
    folder = tmp_path / "out"
    summary = json.loads((folder / "summary.json").read_text())
    harmonic = summary["harmonic"]
    barrier = harmonic["barrier"]["value"]
    assert 0.3 < barrier < 0.6 and 1e11 < harmonic["prefactor"] < 1e14
    want = harmonic["prefactor"] * np.exp(-barrier / (KB * np.array([300.0, 600.0])))
    np.testing.assert_allclose(harmonic["classical"], want, rtol=1e-10)
    assert harmonic["estimates"]["rate_600K"]["value"] == pytest.approx(want[1], rel=1e-10)
    assert (folder / "harmonic.png").read_bytes()[:4] == b"\x89PNG"
    assert (folder / "rates.txt").read_text().strip() == out.strip() and "harmonic TST" in out
    assert yaml.safe_load((folder / "config.yaml").read_text())["harmonic"]["band"] == str(band)
    # the symmetric hop: leaving from the band's other end crosses the same barrier
    code, _, err = rates(capsys, config, "harmonic.direction=backward", "temperatures=[600]")
    backward = json.loads((folder / "summary.json").read_text())["harmonic"]
    assert code == 0, err
    assert backward["barrier"]["value"] == pytest.approx(barrier, abs=5e-3)


def test_microkinetics_and_butler_volmer(tmp_path, capsys):
    config = write_config(tmp_path, temperatures=[300], microkinetics=NETWORK,
                          butler_volmer={"reference": 0.1, "points": POINTS})
    code, out, err = rates(capsys, config, "temperatures=[400,500]", "samples=60", "microkinetics.gas.A=1.0")
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    mk = summary["microkinetics"]
    assert mk["temperatures"] == [400.0, 500.0] and mk["samples"] == 60
    for k, t in enumerate((400.0, 500.0)):  # the cycle's closed form, at the overridden pressure of A
        kt = KB * t
        kf = [kt / PLANCK * np.exp(-b / kt) for b in (0.2, 0.8, 0.7)]
        kb = [kt / PLANCK * np.exp(-(b - e) / kt) for b, e in ((0.2, -0.3), (0.8, -0.1))]
        theta_b = 1 / kf[2]
        theta_a = (1 + kb[1] * theta_b) / kf[1]
        tof = 1 / (theta_b + theta_a + (1 + kb[0] * theta_a) / (kf[0] * 1.0))
        assert mk["tof"][k] == pytest.approx(tof, rel=1e-6)
        assert sum(mk["degree_of_rate_control"][k]) == pytest.approx(1.0, abs=1e-6)
        assert 0 < mk["lower"][k] < mk["tof"][k] < mk["upper"][k]
    assert mk["estimates"]["tof_500K"]["upper"] == mk["upper"][1]
    bv = summary["butler_volmer"]
    assert bv["alpha"]["value"] == pytest.approx(0.45, abs=1e-9)
    assert bv["estimates"]["tafel_slope"]["value"] == pytest.approx(np.log(10) * KB * 298.15 / 0.45 * 1000, rel=1e-9)
    assert "Tafel slope" in out and "degree of rate control" in out
    for name in ("microkinetics.png", "butler_volmer.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "out" / "harmonic.png").exists()


@pytest.mark.parametrize("sections, message", [
    ({}, "give at least one of the sections harmonic, microkinetics, butler_volmer"),
    ({"microkinetics": {**NETWORK, "steps": [*NETWORK["steps"][:2], {**NETWORK["steps"][2], "reaction": "B* -> B"}]}},
     "step 'desorption': unbalanced sites"),
    ({"microkinetics": {**NETWORK, "gas": {"A": 1.0, "B": -0.5}}}, "gas 'B': the pressure must be zero or positive"),
    ({"butler_volmer": {"points": [[0.0, 0.5, 0.05]]}}, "butler_volmer.points': two or more"),
    ({"butler_volmer": {"points": [[0.0, 0.5, 0.05], [0.1, 0.4]]}}, r"butler_volmer.points\[1\]'"),
    ({"harmonic": {"model": "emt", "minimum": "min.xyz"}}, "give band .* or minimum and saddle"),
    ({"harmonic": {"model": "emt", "band": "nowhere.extxyz"}}, "nowhere.extxyz: no such file"),
    ({"temperatures": [300, -1], "butler_volmer": {"points": POINTS}}, "positive temperatures"),
    ({"temperature": 300}, "unknown config key 'temperature'"),
])
def test_bad_input_is_one_line(tmp_path, capsys, sections, message):
    code, _, err = rates(capsys, write_config(tmp_path, **sections))
    assert code == 2 and err.startswith("ridgeline rates: error:") and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err

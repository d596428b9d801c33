"""Model files of every earlier layout load through the one migration point
(``models.upgrade``) and give what the code of their time gave (``fixtures/make_fixtures.py``
wrote them and those figures)."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from safetensors import safe_open

from ridgeline.models.io import load_model, read_description, save_model
from ridgeline.models.upgrade import FORMAT_VERSION
from ridgeline.simulate.calculator import Calculator

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
TERMS = {
    "v1_moment": {"zbl": {"switch": "data"}},
    "v1_moment_covalent_radii": {"zbl": {"switch": "covalent"}},
    "v1_moment_two_layers_no_message_cutoff": {"zbl": {"switch": "data"}},
    "v1_bpnn": {},
    "v1_ensemble": {"zbl": {"switch": "data"}},
    "v1_laplace_proxy": {"zbl": {"switch": "data"}},
}


def probe(name):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    if name == "v1_ensemble":
        atoms.numbers[::4] = 8
    atoms.rattle(0.1, seed=99)
    return atoms


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_earlier_layout_loads_and_gives_what_it_gave(name, tmp_path):
    path = FIXTURES / f"{name}.safetensors"
    with safe_open(str(path), framework="pt") as fh:
        assert json.loads(fh.metadata()["ridgeline"])["format_version"] == 1
    description = read_description(path)
    assert description["format_version"] == FORMAT_VERSION and description["terms"] == TERMS[name]
    assert "zbl" not in description["hyperparameters"] and "zbl_switch" not in description["hyperparameters"]
    atoms = probe(name)
    atoms.calc = Calculator(path)
    want = EXPECTED[name]
    np.testing.assert_allclose(atoms.get_potential_energy(), want["energy"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), want["forces"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(atoms.get_stress(), want["stress"], rtol=1e-10, atol=1e-12)
    if "forces_sigma" in want:
        np.testing.assert_allclose(atoms.calc.results["forces_sigma"], want["forces_sigma"], rtol=1e-10, atol=1e-14)
    # written again, the file is in the current layout and gives the same
    model, _ = load_model(path)
    again = save_model(model, tmp_path / "again.safetensors")
    assert read_description(again)["format_version"] == FORMAT_VERSION
    atoms.calc = Calculator(again, uncertainty=False)
    np.testing.assert_allclose(atoms.get_potential_energy(), want["energy"], rtol=1e-12, atol=1e-12)


def test_laplace_parameters_from_before_the_force_variance_are_the_proxy():
    description = read_description(FIXTURES / "v1_laplace_proxy.safetensors")
    assert description["uncertainty"]["laplace"]["force_variance"] == "proxy"

"""ridgeline validate: rows, tolerances, reference tables, errors by config_type, the cache, g(r)."""

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.io import write

from ridgeline.errors import ConfigError
from ridgeline.properties.vibrations import vibrations
from ridgeline.simulate.relax import relax
from ridgeline.validate import validate
from ridgeline.validate.references import read_reference_table
from ridgeline.validate.tolerances import Tolerance, parse_tolerance, tolerance_for
from ridgeline.validate.workflows import choose_workflows


@pytest.fixture()
def cu4(tmp_path):
    """A Cu4 tetrahedron: a molecule for the vibrations workflow."""
    d = 2.5
    atoms = Atoms("Cu4", positions=[[0, 0, 0], [d, 0, 0], [d / 2, d * 3 ** 0.5 / 2, 0],
                                    [d / 2, d / (2 * 3 ** 0.5), d * (2 / 3) ** 0.5]])
    path = tmp_path / "cu4.xyz"
    write(path, atoms)
    return path


def test_tolerances():
    assert parse_tolerance("5%") == Tolerance(0.05, True) and parse_tolerance(0.05) == Tolerance(0.05)
    assert Tolerance(0.1, True).bound(-20.0) == pytest.approx(2.0)
    assert tolerance_for("vacancy_formation_energy") == Tolerance(0.05)  # the default
    assert tolerance_for("surface_energy_111") == Tolerance(0.10, True)
    assert tolerance_for("C44") == Tolerance(0.15, True) and tolerance_for("C47") is None
    assert tolerance_for("C44", {"C44": Tolerance(1.0)}) == Tolerance(1.0)
    assert tolerance_for("something_else") is None
    for bad in ("a lot", "-1", None):
        with pytest.raises(ConfigError, match="tolerance"):
            parse_tolerance(bad)


def test_reference_tables(tmp_path):
    good = tmp_path / "ref.yaml"
    good.write_text("source: a paper\nstructure: Si\nproperties:\n  lattice_constant: 5.469\n"
                    "  bulk_modulus: {value: 88.6, unit: GPa, tolerance: 10%}\n")
    table = read_reference_table(good)
    assert table.source == "a paper" and table.structures["Si"]["lattice_constant"].value == 5.469
    assert table.structures["Si"]["bulk_modulus"].tolerance == Tolerance(0.1, True)
    cases = {
        "structure: Si\n": "either 'properties'",
        "properties: {lattice_constant: big}\n": "properties.lattice_constant: the value must be a number",
        "properties: {C11: {valu: 3}}\n": "properties.C11 takes value",
        "propertys: {C11: 3}\n": "unknown key",
        "properties: [1, 2]\n": "non-empty mapping",
        "properties: {C11: {value: 3, tolerance: lots}}\n": "C11.tolerance",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message) as err:
            read_reference_table(bad)
        assert str(bad) in str(err.value)


def test_choose_workflows():
    assert choose_workflows("molecule") == ["vibrations"]
    assert "eos" in choose_workflows("crystal", quick=True) and "phonons" not in choose_workflows("crystal", quick=True)
    assert choose_workflows("crystal", wanted_properties=("C11", "surface_energy_111")) == ["elastic", "surfaces"]
    with pytest.raises(ConfigError, match="unknown workflow"):
        choose_workflows("crystal", ["eos", "magic"])
    with pytest.raises(ConfigError, match="need a crystal"):
        choose_workflows("molecule", ["eos"])
    with pytest.raises(ConfigError, match="no workflow"):
        choose_workflows("crystal", wanted_properties=("colour",))


def test_molecule_against_emt(calibrated_model, cu4, emt_files, tmp_path):
    """Every frequency of the model beside EMT's own (computed here independently), pass/fail by
    the 5% default, intervals and domain flags from the calibrated model; errors by config_type."""
    out = tmp_path / "val"
    report = validate(calibrated_model, structures=[str(cu4)], reference="emt", data=emt_files["test"], output_dir=out)
    from ase.io import read

    ref = vibrations(relax(read(cu4), EMT(), fmax=0.005).atoms, EMT()).headline()
    rows = {r.name: r for r in report.properties}
    assert set(rows) == set(ref)
    for name, value in ref.items():
        row = rows[name]
        assert row.reference == pytest.approx(value, rel=1e-6, abs=1e-9)
        bound = 0.05 * abs(value) if name.startswith("frequency") else 0.03 * abs(value)
        assert row.passed == (abs(row.model - value) <= bound)
        assert row.model_ci[0] < row.model < row.model_ci[1] and isinstance(row.out_of_domain, bool)
        assert row.reference_in_ci == (row.model_ci[0] <= value <= row.model_ci[1])
    assert report.passed == (all(r.passed for r in rows.values()) and all(c.passed for c in report.checks))
    assert {c.name for c in report.checks} >= {"relaxation (model)", "relaxation (reference)"}
    # errors by config_type, as `ridgeline eval` computes them
    assert report.errors["n_frames"] > 0 and set(report.errors["per_config_type"])
    # the files: JSON with the fields, markdown, plots
    data = json.loads((out / "validation.json").read_text())
    assert data["passed"] == report.passed and len(data["properties"]) == len(ref)
    for key in ("name", "unit", "model", "model_ci", "reference", "tolerance", "passed", "out_of_domain"):
        assert key in data["properties"][0]
    assert data["properties"][0]["tolerance"] in ("5%", "3%")
    text = (out / "validation.md").read_text()
    assert "## Properties" in text and "## Errors on the labelled data" in text
    assert (out / "properties.png").stat().st_size > 0 and (out / "parity.png").stat().st_size > 0


def test_cache_resumes_without_recomputing(trained_model, cu4, tmp_path, monkeypatch):
    out = tmp_path / "val"
    first = validate(trained_model, structures=[str(cu4)], reference="emt", output_dir=out)
    assert all(r.model_ci is None and r.out_of_domain is None for r in first.properties)  # no uncertainty data

    def boom(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr("ridgeline.properties.vibrations.vibrations", boom)
    again = validate(trained_model, structures=[str(cu4)], reference="emt", output_dir=out)
    assert [r.model for r in again.properties] == [r.model for r in first.properties]
    # another model, or other interval settings, in the same folder: recomputed, never reused
    other = tmp_path / "other.safetensors"
    other.write_bytes(trained_model.read_bytes())
    with pytest.raises(AssertionError, match="recomputed"):
        validate(other, structures=[str(cu4)], reference="emt", output_dir=out)
    with pytest.raises(AssertionError, match="recomputed"):
        validate(trained_model, structures=[str(cu4)], reference="emt", output_dir=out, draws=4)


def test_reference_table_and_units(trained_model, cu4, tmp_path):
    table = tmp_path / "ref.yaml"
    table.write_text(f"structure: {cu4}\nproperties:\n  zero_point_energy: {{value: 0.02, tolerance: 100%}}\n")
    report = validate(trained_model, reference=str(table))
    row = next(r for r in report.properties if r.name == "zero_point_energy")
    assert row.reference == 0.02 and row.tolerance == "100%" and row.passed == (abs(row.model - 0.02) <= 0.02)
    table.write_text(f"structure: {cu4}\nproperties:\n  zero_point_energy: {{value: 20, unit: meV}}\n")
    with pytest.raises(ConfigError, match="given in meV"):
        validate(trained_model, reference=str(table))


def test_an_unknown_reference_is_named(ensemble_file):
    with pytest.raises(ConfigError, match="dft-please: no such model file, and not a reference calculator"):
        validate(ensemble_file, reference="dft-please")


def test_rdf_against_a_reference_trajectory(trained_model, tmp_path):
    """The model's g(r) in MD against EMT's: the first peak within 0.05 Å for a model fitted to EMT."""
    from ase.build import bulk

    from ridgeline.simulate.md import MD

    frames = []
    md = MD(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), EMT(), "langevin", timestep=2.0, temperature=300.0,
            interval=25, friction=0.01, observers=[lambda step, atoms: frames.append(atoms.copy()) if step >= 100 else None])
    md.run(275)
    traj = tmp_path / "ref.extxyz"
    write(traj, frames)
    report = validate(trained_model, structures=[], trajectory=traj, output_dir=tmp_path / "val")
    rows = {r.name: r for r in report.properties}
    assert set(rows) == {"rdf_first_peak_position", "rdf_first_peak_height", "rdf_difference"}
    assert abs(rows["rdf_first_peak_position"].model - rows["rdf_first_peak_position"].reference) < 0.05
    assert rows["rdf_difference"].reference == 0.0 and rows["rdf_difference"].model >= 0
    assert report.rdf["temperature"] == pytest.approx(np.mean([a.get_temperature() for a in frames]))
    assert (tmp_path / "val" / "rdf.png").exists()


def test_crystal_quick_against_emt(trained_model, tmp_path):
    """--quick on Cu: EOS, elastic constants and the vacancy, the reference values those of the
    workflows run directly with EMT on EMT's own relaxed cell."""
    from ase.build import bulk

    from ridgeline.properties.defects import vacancy_formation
    from ridgeline.properties.eos import equation_of_state

    report = validate(trained_model, reference="emt", quick=True, output_dir=tmp_path / "val")
    rows = {r.name: r for r in report.properties}
    assert {"lattice_constant", "bulk_modulus", "C11", "C12", "C44", "vacancy_formation_energy"} <= set(rows)
    assert all(r.workflow in ("eos", "elastic", "vacancy") for r in rows.values())
    relaxed = relax(bulk("Cu"), EMT(), cell=True, fmax=0.005).atoms
    eos = equation_of_state(relaxed, EMT(), points=7).estimates()
    assert rows["lattice_constant"].reference == pytest.approx(eos["lattice_constant"].value, rel=1e-6)
    assert rows["bulk_modulus"].reference == pytest.approx(eos["bulk_modulus"].value, rel=1e-6)
    vacancy = vacancy_formation(relaxed, EMT(), supercells=(2,)).estimates()["vacancy_formation_energy"].value
    assert rows["vacancy_formation_energy"].reference == pytest.approx(vacancy, abs=1e-6)
    assert 3.55 < rows["lattice_constant"].reference < 3.62 and rows["C11"].reference > rows["C12"].reference > 0
    for r in rows.values():  # pass/fail by the defaults
        if r.passed is not None:
            bound = tolerance_for(r.name).bound(r.reference)
            assert r.passed == (abs(r.model - r.reference) <= bound)
    # the one-supercell vacancy of --quick is a warning, not a failure
    notes = [c for c in report.checks if c.passed is None]
    assert notes and all("vacancy" in c.name for c in notes)
    assert report.passed == all(r.passed is not False for r in rows.values())
    assert (tmp_path / "val" / "Cu-eos-model.png").exists() and (tmp_path / "val" / "Cu-elastic-reference.png").exists()

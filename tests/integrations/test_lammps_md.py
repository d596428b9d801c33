"""``ridgeline lammps md``: the MD config's translation into LAMMPS fixes (units, parameters, the
bias, refusals), and the build-free engine (fix external with ASE's calculator) against ``ridgeline
md`` step by step, its results readable by ridgeline's analysis. The plugin engine's runs are in
test_lammps_plugin.py (they share its build)."""

from dataclasses import replace

import numpy as np
import pytest
from ase.io import read

from ridgeline.errors import ConfigError
from ridgeline.integrations.lammps import inputs
from ridgeline.simulate.md_config import MDConfig, UmbrellaConfig


def fixes(**keys) -> str:
    return "\n".join(inputs.ensemble_fixes(MDConfig(**keys), seed=7))


def test_ensembles_become_lammps_fixes_in_metal_units():
    assert fixes(ensemble="nve") == "fix integrate all nve"
    # friction 0.02 / fs: a damping time of 50 fs = 0.05 ps
    assert "fix thermostat all langevin 500.0 500.0 0.05 7" in fixes(ensemble="langevin", temperature=500.0, friction=0.02)
    assert "temp/csvr 300.0 300.0 0.1 7" in fixes(ensemble="bussi")  # the default tau, 100 fs
    assert fixes(ensemble="nose_hoover_chain", tau=50.0, parameters={"chain": 5}) == \
        "fix integrate all nvt temp 300.0 300.0 0.05 tchain 5 tloop 1"
    npt = fixes(ensemble="npt_mtk", pressure=1.5, tau_p=500.0)
    assert " iso 15000.0 15000.0 0.5 " in npt and "pchain 3" in npt  # GPa to bar
    assert fixes(ensemble="npt_mtk_aniso").startswith("change_box all triclinic\n") and " tri " in fixes(ensemble="npt_mtk_aniso")
    berendsen = fixes(ensemble="npt_berendsen_aniso", compressibility=0.005)
    assert "press/berendsen aniso 0.0 0.0 1.0 modulus 2000000.0" in berendsen  # 1 / (0.005 / GPa) = 200 GPa
    assert "press/langevin iso" in fixes(ensemble="npt_langevin")


def test_the_bias_is_a_restraint_with_half_the_force_constant():
    config = MDConfig(bias=UmbrellaConfig(i=0, j=3, center=2.2, k=4.0))
    assert inputs.bias_lines(config) == ["fix umbrella all restrain bond 1 4 2.0 2.0 2.2", "fix_modify umbrella energy yes"]


def test_what_lammps_cannot_do_is_refused_by_name():
    with pytest.raises(ConfigError, match="andersen"):
        inputs.ensemble_fixes(MDConfig(ensemble="andersen"), seed=1)
    with pytest.raises(ConfigError, match="adds no virial"):
        inputs.bias_lines(MDConfig(ensemble="npt_mtk", bias=UmbrellaConfig()))
    with pytest.raises(ConfigError, match="unknown parameter.*bogus"):
        inputs.ensemble_fixes(MDConfig(ensemble="bussi", parameters={"bogus": 1}), seed=1)


def test_the_domain_rule_is_the_md_drivers():
    """domain_fraction of the last domain_window fs of checks (simulate.md.DomainStop): 100 fs at
    2 fs x 10 steps is 5 checks, 90% of them 5; the share is scaled to the whole window."""
    config = MDConfig(timestep=2.0, interval=10, max_forces_sigma=0.1, domain_stop=True)
    lines = "\n".join(inputs.stop_lines(config, sigma=True))
    assert "ave/time 10 1 10 v_flagged ave window 5" in lines and "v_share >= 0.9 error soft" in lines
    assert "domain" not in "\n".join(inputs.stop_lines(config, sigma=False))


def _lammps_or_skip():
    try:
        from ridgeline.integrations.lammps.md import _load_lammps_module

        _load_lammps_module()
    except ConfigError as err:
        pytest.skip(f"LAMMPS engine tests skipped: {err}")


@pytest.mark.parametrize("bias", [False, True], ids=["plain", "umbrella"])
def test_external_engine_follows_ridgeline_md(tmp_path, bias):
    """The same config (EMT copper, NVE) through fix external and through ASE's integrator: the
    same start, energies and final velocities step by step (LAMMPS' metal constants differ from
    ASE's in the 8th digit); with an umbrella, LAMMPS' restraint and ridgeline's biased calculator
    are the same potential."""
    _lammps_or_skip()
    from ridgeline.cli.main import main
    from ridgeline.simulate import md_files

    overrides = ["structure=Cu", "supercell=2", "model=emt", "steps=40", "interval=10", "timestep=2.0"]
    if bias:
        overrides += ["bias.i=0", "bias.j=1", "bias.center=2.4", "bias.k=3.0"]
    config = tmp_path / "md.yaml"
    config.write_text("ensemble: nve\ntemperature: 500\n")
    assert main(["lammps", "md", str(config), *overrides, f"output_dir={tmp_path / 'lammps'}", "--engine", "external"]) == 0
    assert main(["md", str(config), *overrides, f"output_dir={tmp_path / 'ase'}", "--no-progress"]) == 0
    lammps, ase = md_files.read_log(tmp_path / "lammps"), md_files.read_log(tmp_path / "ase")
    assert lammps.shape == ase.shape == (5, len(md_files.LOG_COLUMNS))
    np.testing.assert_allclose(lammps[:, :6], ase[:, :6], rtol=1e-6, atol=1e-5)  # step, time, energies, T
    first, last = read(tmp_path / "lammps" / "trajectory.extxyz", ":"), read(tmp_path / "ase" / "trajectory.extxyz", ":")
    np.testing.assert_allclose(first[-1].get_velocities(), last[-1].get_velocities(), atol=1e-6)
    np.testing.assert_allclose(first[-1].get_forces(), last[-1].get_forces(), atol=1e-5)
    if not bias:  # LAMMPS' restraint adds no virial (a bias with a barostat is refused)
        np.testing.assert_allclose(first[-1].get_stress(), last[-1].get_stress(), atol=1e-8)
    assert first[-1].info["step"] == 40 and first[-1].info["time"] == pytest.approx(80.0)


def test_external_engine_runs_are_read_by_the_analysis(tmp_path):
    _lammps_or_skip()
    import json

    from ridgeline.analysis.rdf import rdf
    from ridgeline.analysis.trajectory import load_frames
    from ridgeline.integrations.lammps.md import run_lammps_md

    config = MDConfig(structure="Cu", supercell=3, model="emt", ensemble="bussi", steps=30, interval=10,
                      output_dir=str(tmp_path / "run"))
    import torch

    threads = torch.get_num_threads()
    summary = run_lammps_md(config, engine="external")
    assert summary.status == "completed" and summary.steps == 30
    assert torch.get_num_threads() == threads  # LAMMPS' OpenMP setting does not take torch's threads
    frames = load_frames(tmp_path / "run" / "trajectory.extxyz")
    assert len(frames) == 4 and all(np.abs(f.get_velocities()).max() > 0 for f in frames)
    shell = rdf(frames, r_max=5.0).first_shell("Cu", "Cu")
    assert shell["r_peak"] == pytest.approx(2.55, abs=0.15) and shell["n"] == pytest.approx(12, abs=1.5)  # fcc copper
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["ensemble"] == "bussi"
    with pytest.raises(ConfigError, match="holds a finished run"):
        run_lammps_md(config, engine="external")
    with pytest.raises(ConfigError, match="one rank"):
        run_lammps_md(replace(config, output_dir=str(tmp_path / "other")), engine="external", ranks=2)
    with pytest.raises(ConfigError, match="engine 'external'"):
        run_lammps_md(replace(config, output_dir=str(tmp_path / "other")), engine="plugin")


def test_an_explosion_stops_the_lammps_run_with_the_md_drivers_status(tmp_path):
    """A force limit below what the start gives: fix halt ends the run, the summary says exploded."""
    _lammps_or_skip()
    from ridgeline.integrations.lammps.md import run_lammps_md

    config = MDConfig(structure="Cu", supercell=2, model="emt", steps=20, interval=5, temperature=2000.0,
                      max_force=0.05, output_dir=str(tmp_path / "run"))
    summary = run_lammps_md(config, engine="external")
    assert summary.status == "exploded" and "force component" in summary.reason and summary.steps < 20

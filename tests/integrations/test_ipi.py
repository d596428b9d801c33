"""Path-integral MD through i-PI with an ASE calculator as its socket client: the harmonic
oscillator's quantum kinetic energy and isotope free energy against the exact P-bead and
continuum values, the classical limit, the input i-PI reads, the client's ends (server gone, no
socket, i-PI failing), the uncertainty record with a committee, and ``ridgeline pimd``."""

import json
import signal
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.io import read

from ridgeline.errors import ConfigError, RidgelineError
from ridgeline.integrations.ipi import (HarmonicWell, IPIError, IPIServer, IsotopeConfig, PIMDConfig,
                                        harmonic_free_energy, harmonic_kinetic_energy, load_pimd_config, run_client,
                                        run_pimd, socket_path, spring_constant, write_inputs)
from ridgeline.integrations.ipi import run as run_module
from ridgeline.integrations.ipi.estimators import (IsotopeResult, kinetic_isotope_effect,
                                                   read_properties)
from ridgeline.integrations.ipi.inputs import INIT_FILE, INPUT_FILE, isotope_list, mass_ratios, socket_address

HBAR_OMEGA = 0.1  # eV: hbar omega / kT = 3.9 at 300 K, the quantum kinetic energy twice the classical
TEMPERATURE = 300.0
KT = units.kB * TEMPERATURE
N_WELLS = 32


def wells(n: int = N_WELLS):
    """``n`` hydrogen atoms, each in its own 3-D harmonic well of quantum HBAR_OMEGA."""
    grid = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3)[:n]
    atoms = Atoms(f"H{n}", positions=3.0 * grid, cell=[15.0, 15.0, 15.0], pbc=False)
    return atoms, HarmonicWell(spring_constant(HBAR_OMEGA, atoms.get_masses()[0]), centers=atoms.positions)


def well_config(out, **keys) -> PIMDConfig:
    return PIMDConfig(**{"temperature": TEMPERATURE, "timestep": 1.0, "tau": 20.0, "fixcom": False,
                         "output_dir": str(out), **keys})


def within(value: float, target: float, error: float, extra: float = 0.0, k: float = 4.0) -> bool:
    return abs(value - target) <= k * error + extra


@pytest.fixture(scope="module")
def quantum_run(tmp_path_factory):
    """16 beads, 600 steps of 1 fs (100 left out), the thermodynamic isotope estimator towards a
    mass 1.2 times hydrogen's every other step."""
    atoms, calculator = wells()
    mass = atoms.get_masses()[0]
    config = well_config(tmp_path_factory.mktemp("pimd16"), nbeads=16, steps=600, equilibration=100,
                         isotope=IsotopeConfig(atom="H", mass=1.2 * mass, points=3, stride=2))
    return run_pimd(config, calculator, atoms)


def test_pimd_reproduces_the_harmonic_quantum_kinetic_energy(quantum_run):
    r = quantum_run
    k = r.per_atom("kinetic_cv").scaled(1 / 3)  # per degree of freedom
    exact, beads = harmonic_kinetic_energy(HBAR_OMEGA, TEMPERATURE), harmonic_kinetic_energy(HBAR_OMEGA, TEMPERATURE, 16)
    assert 0 < k.error < 0.03 * k.mean
    assert within(k.mean, beads, k.error)  # the 16-bead value, exact for the discretised path
    assert within(k.mean, exact, k.error, extra=abs(exact - beads))  # (hbar w / 4) coth(hbar w / 2kT)
    assert k.mean - KT / 2 > 20 * k.error  # far from the classical kT/2
    primitive = r.per_atom("kinetic_td").scaled(1 / 3)
    assert within(primitive.mean, beads, primitive.error)  # the primitive estimator: same mean, noisier
    assert primitive.error > k.error
    potential = r.per_atom("potential").scaled(1 / 3)
    assert within(potential.mean, beads, potential.error)  # virial theorem: <V> = <K> in a harmonic well
    assert abs(r.conserved_drift) < 0.5  # meV/atom/ps after the equilibration, the thermostat's work included
    assert r.calls >= 16 * 600 and "ended the session" in r.client
    summary = json.loads((Path(r.output_dir) / "summary.json").read_text())
    assert summary["kinetic_energy_per_atom"]["mean"] == pytest.approx(3 * k.mean)
    assert (Path(r.output_dir) / "pimd.png").stat().st_size > 0


def test_isotope_estimator_gives_the_heavier_mass_kinetic_and_free_energy(quantum_run):
    iso = quantum_run.isotope
    alpha = iso.mass_ratios[-1]
    assert alpha == pytest.approx(1.2) and len(iso.mass_ratios) == 3
    heavier = HBAR_OMEGA / np.sqrt(alpha)  # omega = sqrt(k / m)
    assert within(iso.kinetic_energy[-1], 3 * harmonic_kinetic_energy(heavier, TEMPERATURE, 16), iso.kinetic_energy_error[-1])
    expected = 3 * (harmonic_free_energy(heavier, TEMPERATURE, 16) - harmonic_free_energy(HBAR_OMEGA, TEMPERATURE, 16))
    assert within(iso.free_energy, expected, iso.free_energy_error)
    assert iso.free_energy < -10 * iso.free_energy_error  # heavier: lower zero-point energy
    assert min(iso.effective_samples) > 0.5 * iso.samples  # a small mass change reweights well


def test_one_bead_is_classical(tmp_path):
    atoms, calculator = wells()
    r = run_pimd(well_config(tmp_path, nbeads=1, steps=4000, equilibration=200), calculator, atoms)
    kinetic, potential = r.per_atom("kinetic_md"), r.per_atom("potential")
    assert within(kinetic.mean, 1.5 * KT, kinetic.error) and kinetic.error < 0.05 * KT
    assert within(potential.mean, 1.5 * KT, potential.error)  # equipartition
    assert r.per_atom("kinetic_cv").mean == pytest.approx(1.5 * KT, rel=1e-5)  # one bead: no quantum part (i-PI's kB)


def test_input_is_what_ipi_reads(tmp_path):
    from ipi.inputs.simulation import InputSimulation
    from ipi.utils.io.inputs import io_xml
    from ipi.utils.units import unit_to_user

    atoms = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    config = replace(load_pimd_config(overrides=["nbeads=12", "temperature=250", "timestep=0.25", "steps=40",
                                                 "thermostat=pile_g", "tau=50", "masses.H=2.014", "isotope.atom=O",
                                                 "isotope.mass=17.999", "isotope.points=4", "isotope.stride=4",
                                                 "trajectory_stride=10"]), output_dir=str(tmp_path))
    write_inputs(config, atoms, tmp_path, "ridgeline-input-test")
    xml = io_xml.xml_parse_file(open(tmp_path / INPUT_FILE))
    simulation = InputSimulation()
    simulation.parse(xml.fields[0][1])
    system = dict(simulation.extra)["system"]
    socket_input = dict(simulation.extra)["ffsocket"]
    dynamics = system.motion.dynamics
    assert simulation.total_steps.fetch() == 40 and system.initialize.nbeads.fetch() == 12
    assert unit_to_user("time", "femtosecond", dynamics.timestep.fetch()) == pytest.approx(0.25)
    assert unit_to_user("temperature", "kelvin", system.ensemble.temperature.fetch()) == pytest.approx(250)
    assert dynamics.thermostat.mode.fetch() == "pile_g"
    assert unit_to_user("time", "femtosecond", dynamics.thermostat.tau.fetch()) == pytest.approx(50)
    assert socket_input.mode.fetch() == "unix" and socket_input.address.fetch() == "ridgeline-input-test"
    properties, isotope = [v for k, v in simulation.output.extra if k == "properties"]
    ratios = mass_ratios(config, atoms)
    assert {"kinetic_cv{electronvolt}", "kinetic_cv{electronvolt}(H)", "kinetic_cv{electronvolt}(O)",
            "conserved{electronvolt}"} <= set(properties.value)
    assert list(isotope.value) == isotope_list(config, atoms) and isotope.stride.fetch() == 4
    assert ratios[0] == 1 and ratios[-1] == pytest.approx(17.999 / atoms.get_masses()[0]) and len(ratios) == 4
    assert isotope_list(config, atoms)[1] == f"isotope_tdfep({ratios[1]:.10g};O)"
    start = read(tmp_path / INIT_FILE)
    assert np.allclose(start.get_masses(), [atoms.get_masses()[0], 2.014, 2.014])  # the deuterated water
    assert start.cell.volume > 1000 and not start.pbc.any()  # a molecule gets a box, stays non-periodic
    assert np.allclose(start.positions - start.positions[0], atoms.positions - atoms.positions[0])


@pytest.mark.parametrize("overrides, words", [
    (["thermostat=nose"], ["'thermostat'", "pile_l"]),
    (["nbeads=0"], ["'nbeads'"]),
    (["isotope.estimator=exact"], ["'isotope.estimator'", "tdfep"]),
    (["stride=2", "isotope.stride=3"], ["'isotope.stride'", "multiple"]),
    (["beads=4"], ["unknown config key 'beads'", "nbeads"]),
])
def test_bad_config_is_one_clear_error(overrides, words):
    with pytest.raises(ConfigError) as err:
        load_pimd_config(overrides=overrides)
    assert all(w in str(err.value) for w in words)


def test_isotope_of_an_absent_element_is_refused(tmp_path):
    atoms, calculator = wells(2)
    config = well_config(tmp_path, nbeads=2, steps=20, isotope=IsotopeConfig(atom="C", stride=2))
    with pytest.raises(ConfigError, match="'isotope.atom'.*'C'"):
        run_pimd(config, calculator, atoms)


def test_missing_socket_is_a_clear_error():
    atoms, calculator = wells(1)
    address = "ridgeline-test-nobody-here"
    with pytest.raises(IPIError) as err:
        run_client(atoms, calculator, address, connect_timeout=0.2)
    assert socket_path(address) in str(err.value) and "does not exist" in str(err.value)


def test_socket_nobody_listens_on_is_a_clear_error(tmp_path):
    atoms, calculator = wells(1)
    address = socket_address(PIMDConfig())
    deaf = socket.socket(socket.AF_UNIX)
    deaf.bind(socket_path(address))  # bound, never listening: connections are refused
    try:
        with pytest.raises(IPIError, match="refused") as err:
            run_client(atoms, calculator, address, connect_timeout=0.2)
        assert socket_path(address) in str(err.value)
    finally:
        deaf.close()
        Path(socket_path(address)).unlink(missing_ok=True)


@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_client_returns_cleanly_when_the_server_goes_away(tmp_path, stop):
    atoms, _ = wells(4)
    config = well_config(tmp_path, nbeads=4, steps=100000)
    address = socket_address(config)
    write_inputs(config, atoms, tmp_path, address)

    with IPIServer(tmp_path) as server:
        class Stopping(HarmonicWell):
            calls = 0

            def calculate(self, *args, **kwargs):
                super().calculate(*args, **kwargs)
                Stopping.calls += 1
                if Stopping.calls == 10:  # i-PI's soft exit (SIGTERM, after its step) or gone at once (SIGKILL)
                    getattr(server.process, stop)()

        calculator = Stopping(spring_constant(HBAR_OMEGA, 1.008), centers=atoms.positions)
        result = run_client(atoms, calculator, address, connect_timeout=30, alive=server.dead)
        status = server.process.wait(30)
    Path(socket_path(address)).unlink(missing_ok=True)  # a killed server leaves its socket file
    assert result.calls >= 10 and result.wall_s < 20 and result.reason
    if stop == "kill":  # the requests already in the socket's buffer are answered, no more
        assert result.calls < 10 + 3 * config.nbeads and status == -signal.SIGKILL
    else:  # i-PI's soft exit ends its step, closes the socket, and exits by itself
        assert "ended the session" in result.reason and status == 0


def test_inet_socket_runs_and_a_busy_port_is_refused(tmp_path):
    atoms, calculator = wells(2)
    busy = socket.socket(socket.AF_INET)
    busy.bind(("localhost", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=f"'port'.*{port}"):
            run_pimd(well_config(tmp_path / "busy", nbeads=2, steps=3, socket="inet", port=port), calculator, atoms)
    finally:
        busy.close()  # now free: the run takes it
    r = run_pimd(well_config(tmp_path / "inet", nbeads=2, steps=3, socket="inet", port=port), calculator, atoms)
    assert r.calls >= 2 * 4 and "<port> " + str(port) in (tmp_path / "inet" / INPUT_FILE).read_text()


def test_ipi_failing_is_reported_with_its_error(tmp_path):
    atoms, calculator = wells(2)
    config = well_config(tmp_path, nbeads=2, steps=5)
    address = socket_address(config)
    write_inputs(config, atoms, tmp_path, address)
    path = tmp_path / INPUT_FILE
    path.write_text(path.read_text().replace('mode="pile_l"', 'mode="bogus"'))
    with IPIServer(tmp_path) as server, pytest.raises(IPIError) as err:
        run_client(atoms, calculator, address, connect_timeout=60, alive=server.dead)
    assert "bogus is not a valid option" in str(err.value) and "ipi.log" in str(err.value)


def test_run_stops_the_server_and_removes_the_socket_when_the_client_fails(tmp_path, monkeypatch):
    servers = []

    class Recorded(IPIServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            servers.append(self)

    class Failing(HarmonicWell):
        calls = 0

        def calculate(self, *args, **kwargs):
            Failing.calls += 1
            if Failing.calls == 5:
                raise RidgelineError("the calculator failed at call 5")
            super().calculate(*args, **kwargs)

    monkeypatch.setattr(run_module, "IPIServer", Recorded)
    atoms, _ = wells(2)
    config = well_config(tmp_path, nbeads=2, steps=1000)
    config.address = socket_address(config)
    with pytest.raises(RidgelineError, match="call 5"):
        run_pimd(config, Failing(1.0, centers=atoms.positions), atoms)
    assert servers[0].process.poll() is not None
    assert not Path(socket_path(config.address)).exists()


def test_uncertainty_is_recorded_per_call_with_a_committee(ensemble_file, tmp_path):
    from ridgeline.simulate.calculator import Calculator

    calculator = Calculator(ensemble_file)
    seen, calculate = [], calculator.calculate

    def spy(*args, **kwargs):
        calculate(*args, **kwargs)
        seen.append(float(np.max(calculator.results["forces_sigma"])))

    calculator.calculate = spy
    from ase.build import bulk

    atoms = bulk("Cu", cubic=True)
    r = run_pimd(PIMDConfig(nbeads=2, steps=4, timestep=0.5, output_dir=str(tmp_path)), calculator, atoms)
    record = json.loads((tmp_path / "uncertainty.json").read_text())
    per_call = record["max_forces_sigma_per_call"]
    assert record["calls"] == r.calls == len(per_call) >= 2 * 5
    # the calculator runs again only for moved atoms (the beads start together): the record keeps
    # its results for every call
    changed = [v for k, v in enumerate(per_call) if k == 0 or v != per_call[k - 1]]
    assert np.allclose(changed, seen) and len(seen) >= r.calls - 2 and max(seen) > 0
    assert record["max_forces_sigma"] == pytest.approx(max(seen)) and r.uncertainty["calls"] == r.calls
    assert record["calls_out_of_domain"] == 0  # no domain model in the file


def test_cli_runs_emt_and_a_bead_scan(tmp_path, capsys):
    from ridgeline.cli.main import main

    config = tmp_path / "pimd.yaml"
    config.write_text(f"structure: Cu\nmodel: emt\nnbeads: 2\nsteps: 6\ntimestep: 2.0\noutput_dir: {tmp_path / 'run'}\n")
    assert main(["pimd", str(config), "trajectory_stride=3"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["nbeads"] == 2 and summary["steps"] == 6 and summary["n_atoms"] == 4
    assert summary["kinetic_energy_per_atom"]["mean"] > 1.5 * KT  # Cu at 300 K with 2 beads: above classical
    assert json.loads(capsys.readouterr().out)["calls"] == summary["calls"]
    assert len(read(tmp_path / "run" / "centroid.extxyz", ":")) == 3  # steps 0, 3, 6
    assert main(["pimd", str(config)]) == 2  # a finished run is not overwritten
    assert "finished run" in capsys.readouterr().err
    assert main(["pimd", str(config), f"output_dir={tmp_path / 'scan'}", "--beads", "1", "2"]) == 0
    scan = json.loads((tmp_path / "scan" / "convergence.json").read_text())
    assert scan["nbeads"] == [1, 2] and scan["kinetic_energy"][0] == pytest.approx(1.5 * KT, rel=1e-5)
    assert (tmp_path / "scan" / "convergence.png").stat().st_size > 0


def test_properties_file_is_read_by_column_name(tmp_path):
    path = tmp_path / "p.out"
    path.write_text("# column   1     --> step : s\n# column   2     --> kinetic_cv{electronvolt}(H) : k\n"
                    "# cols.    3-4   --> isotope_tdfep(1.5;H) : i\n0 1.0 2.0 3.0\n1 1.5 2.5 3.5\n2 1.7")
    data = read_properties(path)
    assert list(data) == ["step", "kinetic_cv(H)", "isotope_tdfep(1.5;H)"]
    assert data["kinetic_cv(H)"].tolist() == [1.0, 1.5] and data["isotope_tdfep(1.5;H)"].shape == (2, 2)


def test_kinetic_isotope_effect_from_two_states():
    def state(free_energy, temperature=TEMPERATURE):
        return IsotopeResult("H", 1.008, 2.014, temperature, "tdfep", [1.0, 2.0], [0.1, 0.08], [0.001, 0.001], [10, 5],
                             free_energy, 0.002, 10)

    # the reactant loses 40 meV more zero-point energy on deuteration than the transition state
    kie, error = kinetic_isotope_effect(state(-0.080), state(-0.040))
    assert kie == pytest.approx(np.exp(0.040 / KT)) and kie > 1
    assert error == pytest.approx(kie * np.hypot(0.002, 0.002) / KT)
    with pytest.raises(RidgelineError, match="temperature"):
        kinetic_isotope_effect(state(-0.08), state(-0.04, temperature=350.0))

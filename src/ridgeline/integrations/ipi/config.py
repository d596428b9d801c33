"""The configuration of a path-integral run through i-PI (``ridgeline pimd CONFIG.yaml [key=value
...]``): one YAML mapping read into :class:`PIMDConfig`, typed and validated like the MD config
(unknown keys are errors naming the valid ones).

Units: K, fs, amu, s; energies come back in eV. The structure and the model are named as in
``ridgeline md`` (:mod:`ridgeline.simulate.md_config`).
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field

from ...errors import ConfigError
from ...simulate.md_config import EMT_NAME, MDConfig
from ...training.config import apply_overrides, build_dataclass, read_yaml_mapping

# i-PI's NVT thermostats that need no matrices: PILE (Ceriotti et al., J. Chem. Phys. 133, 124104
# (2010)) with a local Langevin (pile_l) or global velocity-rescaling (pile_g) centroid thermostat,
# and a white-noise Langevin or SVR thermostat on the Cartesian bead momenta
THERMOSTATS = ("pile_l", "pile_g", "langevin", "svr")
ESTIMATORS = ("tdfep", "scfep")  # i-PI's scaled-mass kinetic energy estimators (isotope_<name>)
SOCKETS = ("unix", "inet")
DEUTERIUM_MASS = 2.01410177812  # amu


@dataclass
class IsotopeConfig:
    """The free energy of substituting an isotope (H by D by default), from the kinetic energy the
    atom would have at scaled masses (Ceriotti and Markland, J. Chem. Phys. 138, 014112 (2013)),
    integrated over the mass: dF/dm = -<K>/m."""

    atom: str = "H"  # an element (each of its atoms substituted alone, averaged) or an atom index
    mass: float = DEUTERIUM_MASS  # amu, the substituting isotope
    points: int = 5  # nodes of the mass integral, a geometric grid from the atom's mass to `mass`
    estimator: str = "tdfep"  # tdfep: reweighted springs, cheap; scfep: scaled coordinates, one more
    #                           force call per bead, per selected atom and per node, lower variance
    stride: int = 5  # steps between evaluations of the estimator


@dataclass
class PIMDConfig:
    # as in ridgeline md: a file, a chemical symbol (ase.build.bulk's cubic cell) or a molecule name
    structure: str = "Cu"
    supercell: int = 1
    model: str = EMT_NAME  # a ridgeline model file, or "emt"
    dtype: str | None = None  # a model file's precision (None: the one it was trained in)
    nbeads: int = 8  # replicas of the ring polymer; 1 is classical MD
    temperature: float = 300.0  # K
    timestep: float = 0.5  # fs
    steps: int = 1000
    thermostat: str = "pile_l"  # any of THERMOSTATS
    tau: float = 100.0  # fs: the centroid's (PILE) or every mode's (langevin, svr) thermostat time
    pile_lambda: float = 1.0  # PILE: internal modes' friction gamma_k = 2 pile_lambda omega_k (1: critical)
    fixcom: bool = True  # hold the centroid's centre of mass (False for atoms in an external field)
    masses: dict = field(default_factory=dict)  # element -> amu, in place of ASE's standard masses
    seed: int = 0
    stride: int = 1  # steps between rows of the properties file
    trajectory_stride: int = 0  # steps between centroid frames written (0: none)
    equilibration: int | None = None  # steps left out of the averages (None: the first fifth)
    isotope: IsotopeConfig | None = None
    socket: str = "unix"  # unix: /tmp/ipi_<address>; inet: host and port
    address: str | None = None  # None: a name unique to the run (unix), "localhost" (inet)
    port: int = 31415  # inet only
    connect_timeout: float = 60.0  # s the client waits for i-PI to listen
    latency: float = 1e-4  # s between i-PI's polls of its requests (i-PI's default; CPU it takes from the client)
    uncertainty: bool | None = None  # record force sigmas and domain flags per call (None: if given)
    output_dir: str = "pimd_run"

    def md_config(self) -> MDConfig:
        """The MD config that names the same structure and model (its builders are reused)."""
        return MDConfig(structure=self.structure, supercell=self.supercell, model=self.model, dtype=self.dtype)

    def equilibration_steps(self) -> int:
        return self.steps // 5 if self.equilibration is None else self.equilibration

    def to_dict(self) -> dict:
        return asdict(self)


def check_config(config: PIMDConfig) -> PIMDConfig:
    """Each value said wrong by its key, before anything runs (masses made plain floats)."""
    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise ConfigError(f"config key {key!r}: {what}, got {getattr(config, key, None)!r}")

    need(config.nbeads >= 1, "nbeads", "at least 1")
    need(config.temperature > 0, "temperature", "a positive temperature in K")
    need(config.timestep > 0, "timestep", "a positive time step in fs")
    need(config.steps >= 1, "steps", "at least 1")
    need(config.supercell >= 1, "supercell", "at least 1")
    need(config.thermostat in THERMOSTATS, "thermostat", f"one of {', '.join(THERMOSTATS)}")
    need(config.tau > 0, "tau", "a positive time in fs")
    need(config.pile_lambda > 0, "pile_lambda", "a positive fraction of critical damping")
    need(config.stride >= 1 and config.stride <= config.steps, "stride", "between 1 and steps")
    need(config.trajectory_stride >= 0, "trajectory_stride", "0 (none) or a number of steps")
    need(config.equilibration is None or 0 <= config.equilibration < config.steps, "equilibration",
         "None or a number of steps below steps")
    need(config.socket in SOCKETS, "socket", f"one of {', '.join(SOCKETS)}")
    need(config.connect_timeout > 0, "connect_timeout", "a positive number of seconds")
    need(config.latency > 0, "latency", "a positive number of seconds")
    need(config.address is None or (config.address and "/" not in config.address and len(config.address) < 90),
         "address", "a short name without '/' (the socket is /tmp/ipi_<address>)")
    need(0 < config.port < 65536, "port", "a TCP port")
    for element, mass in config.masses.items():
        if isinstance(mass, bool) or not isinstance(mass, numbers.Real) or mass <= 0:
            raise ConfigError(f"config key 'masses.{element}': a positive mass in amu, got {mass!r}")
        config.masses[element] = float(mass)  # numpy numbers too: the config is written as YAML
    iso = config.isotope
    if iso is not None:
        if iso.estimator not in ESTIMATORS:
            raise ConfigError(f"config key 'isotope.estimator': one of {', '.join(ESTIMATORS)}, got {iso.estimator!r}")
        iso.mass = float(iso.mass)
        if iso.points < 2 or iso.stride < 1 or iso.mass <= 0:
            raise ConfigError(f"config keys 'isotope.points' >= 2, 'isotope.stride' >= 1, 'isotope.mass' > 0, got "
                              f"{iso.points}, {iso.stride}, {iso.mass}")
        if iso.stride % config.stride:
            raise ConfigError(f"config key 'isotope.stride': {iso.stride} must be a multiple of 'stride' ({config.stride}), "
                              "so that the properties file has the selection's kinetic energy at each isotope step")
        if iso.stride > config.steps - config.equilibration_steps():
            raise ConfigError(f"config key 'isotope.stride': {iso.stride} leaves no sample after the equilibration")
    return config


def load_pimd_config(path=None, overrides=()) -> PIMDConfig:
    """Read a PIMD YAML (``path`` None: the defaults), apply ``key=value`` overrides, validate."""
    data = read_yaml_mapping(path) if path is not None else {}
    apply_overrides(data, overrides)
    return check_config(build_dataclass(PIMDConfig, data))


__all__ = ["DEUTERIUM_MASS", "ESTIMATORS", "IsotopeConfig", "PIMDConfig", "SOCKETS", "THERMOSTATS", "check_config",
           "load_pimd_config"]

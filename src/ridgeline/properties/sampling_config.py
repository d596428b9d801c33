"""The configurations of ``ridgeline umbrella CONFIG.yaml`` and ``ridgeline ti CONFIG.yaml``: YAML
mappings read into typed dataclasses like the MD config (unknown keys are errors naming the valid
ones), with the MD config's ``structure``, ``supercell``, ``model`` and ``dtype`` keys and meaning.

Units are the MD driver's: fs, K, eV, Å; angles and dihedrals in rad (k in eV/rad^2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConfigError
from ..simulate.colvars import COLLECTIVE_VARIABLES, make_cv
from ..simulate.md import ENSEMBLES
from ..simulate.md_config import EMT_NAME, MDConfig, build_calculator, make_calculator
from ..simulate.parallel import CalculatorFactory
from ..training.config import apply_overrides, build_dataclass, read_yaml_mapping
from ..analysis.free_energy import QUADRATURES

TI_MODES = ("solid", "alchemical")


@dataclass
class CVConfig:
    kind: str = "distance"  # any of simulate.colvars.COLLECTIVE_VARIABLES
    atoms: list = field(default_factory=lambda: [0, 1])  # atom indices (coordination: the centre, then its group)
    r0: float | None = None  # Å, coordination only


@dataclass
class SamplingConfig:
    """What both commands share: the structure, the model and the MD of each run."""

    structure: str = "Cu"  # as MDConfig.structure: a file, a chemical symbol or a molecule name
    supercell: int = 1
    model: str = EMT_NAME  # a ridgeline model file, or "emt"
    dtype: str | None = None
    temperature: float = 300.0  # K
    steps: int = 2000  # production steps of each run
    equilibration: int = 500  # steps before recording
    timestep: float = 0.5  # fs
    ensemble: str = "langevin"  # a thermostatted ensemble of simulate.md.ENSEMBLES
    parameters: dict = field(default_factory=dict)  # the ensemble's (friction, tau, ...)
    interval: int = 1  # steps between recorded samples
    seed: int = 0
    workers: int = 1  # runs at once: 1 in this process, more in worker processes
    output_dir: str = "free_energy"

    def md_config(self) -> MDConfig:
        """The MD config that names the same structure and model (for its builders)."""
        return MDConfig(structure=self.structure, supercell=self.supercell, model=self.model, dtype=self.dtype)

    def executor(self):
        return "serial" if self.workers <= 1 else "process"

    def calculator(self, atoms, model: str | None = None):
        """The calculator of ``model`` (default: the config's), built here to check it; with workers,
        a factory that builds it again in each worker process."""
        from dataclasses import replace

        md_config = self.md_config() if model is None else replace(self.md_config(), model=model)
        calculator, _ = build_calculator(md_config, atoms)
        return calculator if self.workers <= 1 else CalculatorFactory(make_calculator, md_config, atoms)

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        if self.ensemble not in ENSEMBLES or self.ensemble == "nve":
            raise ConfigError(f"config key 'ensemble': needs a thermostat, one of "
                              f"{', '.join(e for e in ENSEMBLES if e != 'nve')}; got {self.ensemble!r}")
        if self.steps < 2 or self.equilibration < 0 or self.interval < 1 or self.temperature <= 0:
            raise ConfigError(f"config keys: steps >= 2, equilibration >= 0, interval >= 1 and temperature > 0, got "
                              f"{self.steps}, {self.equilibration}, {self.interval}, {self.temperature}")


@dataclass
class UmbrellaSamplingConfig(SamplingConfig):
    cv: CVConfig = field(default_factory=CVConfig)
    # the windows: explicit centres, or `windows` evenly from lower to upper (in the CV's unit)
    centers: list | None = None
    lower: float | None = None
    upper: float | None = None
    windows: int = 16
    k: float = 1.0  # eV per CV unit squared
    pull_steps: int = 200  # steps of the pull to each window's start
    bins: int = 50
    # the model's own uncertainty of F(s) (a model with uncertainties only): every frame_every-th sample's
    # structure is kept and the profile reweighted to `draws` posterior energy surfaces (0: not computed)
    frame_every: int = 10
    draws: int = 200
    confidence: float = 0.95
    output_dir: str = "umbrella"

    def build_cv(self):
        options = {} if self.cv.r0 is None else {"r0": self.cv.r0}
        if self.cv.kind not in COLLECTIVE_VARIABLES:
            raise ConfigError(f"config key 'cv.kind': unknown collective variable {self.cv.kind!r}; "
                              f"valid: {sorted(COLLECTIVE_VARIABLES)}")
        return make_cv(self.cv.kind, self.cv.atoms, **options)

    def window_centers(self, cv) -> np.ndarray:
        from .umbrella import window_centers

        if self.centers is not None:
            return np.asarray(self.centers, dtype=float)
        if self.lower is None or self.upper is None:
            raise ConfigError("config keys: give 'centers', or 'lower' and 'upper' (with 'windows')")
        return window_centers(self.lower, self.upper, self.windows, cv.period)


@dataclass
class TIConfig(SamplingConfig):
    # "solid": the crystal's absolute free energy from the Einstein crystal; "alchemical": F(model) -
    # F(reference_model) along the linear path between them
    mode: str = "solid"
    reference_model: str = EMT_NAME  # alchemical: the λ = 0 Hamiltonian, a model file or "emt"
    points: int = 8
    quadrature: str = "gauss_legendre"
    springs: float | dict | None = None  # solid: eV/Å^2, one number or per element (None: from the MSD)
    spring_steps: int = 1000
    interval: int = 5
    timestep: float = 1.0
    output_dir: str = "ti"


def load_sampling_config(cls, path=None, overrides=()):
    """Read a YAML into ``cls`` (``path`` None: the defaults), apply ``key=value`` overrides, check."""
    data = read_yaml_mapping(path) if path is not None else {}
    apply_overrides(data, overrides)
    config = build_dataclass(cls, data)
    config.check()
    if isinstance(config, TIConfig):
        if config.mode not in TI_MODES:
            raise ConfigError(f"config key 'mode': {config.mode!r}; valid: {list(TI_MODES)}")
        if config.quadrature not in QUADRATURES:
            raise ConfigError(f"config key 'quadrature': {config.quadrature!r}; valid: {list(QUADRATURES)}")
    return config


__all__ = ["CVConfig", "SamplingConfig", "TIConfig", "TI_MODES", "UmbrellaSamplingConfig", "load_sampling_config"]

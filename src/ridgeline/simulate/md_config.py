"""The configuration of ``ridgeline md CONFIG.yaml [key=value ...]``: one YAML mapping read into
:class:`MDConfig`, typed and validated like the training config (unknown keys are errors naming the
valid ones), and what it names turned into atoms and a calculator.

Units are the MD driver's (:mod:`ridgeline.simulate.md`): fs, K, GPa, 1/fs, 1/GPa, Å, eV/Å.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError, DataError, UnknownElementError
from ..training.config import apply_overrides, build_dataclass, read_yaml_mapping
from .md import ENSEMBLES, NPT_ENSEMBLES, ExplosionCheck

EMT_NAME = "emt"  # ``model: emt``: ASE's EMT, a reference calculator for the same workflow


@dataclass
class UmbrellaConfig:
    """A harmonic umbrella 0.5 k (d - center)^2 on the distance between atoms ``i`` and ``j``."""

    i: int = 0
    j: int = 1
    center: float = 2.5  # Å
    k: float = 1.0  # eV/Å^2


@dataclass
class MDConfig:
    # an ASE-readable file (its last frame), or a name: a chemical symbol for ase.build.bulk's cubic
    # cell of that crystal (Cu, Si, ...), else a molecule for ase.build.molecule (H2O, ethanol, ...)
    structure: str = "Cu"
    supercell: int = 1  # repeats of the cell along each periodic direction
    model: str = EMT_NAME  # a ridgeline model file, or "emt"
    dtype: str | None = None  # a model file's precision (None: the one it was trained in)
    ensemble: str = "nve"  # any of simulate.md.ENSEMBLES
    steps: int = 1000
    timestep: float = 1.0  # fs
    temperature: float = 300.0  # K: the initial Maxwell-Boltzmann velocities and the thermostat's target
    # the ensemble's parameters (None: the ensemble's default); others (chain, loop, ...) under parameters
    pressure: float | None = None  # GPa, NPT ensembles
    friction: float | None = None  # 1/fs, langevin
    tau: float | None = None  # fs, thermostat time constant
    tau_p: float | None = None  # fs, barostat time constant
    compressibility: float | None = None  # 1/GPa, Berendsen barostats
    parameters: dict = field(default_factory=dict)
    interval: int = 10  # steps between written frames, log rows and domain checks
    seed: int = 0
    output_dir: str = "md_run"
    # explosions: closest allowed pair distance (Å; None: the model file's smallest ZBL switch radius,
    # just below its training data, or 0.5 Å without a core or for EMT), largest force component
    # (eV/Å), kinetic temperature as a multiple of the target
    min_distance: float | None = None
    max_force: float | None = ExplosionCheck.max_force
    max_temperature_factor: float | None = ExplosionCheck.max_temperature_factor
    # the domain of a model with uncertainties: frames with a flagged atom (or a force sigma above
    # max_forces_sigma, eV/Å) go to uncertain.extxyz; with domain_stop the run stops when flags persist
    # (simulate.md.DomainStop: domain_fraction of the checks in the last domain_window fs)
    max_forces_sigma: float | None = None
    domain_stop: bool = False
    domain_window: float = 100.0  # fs
    domain_fraction: float = 0.9
    bias: UmbrellaConfig | None = None

    def ensemble_parameters(self) -> dict:
        """The ensemble's parameters that this config sets."""
        named = {k: getattr(self, k) for k in ("pressure", "friction", "tau", "tau_p", "compressibility")}
        return {**{k: v for k, v in named.items() if v is not None}, **self.parameters}

    def to_dict(self) -> dict:
        return asdict(self)


def load_md_config(path=None, overrides=()) -> MDConfig:
    """Read an MD YAML (``path`` None: the defaults), apply ``key=value`` overrides, validate."""
    data = read_yaml_mapping(path) if path is not None else {}
    apply_overrides(data, overrides)
    config = build_dataclass(MDConfig, data)
    if config.ensemble not in ENSEMBLES:
        raise ConfigError(f"config key 'ensemble': unknown ensemble {config.ensemble!r}; known: {', '.join(ENSEMBLES)}")
    if config.steps < 0 or config.supercell < 1:
        raise ConfigError(f"config keys 'steps' >= 0 and 'supercell' >= 1, got {config.steps}, {config.supercell}")
    return config


def build_structure(config: MDConfig):
    """The start structure that ``config.structure`` names, repeated ``config.supercell`` times."""
    from ase.build import bulk, molecule
    from ase.data import chemical_symbols

    name = config.structure
    if Path(name).exists():
        from ase.io import read

        try:
            atoms = read(name, index=-1)
        except Exception as err:  # ASE raises many kinds for an unreadable file
            raise DataError(f"structure {name}: ASE cannot read it: {err}") from None
    elif name in chemical_symbols[1:]:
        try:
            atoms = bulk(name, cubic=True)
        except Exception:
            try:
                atoms = bulk(name)
            except Exception as err:
                raise ConfigError(f"structure {name!r}: ase.build.bulk has no crystal for it ({err})") from None
    else:
        try:
            atoms = molecule(name)
        except Exception:
            raise ConfigError(f"structure {name!r}: not a file, nor a chemical symbol for ase.build.bulk, nor a "
                              "molecule name for ase.build.molecule") from None
    atoms.calc = None
    if config.supercell > 1 and atoms.pbc.any():
        atoms = atoms.repeat([config.supercell if p else 1 for p in atoms.pbc])
    return atoms


def build_calculator(config: MDConfig, atoms):
    """(calculator, the closest pair distance its training data allows (Å) or None); a structure
    with an element the model does not know is an :class:`UnknownElementError`."""
    from ase.data import chemical_symbols

    if config.model == EMT_NAME:
        from ase.calculators.emt import EMT, parameters

        unknown = sorted(set(atoms.get_chemical_symbols()) - set(parameters))
        if unknown:
            raise UnknownElementError(f"structure {config.structure}: EMT has no parameters for {', '.join(unknown)} "
                                      f"(it has {', '.join(sorted(parameters))})")
        calculator, closest = EMT(), None
    else:
        if not Path(config.model).is_file():
            raise ConfigError(f"config key 'model': {config.model}: no such model file (or 'emt')")
        from .calculator import Calculator

        calculator = Calculator(config.model, dtype=config.dtype)
        unknown = sorted(set(atoms.numbers.tolist()) - set(calculator.model.elements))
        if unknown:
            raise UnknownElementError(
                f"structure {config.structure}: element(s) {', '.join(chemical_symbols[z] for z in unknown)} not known to "
                f"{config.model} (it knows {', '.join(chemical_symbols[z] for z in calculator.model.elements)})")
        radii = [float(m.switch_radius.min()) for m in calculator.model.modules() if hasattr(m, "switch_radius")]
        closest = min(radii) if radii else None
    if config.bias is not None:
        from .biases import BiasedCalculator, Distance, HarmonicUmbrella

        b = config.bias
        if not (0 <= b.i < len(atoms) and 0 <= b.j < len(atoms)) or b.i == b.j:
            raise ConfigError(f"config key 'bias': atoms i={b.i}, j={b.j} must be two different indices below {len(atoms)}")
        calculator = BiasedCalculator(calculator, [HarmonicUmbrella(Distance(b.i, b.j), b.center, b.k)])
    return calculator, closest


def make_calculator(config: MDConfig, atoms):
    """``build_calculator(config, atoms)``'s calculator alone (for a CalculatorFactory)."""
    return build_calculator(config, atoms)[0]


def check_structure(config: MDConfig, atoms) -> None:
    """What the ensemble needs of the structure, said before anything runs."""
    if config.ensemble in NPT_ENSEMBLES and not atoms.pbc.all():
        raise ConfigError(f"structure {config.structure}: ensemble {config.ensemble!r} holds the pressure and needs the "
                          f"stress, so a cell periodic in all three directions (pbc={atoms.pbc.tolist()})")


__all__ = ["EMT_NAME", "MDConfig", "UmbrellaConfig", "build_calculator", "build_structure", "check_structure", "make_calculator",
           "load_md_config"]

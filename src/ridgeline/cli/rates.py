"""``ridgeline rates CONFIG.yaml [key=value ...]``: rates with their intervals, from one YAML config
with any of three sections (:class:`RatesConfig`)::

    output_dir: rates
    temperatures: [300, 400, 500, 600]     # K
    confidence: 0.95
    samples: 200                           # draws of the barriers for the TOF interval
    harmonic:                              # harmonic TST from a minimum and a saddle
      model: emt                           # a model file, or emt / xtb
      band: band.extxyz                    # what `ridgeline neb -o` writes: its first image and its highest
      # or: minimum: min.extxyz and saddle: saddle.extxyz
    microkinetics: {gas: ..., adsorbates: ..., product: ..., steps: ...}   # properties.microkinetics
    butler_volmer:
      temperature: 298.15
      reference: 0.0                       # U0, V
      points: [[0.0, 0.85, 0.05], [0.2, 0.75, 0.03]]   # [potential V, barrier eV, sigma eV] each

It writes to output_dir: ``summary.json`` (each section's result and estimates), ``rates.txt``
(the table it prints), ``harmonic.png`` (the Arrhenius plot with the interval's band),
``microkinetics.png`` (the TOF with its band, the degrees of rate control), ``butler_volmer.png``
(the fit and the Tafel plot), and ``config.yaml`` (the resolved config).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

DIRECTIONS = ("forward", "backward")


@dataclass
class HarmonicSection:
    model: str = "emt"  # a model file, or a reference calculator (emt, xtb, gfn1-xtb)
    # a band file (`ridgeline neb -o`): the minimum is its first image (direction: forward) or its
    # last (backward), the saddle its highest interior image; or give minimum and saddle files
    band: str | None = None
    direction: str = "forward"
    minimum: str | None = None
    saddle: str | None = None
    method: str = "auto"  # the Hessians: exact, finite_differences, auto
    delta: float = 0.01  # Å, finite-difference step
    device: str = "cpu"
    dtype: str = "float64"
    draws: int = 8  # posterior draws of a single model (prefactor_draws)
    prefactor_draws: bool = False  # the prefactor's sigma from the draws' Hessians too


@dataclass
class ButlerVolmerSection:
    temperature: float = 298.15  # K
    reference: float = 0.0  # U0 (V), or F0 (V/Å) for a field
    process: str = "anodic"  # anodic (oxidation) or cathodic (reduction)
    variable: str = "potential"  # potential (V) or field (V/Å)
    prefactor: float | None = None  # Hz (None: kT / h)
    points: list = field(default_factory=list)  # [potential, barrier eV, sigma eV], or mappings with those keys


@dataclass
class RatesConfig:
    output_dir: str = "rates"
    temperatures: list = field(default_factory=lambda: [300.0, 400.0, 500.0, 600.0])  # K
    confidence: float = 0.95
    samples: int = 200  # barrier draws through the microkinetic steady state
    seed: int = 0
    harmonic: HarmonicSection | None = None
    microkinetics: dict | None = None  # the network: properties.microkinetics.MicrokineticModel.from_dict
    butler_volmer: ButlerVolmerSection | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def load_rates_config(path=None, overrides=()) -> RatesConfig:
    """Read a rates YAML, apply ``key=value`` overrides, validate (lists checked here, since the
    config builder types scalars, mappings and sections)."""
    from ..errors import ConfigError
    from ..training.config import apply_overrides, build_dataclass, read_yaml_mapping

    data = read_yaml_mapping(path) if path is not None else {}
    apply_overrides(data, overrides)
    temperatures = data.pop("temperatures", None)
    section = data.get("butler_volmer")
    points = section.pop("points", None) if isinstance(section, dict) else None
    config = build_dataclass(RatesConfig, data)
    if temperatures is not None:
        config.temperatures = _numbers(temperatures, "temperatures")
    if config.butler_volmer is not None:
        config.butler_volmer.points = _points(points, config.butler_volmer.variable)
    if config.harmonic is None and config.microkinetics is None and config.butler_volmer is None:
        raise ConfigError("config: give at least one of the sections harmonic, microkinetics, butler_volmer")
    if not 0 < config.confidence < 1:
        raise ConfigError(f"config key 'confidence': must be in (0, 1), got {config.confidence}")
    if any(not t > 0 for t in config.temperatures) or not config.temperatures:
        raise ConfigError(f"config key 'temperatures': positive temperatures (K), got {config.temperatures}")
    h = config.harmonic
    if h is not None:
        if (h.band is not None and (h.minimum or h.saddle)) or (h.band is None and None in (h.minimum, h.saddle)):
            raise ConfigError("config section 'harmonic': give band (a `ridgeline neb -o` file), or minimum and saddle")
        if h.direction not in DIRECTIONS:
            raise ConfigError(f"config key 'harmonic.direction': one of {', '.join(DIRECTIONS)}, got {h.direction!r}")
    return config


def _numbers(values, key: str) -> list:
    from ..errors import ConfigError

    values = values if isinstance(values, list) else [values]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise ConfigError(f"config key {key!r}: expected a list of numbers, got {values!r}")
    return [float(v) for v in values]


def _points(points, variable: str) -> list:
    """[[x, barrier, sigma], ...] from lists of three numbers or mappings {potential|field, barrier, sigma}."""
    from ..errors import ConfigError

    if not isinstance(points, list) or len(points) < 2:
        raise ConfigError(f"config key 'butler_volmer.points': two or more [{variable}, barrier, sigma] entries, got {points!r}")
    out = []
    for k, p in enumerate(points):
        where = f"butler_volmer.points[{k}]"
        if isinstance(p, dict):
            if set(p) != {variable, "barrier", "sigma"}:
                raise ConfigError(f"config key {where!r}: a mapping with keys {variable}, barrier, sigma; got {sorted(p)}")
            p = [p[variable], p["barrier"], p["sigma"]]
        if not isinstance(p, list) or len(p) != 3:
            raise ConfigError(f"config key {where!r}: expected [{variable}, barrier, sigma], got {p!r}")
        out.append(_numbers(p, where))
    return out


def add_arguments(p) -> None:
    p.add_argument("config", help="YAML config (keys: output_dir, temperatures, confidence, samples, seed and the sections "
                                  "harmonic, microkinetics, butler_volmer; see ridgeline.cli.rates)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="override config keys (e.g. temperatures=[300,500])")


def run(args) -> int:
    import json
    from pathlib import Path

    import yaml

    from ..files import atomic_write_bytes
    from ..names import RUN_CONFIG_FILE

    config = load_rates_config(args.config, args.overrides)
    out = Path(config.output_dir)
    summary, lines = {"temperatures": config.temperatures, "confidence": config.confidence}, []
    if config.harmonic is not None:
        result = _harmonic(config)
        result.plot(out / "harmonic.png")
        summary["harmonic"] = _with_estimates(result)
        lines += _harmonic_table(result)
    if config.microkinetics is not None:
        from ..properties.microkinetics import MicrokineticModel
        from ..properties.turnover import microkinetic_analysis

        model = MicrokineticModel.from_dict(config.microkinetics)
        result = microkinetic_analysis(model, config.temperatures, config.confidence, config.samples, config.seed)
        result.plot(out / "microkinetics.png")
        summary["microkinetics"] = _with_estimates(result)
        lines += _microkinetic_table(result)
    if config.butler_volmer is not None:
        from ..properties.electrochemistry import butler_volmer

        bv = config.butler_volmer
        x, barriers, sigmas = zip(*bv.points)
        result = butler_volmer(x, barriers, sigmas, bv.temperature, bv.reference, bv.process, bv.variable, bv.prefactor,
                               config.confidence)
        result.plot(out / "butler_volmer.png")
        summary["butler_volmer"] = _with_estimates(result)
        lines += _butler_volmer_table(result)
    text = "\n".join(lines)
    atomic_write_bytes(out / "summary.json", json.dumps(_finite(summary), indent=1).encode())
    atomic_write_bytes(out / "rates.txt", (text + "\n").encode())
    atomic_write_bytes(out / RUN_CONFIG_FILE, yaml.safe_dump(config.to_dict(), sort_keys=False).encode())
    print(text)
    return 0


def _harmonic(config: RatesConfig):
    from types import SimpleNamespace

    from ..properties.rates import harmonic_rate
    from .workflow_args import load_workflow_calculator, read_structure

    h = config.harmonic
    calculator, uncertainty = load_workflow_calculator(SimpleNamespace(model=h.model, device=h.device, dtype=h.dtype,
                                                                       confidence=config.confidence, draws=h.draws))
    if h.band is not None:
        minimum, saddle = _band_ends(h.band, h.direction, calculator)
    else:
        minimum, saddle = read_structure(h.minimum), read_structure(h.saddle)
    return harmonic_rate(minimum, saddle, calculator, config.temperatures, h.method, h.delta, h.prefactor_draws,
                         uncertainty)


def _band_ends(path: str, direction: str, calculator):
    """(minimum, saddle) of a band file: its first (forward) or last (backward) image and its highest
    interior image, by the energies stored with the images (else the calculator's)."""
    from pathlib import Path

    from ase.io import read

    from ..errors import ConfigError, DataError

    if not Path(path).is_file():
        raise ConfigError(f"config key 'harmonic.band': {path}: no such file")
    try:
        images = read(path, ":")
    except Exception as err:  # ASE raises many kinds for a file it cannot parse
        raise DataError(f"{path}: cannot read a band: {err}") from None
    if len(images) < 3:
        raise DataError(f"{path}: a band needs at least three images (two endpoints and a saddle), got {len(images)}")
    energies = []
    for atoms in images:
        if atoms.calc is None:
            atoms.calc = calculator
        energies.append(float(atoms.get_potential_energy()))
    highest = 1 + max(range(len(images) - 2), key=lambda k: energies[k + 1])
    minimum = images[0] if direction == "forward" else images[-1]
    if energies[highest] <= max(energies[0], energies[-1]):
        raise DataError(f"{path}: no interior image lies above both endpoints (energies {[round(e, 4) for e in energies]} "
                        "eV): not a band over a barrier")
    return minimum.copy(), images[highest].copy()


def _with_estimates(result) -> dict:
    return {**result.to_dict(), "estimates": {k: v.to_dict() for k, v in result.estimates().items()}}


def _finite(value):
    """``value`` with NaN and infinities as None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _interval(lower, upper) -> str:
    return "" if lower is None else f"[{lower:.3e}, {upper:.3e}]"


def _harmonic_table(r) -> list[str]:
    imaginary = r.saddle_frequencies_cm[r.saddle_frequencies_cm < 0]
    lines = [f"harmonic TST: barrier {r.barrier}, prefactor {r.prefactor:.4g} Hz, saddle's imaginary mode "
             f"{abs(imaginary[0]):.1f}i cm^-1",
             "  T (K)   k classical (1/s)  k quantum (1/s)  interval (classical)"]
    for k, t in enumerate(r.temperatures):
        band = "" if r.lower is None else _interval(r.lower[k], r.upper[k]) + f" ({100 * r.confidence:g}%)"
        lines.append(f"  {t:6.1f}  {r.classical[k]:17.4e}  {r.quantum[k]:15.4e}  {band}")
    return lines + ([] if r.lower is not None else ["  no interval: the calculator has no uncertainties"])


def _microkinetic_table(r) -> list[str]:
    lines = [f"microkinetics: TOF of {r.product} per site"
             + ("" if r.apparent_activation_energy is None else f", apparent activation energy {r.apparent_activation_energy:.4f} eV"),
             "  T (K)   TOF (1/s)    interval                  sigma ln TOF (sampled, linearised)"]
    for k, t in enumerate(r.temperatures):
        sigmas = "" if r.sigma_ln_tof is None else f"{r.sampled_sigma_ln_tof[k]:.3f}, {r.sigma_ln_tof[k]:.3f}"
        band = "" if r.lower is None else _interval(r.lower[k], r.upper[k])
        lines.append(f"  {t:6.1f}  {r.tof[k]:11.4e}  {band:24s}  {sigmas}")
    lines.append("  coverages: " + "  ".join(f"{s:>10s}" for s in r.species))
    lines += [f"  {t:6.1f} K   " + "  ".join(f"{c:10.3e}" for c in row) for t, row in zip(r.temperatures, r.coverages)]
    if r.degree_of_rate_control is not None:
        lines.append("  degree of rate control: " + "  ".join(f"{s:>10s}" for s in r.steps))
        lines += [f"  {t:6.1f} K   " + "  ".join(f"{x:10.4f}" for x in row)
                  for t, row in zip(r.temperatures, r.degree_of_rate_control)]
    return lines + [f"  warning: {w}" for w in r.warnings]


def _butler_volmer_table(r) -> list[str]:
    symbol = "U0" if r.variable == "potential" else "F0"
    name = "transfer coefficient alpha" if r.variable == "potential" else "dipole difference"
    lines = [f"Butler-Volmer ({r.process}, {r.temperature:g} K, {symbol} = {r.reference:g}, {len(r.barriers)} points, "
             f"chi^2 {r.chi_squared:.3g} for {r.degrees_of_freedom} dof)",
             f"  {name}: {r.alpha.value:.4f} ± {r.alpha.sigma:.4f}{'' if r.alpha.unit == '1' else ' ' + r.alpha.unit} "
             f"[{r.alpha.lower:.4f}, {r.alpha.upper:.4f}] ({100 * r.confidence:g}%)",
             f"  barrier at {symbol}: {r.barrier_at_reference}",
             f"  rate at {symbol}: {r.rate_at_reference.value:.4e} Hz "
             f"{_interval(r.rate_at_reference.lower, r.rate_at_reference.upper)}"]
    if r.tafel_slope is not None:
        upper = "inf" if not math.isfinite(r.tafel_slope.upper) else f"{r.tafel_slope.upper:.1f}"
        lines.append(f"  Tafel slope: {r.tafel_slope.value:.1f} mV/decade [{r.tafel_slope.lower:.1f}, {upper}]")
    return lines + [f"  warning: {w}" for w in r.warnings]

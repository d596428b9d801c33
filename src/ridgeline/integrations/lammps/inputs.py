"""A LAMMPS input from ridgeline's MD config (:class:`ridgeline.simulate.md_config.MDConfig`): the
same keys mean the same run in ``ridgeline md`` (ASE's integrators) and ``ridgeline lammps md``.

Units are LAMMPS' ``metal`` (ps, bar); the config's are the MD driver's (fs, GPa, 1/fs), converted
here only. Each ridgeline ensemble maps to the LAMMPS fixes that sample the same distribution with
the same parameters (defaults from ``simulate.md.ensemble_parameters``, one source of truth):

=======================  =====================================================================
``nve``                  ``fix nve``
``langevin``             ``fix nve`` + ``fix langevin`` (damp = 1 / friction)
``bussi``                ``fix nve`` + ``fix temp/csvr`` (tau)
``nose_hoover_chain``    ``fix nvt`` (tau, tchain, tloop)
``npt_mtk``              ``fix npt ... iso`` (tau, tau_p, tchain, pchain, tloop, ploop)
``npt_mtk_aniso``        ``change_box all triclinic`` + ``fix npt ... tri`` (every cell degree)
``npt_berendsen``        ``fix nve`` + ``fix temp/berendsen`` + ``fix press/berendsen iso``
                         (modulus = 1 / compressibility)
``npt_berendsen_aniso``  as ``npt_berendsen``, ``aniso``
``npt_langevin``         ``fix nve`` + ``fix langevin`` (damp = tau) + ``fix press/langevin iso``
=======================  =====================================================================

``andersen`` has no LAMMPS fix and is refused. The umbrella ``bias`` 0.5 k (d - center)^2 is
``fix restrain ... bond`` with K = k / 2 (LAMMPS' restraint is K (d - d0)^2), its energy in the
potential energy; it adds no virial (LAMMPS' restraint has none), so the pressure leaves it out and
a bias with a barostat is refused. Stop rules, as ``fix halt`` (``error soft``: the run ends cleanly at that step):
the explosion check's force and temperature limits every step (the closest-pair test needs pair
distances that a many-body pair style does not give: not checked), and with a committee
(``ridgeline export`` of an ensemble) and ``max_forces_sigma`` the largest per-atom force sigma
each recorded step, stopping under ``domain_stop`` by the same rule as ``simulate.md.DomainStop``
(``domain_fraction`` of the last ``domain_window`` fs of checks, earlier checks unflagged).
"""

from __future__ import annotations

from ...errors import ConfigError
from ...simulate.md import NPT_ENSEMBLES, DomainStop, ensemble_parameters

GPA_TO_BAR = 1e4
# LAMMPS' metal units convert eV/Å^3 to bar by its own constant (ASE's units give 1.602176634e6):
# its pressures and virials are read back with it
LAMMPS_NKTV2P = 1.6021765e6
FS_TO_PS = 1e-3
# fix halt IDs: the log names the one that stopped a run
HALT_FORCE, HALT_TEMPERATURE, HALT_DOMAIN = "explosion_force", "explosion_temperature", "domain"
# thermo keywords and the log's names for them
THERMO = (("step", "Step"), ("time", "Time"), ("pe", "PotEng"), ("ke", "KinEng"), ("etotal", "TotEng"), ("temp", "Temp"),
          ("press", "Press"), *[(f"c_virial[{k}]", f"c_virial[{k}]") for k in range(1, 7)])
SIGMA_COLUMN = "v_smax"
DATA_FILE, INPUT_FILE, LOG_FILE, DUMP_FILE = "data.lammps", "in.lammps", "log.lammps", "dump.lammpstrj"


def parameters(config) -> dict:
    """The ensemble's parameters: its defaults, then what the config sets."""
    if config.ensemble == "andersen":
        raise ConfigError("ensemble 'andersen': LAMMPS has no Andersen thermostat; run it with `ridgeline md`, or choose "
                          "bussi / nose_hoover_chain / langevin")
    merged = {**ensemble_parameters(config.ensemble), **config.ensemble_parameters()}
    unknown = sorted(set(merged) - set(ensemble_parameters(config.ensemble)))
    if unknown:
        raise ConfigError(f"ensemble {config.ensemble!r}: unknown parameter(s) {', '.join(unknown)}; "
                          f"known: {', '.join(ensemble_parameters(config.ensemble)) or 'none'}")
    return merged


def ensemble_fixes(config, seed: int) -> list[str]:
    """The integrator and thermostat/barostat lines (module docstring); ``seed`` > 0 for LAMMPS' RNGs."""
    p, t = parameters(config), config.temperature
    name = config.ensemble
    ps = lambda fs: f"{fs * FS_TO_PS!r}"  # noqa: E731
    bar = lambda gpa: f"{gpa * GPA_TO_BAR!r}"  # noqa: E731
    if name == "nve":
        return ["fix integrate all nve"]
    if name == "langevin":
        if p["friction"] <= 0:
            return ["fix integrate all nve"]
        return ["fix integrate all nve", f"fix thermostat all langevin {t} {t} {ps(1.0 / p['friction'])} {seed}"]
    if name == "bussi":
        return ["fix integrate all nve", f"fix thermostat all temp/csvr {t} {t} {ps(p['tau'])} {seed}"]
    if name == "nose_hoover_chain":
        return [f"fix integrate all nvt temp {t} {t} {ps(p['tau'])} tchain {p['chain']} tloop {p['loop']}"]
    if name in ("npt_mtk", "npt_mtk_aniso"):
        couple = "iso" if name == "npt_mtk" else "tri"
        head = [] if name == "npt_mtk" else ["change_box all triclinic"]
        return head + [f"fix integrate all npt temp {t} {t} {ps(p['tau'])} {couple} {bar(p['pressure'])} "
                       f"{bar(p['pressure'])} {ps(p['tau_p'])} tchain {p['chain']} pchain {p['pchain']} "
                       f"tloop {p['loop']} ploop {p['ploop']}"]
    if name in ("npt_berendsen", "npt_berendsen_aniso"):
        couple = "iso" if name == "npt_berendsen" else "aniso"
        modulus = GPA_TO_BAR / p["compressibility"]
        return ["fix integrate all nve", f"fix thermostat all temp/berendsen {t} {t} {ps(p['tau'])}",
                f"fix barostat all press/berendsen {couple} {bar(p['pressure'])} {bar(p['pressure'])} "
                f"{ps(p['tau_p'])} modulus {modulus!r}"]
    if name == "npt_langevin":
        return ["fix integrate all nve", f"fix thermostat all langevin {t} {t} {ps(p['tau'])} {seed}",
                f"fix barostat all press/langevin iso {bar(p['pressure'])} {bar(p['pressure'])} {ps(p['tau_p'])} "
                f"temp {t} {t} {seed + 1}"]
    raise ConfigError(f"ensemble {name!r} has no LAMMPS translation")


def bias_lines(config) -> list[str]:
    if config.bias is None:
        return []
    if config.ensemble in NPT_ENSEMBLES:
        raise ConfigError(f"bias with ensemble {config.ensemble!r}: LAMMPS' fix restrain adds no virial, so the barostat "
                          "would not see the bias; run it with `ridgeline md`")
    b = config.bias
    k = 0.5 * b.k  # LAMMPS: K (d - d0)^2
    return [f"fix umbrella all restrain bond {b.i + 1} {b.j + 1} {k!r} {k!r} {b.center!r}", "fix_modify umbrella energy yes"]


def stop_lines(config, sigma: bool) -> list[str]:
    """``fix halt`` lines for the explosion check and, with ``sigma`` (a per-step ``v_smax``), the domain rule."""
    lines = []
    if config.max_force is not None:
        lines += ["variable fx_abs atom abs(fx)", "variable fy_abs atom abs(fy)", "variable fz_abs atom abs(fz)",
                  "compute fmax all reduce max v_fx_abs v_fy_abs v_fz_abs",
                  "variable fmax equal ternary(c_fmax[1]>c_fmax[2],c_fmax[1],c_fmax[2])",
                  "variable fmax3 equal ternary(v_fmax>c_fmax[3],v_fmax,c_fmax[3])",
                  f"fix {HALT_FORCE} all halt 1 v_fmax3 > {config.max_force!r} error soft"]
    if config.max_temperature_factor is not None:
        limit = config.max_temperature_factor * max(config.temperature, 100.0)
        lines += ["variable hot equal temp", f"fix {HALT_TEMPERATURE} all halt 1 v_hot > {limit!r} error soft"]
    if sigma and config.domain_stop and config.max_forces_sigma is not None:
        rule = DomainStop(config.domain_window, config.domain_fraction, config.max_forces_sigma)
        n, needed = rule.checks(config.timestep, config.interval)
        every = config.interval
        # the flagged share of the last n checks: a running mean over those made so far, scaled to n
        lines += [f"variable flagged equal v_smax>{config.max_forces_sigma!r}",
                  f"fix window all ave/time {every} 1 {every} v_flagged ave window {n}",
                  f"variable share equal f_window*ternary(step/{every}+1<{n},step/{every}+1,{n})/{n}*(step>0)",
                  f"fix {HALT_DOMAIN} all halt {every} v_share >= {(needed - 0.5) / n!r} error soft"]
    return lines


def lammps_input(config, atoms, elements: list[str], force_lines: list[str], sigma_lines: list[str], seed: int) -> str:
    """The whole input: the data file, the forces (``force_lines``: the pair style, or fix external),
    ``sigma_lines`` (defining ``v_smax`` each step, or none), the ensemble, the bias, the stop rules,
    thermo every ``interval`` steps and a dump of positions, velocities, forces (and per-atom sigma
    with the plugin's committee) at the same steps."""
    if config.ensemble in NPT_ENSEMBLES and not atoms.pbc.all():
        raise ConfigError(f"structure {config.structure}: ensemble {config.ensemble!r} needs a cell periodic in all three "
                          f"directions (pbc={atoms.pbc.tolist()})")
    boundary = " ".join("p" if p else "s" for p in atoms.pbc)
    sigma = bool(sigma_lines)
    columns = [keyword for keyword, _ in THERMO] + ([SIGMA_COLUMN] if sigma else [])
    committee = any(line.startswith("fix committee ") for line in sigma_lines)  # the plugin's per-atom sigma
    dump_columns = "id type element x y z vx vy vz fx fy fz" + (" f_committee" if committee else "")
    lines = [
        "# written by ridgeline (integrations.lammps.inputs) from an MD config",
        "units metal", "atom_style atomic", "atom_modify map yes", f"boundary {boundary}", f"read_data {DATA_FILE}",
        *force_lines, *sigma_lines,
        "compute virial all pressure NULL virial",
        f"timestep {config.timestep * FS_TO_PS!r}",
        *ensemble_fixes(config, seed), *bias_lines(config), *stop_lines(config, sigma),
        f"thermo_style custom {' '.join(columns)}",
        f"thermo {config.interval}", "thermo_modify format float %.15g flush yes",
        f"dump trajectory all custom {config.interval} {DUMP_FILE} {dump_columns}",
        f"dump_modify trajectory sort id format float %.15g element {' '.join(elements)}",
        f"run {config.steps}",
    ]
    return "\n".join(lines) + "\n"


def thermostat_seed(rng) -> int:
    """A seed for LAMMPS' thermostats from the run's generator (after the velocities)."""
    return int(rng.integers(1, 900_000_000))


__all__ = ["DATA_FILE", "DUMP_FILE", "GPA_TO_BAR", "LAMMPS_NKTV2P", "HALT_DOMAIN", "HALT_FORCE", "HALT_TEMPERATURE", "INPUT_FILE",
           "LOG_FILE", "SIGMA_COLUMN", "THERMO", "bias_lines", "ensemble_fixes", "lammps_input", "parameters",
           "stop_lines", "thermostat_seed"]

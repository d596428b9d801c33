"""``validate``: a model checked at every level in one call.

1. Errors on a labelled file, overall and by config_type (``labelled.py``).
2. Properties: for each structure (a crystal or a molecule; by default the crystal of each element
   of a one-element model), the workflows of ``workflows.py`` run with the model, its intervals and
   domain flags included, and with the reference: a calculator computed on the spot (``emt``,
   ``xtb``, any ASE calculator) running the same code, or a table of values (``references.py``).
   Each row passes when |model - reference| is within its tolerance (``tolerances.py``).
3. g(r) of the model's MD against a reference trajectory (``rdf_check.py``).

A workflow that fails (a relaxation that does not converge, a structure that explodes) becomes a
failed check and the rest goes on. With an output directory, every workflow's estimates are kept in
``validate_cache/`` as they finish, so a killed validation resumes without recomputing them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError, RelaxationError
from ..files import atomic_write_bytes
from ..properties.estimates import Estimate, Uncertainty
from .references import ReferenceTable, read_reference_table
from .report import Check, PropertyRow, ValidationReport
from .tolerances import parse_tolerance, tolerance_for
from .workflows import CRYSTAL, WORKFLOWS, choose_workflows, structure_kind

CACHE = "validate_cache"
REPORT_MD, REPORT_JSON = "validation.md", "validation.json"
# what ends one workflow and not the validation: a relaxation that failed, numerics, a reference
# code that failed (bad input, e.g. an element the model lacks, still ends it with its message)
WORKFLOW_ERRORS = (RelaxationError, ArithmeticError, RuntimeError, np.linalg.LinAlgError)


def _reference(reference, device, dtype):
    """(calculator or None, table or None, label)."""
    if reference is None:
        return None, None, None
    if isinstance(reference, (str, Path)):
        text = str(reference)
        if text.lower().endswith((".yaml", ".yml")):
            table = read_reference_table(text)
            return None, table, f"the table {text}" + (f" ({table.source})" if table.source else "")
        from ..simulate.named import calculator

        return calculator(text, device=device, dtype=dtype), None, text
    return reference, None, type(reference).__name__


def _default_structures(model_calc, table: ReferenceTable | None) -> list[str]:
    if table is not None and all(table.structures):
        return list(table.structures)
    from ase.data import chemical_symbols

    elements = [chemical_symbols[z] for z in model_calc.model.elements]
    if len(elements) != 1:
        raise ConfigError(f"the model knows {', '.join(elements)}: name the structure(s) to validate on (--structure)")
    return elements


def _prepare(atoms, calc, kind: str, fmax: float):
    """``atoms`` relaxed under ``calc`` (the cell too for a crystal): (relaxed atoms, converged, steps)."""
    from ..simulate.relax import relax

    result = relax(atoms, calc, cell=kind == CRYSTAL, fmax=fmax, max_steps=500)
    return result.atoms, result.converged, result.steps


class _Cache:
    """Each workflow's estimates, one JSON file per (structure, workflow, side, quick), kept with
    the identity of what made them (the model file, the reference, the interval settings): an entry
    made by another model or reference is recomputed, not reused."""

    def __init__(self, folder, identity: dict):
        self.folder = None if folder is None else Path(folder) / CACHE
        self.identity = identity

    def path(self, *parts) -> Path | None:
        return None if self.folder is None else self.folder / ("-".join(p.replace("/", "_") for p in parts) + ".json")

    def get(self, *parts):
        p = self.path(*parts)
        if p is None or not p.exists():
            return None
        try:
            entry = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return entry.get("result") if entry.get("identity") == self.identity else None

    def put(self, value, *parts) -> None:
        p = self.path(*parts)
        if p is not None:
            p.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(p, (json.dumps({"identity": self.identity, "result": value}) + "\n").encode())


def _fingerprint(path) -> dict:
    """What identifies a model file: its resolved path, size and modification time."""
    stat = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime": stat.st_mtime}


def _run_workflow(name, atoms, calc, unc, quick, progress, plot_path=None) -> dict:
    """{"estimates": {name: Estimate dict}, "warnings": [...]} or {"error": message}."""
    try:
        result = WORKFLOWS[name](atoms, calc, unc, progress=progress, quick=quick)
    except WORKFLOW_ERRORS as err:
        return {"error": f"{type(err).__name__}: {err}"}
    out = {"estimates": {k: e.to_dict() for k, e in result.estimates().items()},
           "warnings": [str(w) for w in getattr(result, "warnings", []) or []]}
    if plot_path is not None:
        plot = WORKFLOWS[name].plot
        if plot is not None:
            try:
                plot(result, plot_path)
                out["plot"] = Path(plot_path).name
            except (OSError, ValueError, RuntimeError) as err:  # the numbers stand without their plot
                out["warnings"].append(f"plot not drawn: {type(err).__name__}: {err}")
    return out


def validate(model, *, data=None, structures=None, reference=None, workflows=None, trajectory=None,
             tolerances: dict | None = None, quick: bool = False, confidence: float = 0.95, draws: int = 8,
             temperature: float | None = None, output_dir=None, device: str = "cpu", dtype: str | None = None,
             key_map=None, fmax: float = 0.005, progress: bool = False) -> ValidationReport:
    """Validate the model file ``model`` (module docstring).

    ``data``: a labelled file for the errors by config_type. ``structures``: names or files
    (``simulate.named.structure``; None: the reference table's, else the crystal of a one-element
    model's element; empty: no properties). ``reference``: a calculator name (``emt``, ``xtb``), a YAML table
    (``*.yaml``), or an ASE calculator. ``workflows``: names of ``workflows.WORKFLOWS`` (default:
    what the table has values for, else all for the structure's kind; ``quick``: the light
    ones with lighter options). ``trajectory``: a reference trajectory for g(r) (``temperature``
    if its frames carry no velocities). ``tolerances``: ``{name or pattern: 0.05 or "5%"}``
    replacing the defaults. ``confidence``, ``draws``: the intervals (``properties.estimates``).
    ``output_dir``: the report (``validation.md``, ``validation.json``), plots and the cache."""
    from ..simulate.calculator import Calculator
    from ..simulate.named import structure as named_structure

    tol_table = {k: parse_tolerance(v, f"tolerances.{k}") for k, v in (tolerances or {}).items()}
    out = None if output_dir is None else Path(output_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    calc = Calculator(model, device=device, dtype=dtype)
    unc = Uncertainty(calc, confidence=confidence, draws=draws)
    fast = calc.without_uncertainty()  # the workflows' loops; their intervals come from ``unc``
    ref_calc, table, ref_label = _reference(reference, device, dtype)
    report = ValidationReport(str(model), ref_label)
    cache = _Cache(out, {"model": _fingerprint(model), "reference": ref_label, "confidence": confidence, "draws": draws,
                         "dtype": str(calc.dtype)})

    if data is not None:
        from .labelled import errors_by_config_type

        report.errors = errors_by_config_type(calc.model, data, key_map, plot=None if out is None else out / "parity.png")
        if out is not None:
            report.plots["parity of the labelled data"] = "parity.png"

    names = _default_structures(calc, table) if structures is None else list(structures)
    for label in names:
        atoms = named_structure(label)
        kind = structure_kind(atoms)
        ref_values = {}
        if table is not None:
            ref_values = table.structures.get(label) or table.structures.get("") or {}
        chosen = choose_workflows(kind, workflows, quick, () if workflows else tuple(ref_values))
        prepared = {}
        for who, c in (("model", fast), ("reference", ref_calc)):
            if c is None:
                continue
            try:
                prepared[who], converged, steps = _prepare(atoms, c, kind, fmax)
                report.checks.append(Check(label, f"relaxation ({who})", bool(converged),
                                           f"{'converged' if converged else 'NOT converged'} in {steps} steps"
                                           + (" (cell and positions)" if kind == CRYSTAL else "")))
            except WORKFLOW_ERRORS as err:
                report.checks.append(Check(label, f"relaxation ({who})", False, f"{type(err).__name__}: {err}"))
        if "model" not in prepared:
            continue
        for name in chosen:
            results = {}
            for who, c in (("model", fast), ("reference", ref_calc)):
                if c is None or who not in prepared:
                    continue
                cached = cache.get(label, name, who, "quick" if quick else "full")
                if cached is None:
                    plot_path = None if out is None else out / f"{Path(label).name}-{name}-{who}.png"
                    cached = _run_workflow(name, prepared[who], c, unc if who == "model" else Uncertainty(c),
                                           quick, progress, plot_path)
                    if "error" not in cached:
                        cache.put(cached, label, name, who, "quick" if quick else "full")
                results[who] = cached
                if "error" in cached:
                    report.checks.append(Check(label, f"{name} ({who})", False, cached["error"]))
                for w in cached.get("warnings", []):
                    report.checks.append(Check(label, f"{name} ({who})", None, w))
                if "plot" in cached:
                    report.plots[f"{label}: {name} ({who})"] = cached["plot"]
            model_estimates = results.get("model", {}).get("estimates", {})
            ref_estimates = results.get("reference", {}).get("estimates", {})
            for pname, est in model_estimates.items():
                ref = ref_estimates.get(pname, {}).get("value") if ref_calc is not None else None
                ref_tol = None
                if table is not None and pname in ref_values:
                    rv = ref_values[pname]
                    if rv.unit is not None and rv.unit != est["unit"]:
                        raise ConfigError(f"{table.path}: {label}.{pname} is given in {rv.unit}, and the workflow reports "
                                          f"{est['unit']}: give it in {est['unit']}")
                    ref, ref_tol = rv.value, rv.tolerance
                report.properties.append(_row(label, name, pname, Estimate(**est), ref, ref_tol or tolerance_for(pname, tol_table)))
        for pname in sorted(set(ref_values) - {r.name for r in report.properties if r.structure == label}):
            report.checks.append(Check(label, f"reference {pname}", False,
                                       "the table has a value that no workflow run here computed"))

    if trajectory is not None:
        from .rdf_check import plot_rdf_comparison, rdf_comparison

        try:
            comparison = rdf_comparison(fast, trajectory, temperature=temperature, progress=progress)
        except WORKFLOW_ERRORS as err:
            report.checks.append(Check(str(trajectory), "g(r)", False, f"{type(err).__name__}: {err}"))
        else:
            report.rdf = {k: v for k, v in comparison.items() if k not in ("r", "g_reference", "g_model")}
            for pname in ("rdf_first_peak_position", "rdf_first_peak_height", "rdf_difference"):
                value, ref = comparison[pname]
                unit = "Å" if pname.endswith("position") else "1"
                report.properties.append(_row(Path(str(trajectory)).name, "rdf", pname, Estimate(value, unit), ref,
                                              tolerance_for(pname, tol_table)))
            if out is not None:
                plot_rdf_comparison(comparison, out / "rdf.png")
                report.plots["g(r) against the reference trajectory"] = "rdf.png"

    if out is not None:
        _property_plot(report, out / "properties.png")
        if report.properties:
            report.plots["properties: model against reference, in units of the tolerance"] = "properties.png"
        atomic_write_bytes(out / REPORT_JSON, (report.to_json() + "\n").encode())
        atomic_write_bytes(out / REPORT_MD, report.markdown().encode())
    return report


def _row(structure, workflow, name, est: Estimate, reference, tolerance) -> PropertyRow:
    passed = in_ci = None
    if reference is not None and math.isfinite(reference):
        if tolerance is not None:
            passed = bool(abs(est.value - reference) <= tolerance.bound(reference))
        in_ci = est.contains(reference)
    return PropertyRow(structure, workflow, name, est.unit, est.value, est.ci, est.sigma, reference,
                       None if tolerance is None else tolerance.to_json(), passed, in_ci, est.out_of_domain)


def _property_plot(report: ValidationReport, path) -> None:
    """(model - reference) / tolerance bound per compared property, with the interval as error bar."""
    rows = [r for r in report.properties if r.passed is not None]
    if not rows:
        return
    from ..analysis.results import pyplot, save_figure
    from .tolerances import parse_tolerance as parse

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(rows) + 1.2))
    for k, r in enumerate(rows):
        bound = parse(r.tolerance).bound(r.reference) or 1e-12
        x = (r.model - r.reference) / bound
        err = None if not r.model_ci else [[(r.model - r.model_ci[0]) / bound], [(r.model_ci[1] - r.model) / bound]]
        ax.errorbar([x], [k], xerr=err, fmt="o", color="tab:red" if r.out_of_domain else ("tab:blue" if r.passed else "tab:orange"),
                    capsize=3)
    ax.axvspan(-1, 1, color="tab:green", alpha=0.15, label="within tolerance")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(rows)), [f"{r.structure}: {r.name}" for r in rows], fontsize=7)
    ax.set_xlabel("(model - reference) / tolerance")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["REPORT_JSON", "REPORT_MD", "validate"]

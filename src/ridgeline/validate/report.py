"""The validation report: one row per property (model, its interval, reference, tolerance, pass),
checks, errors by config_type, and the g(r) comparison; as JSON and as markdown.

JSON (``ValidationReport.to_dict``): ``{"model", "reference", "passed", "summary", "properties":
[{"structure", "workflow", "name", "unit", "model", "model_ci": [low, high] | null, "model_sigma",
"reference", "tolerance", "passed", "reference_in_ci", "out_of_domain"}], "checks": [{"structure",
"name", "passed", "detail"}], "errors": {...} | null, "rdf": {...} | null}``. ``passed`` is null
where there is nothing to compare (no reference value, or no tolerance for the name).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field


@dataclass
class PropertyRow:
    structure: str
    workflow: str
    name: str
    unit: str
    model: float | None
    model_ci: list | None = None
    model_sigma: float | None = None
    reference: float | None = None
    tolerance: float | str | None = None  # absolute in ``unit``, or "5%"
    passed: bool | None = None
    reference_in_ci: bool | None = None
    out_of_domain: bool | None = None


@dataclass
class Check:
    """A check of a run (``passed`` True or False), or a workflow's warning (``passed`` None: said
    in the report, not a failure)."""

    structure: str
    name: str
    passed: bool | None
    detail: str = ""


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


@dataclass
class ValidationReport:
    model: str
    reference: str | None
    properties: list = field(default_factory=list)  # PropertyRow
    checks: list = field(default_factory=list)  # Check
    errors: dict | None = None  # compute_metrics of the labelled file, per config_type
    rdf: dict | None = None
    plots: dict = field(default_factory=dict)  # caption -> file name (relative to the report)

    @property
    def passed(self) -> bool:
        """Every compared property within tolerance, and every check passed (warnings aside)."""
        return all(r.passed is not False for r in self.properties) and all(c.passed is not False for c in self.checks)

    def summary(self) -> dict:
        compared = [r for r in self.properties if r.passed is not None]
        with_ci = [r for r in self.properties if r.reference_in_ci is not None]
        return {"properties": len(self.properties), "compared": len(compared),
                "passed": sum(bool(r.passed) for r in compared),
                "out_of_domain": sum(bool(r.out_of_domain) for r in self.properties),
                "reference_in_ci": sum(bool(r.reference_in_ci) for r in with_ci), "with_ci": len(with_ci),
                "checks": sum(c.passed is not None for c in self.checks), "checks_passed": sum(c.passed is True for c in self.checks),
                "warnings": sum(c.passed is None for c in self.checks)}

    def to_dict(self) -> dict:
        return _clean({"model": self.model, "reference": self.reference, "passed": self.passed, "summary": self.summary(),
                       "properties": [asdict(r) for r in self.properties], "checks": [asdict(c) for c in self.checks],
                       "errors": self.errors, "rdf": self.rdf, "plots": self.plots})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def markdown(self) -> str:
        s = self.summary()
        lines = [f"# Validation of `{self.model}`", "",
                 f"Reference: {self.reference or 'none (model values only)'}.", "",
                 f"**{'PASSED' if self.passed else 'FAILED'}**: {s['passed']} of {s['compared']} compared properties "
                 f"within tolerance; {s['checks_passed']} of {s['checks']} checks passed ({s['warnings']} warnings); "
                 f"{s['out_of_domain']} properties computed from structures outside the model's domain; "
                 f"reference inside the model's interval for {s['reference_in_ci']} of {s['with_ci']}.", ""]
        if self.errors:
            lines += ["## Errors on the labelled data, by config_type", "",
                      "| subset | frames | E MAE (meV/atom) | E RMSE (meV/atom) | F MAE (eV/Å) | F RMSE (eV/Å) |",
                      "|---|---|---|---|---|---|"]
            rows = [("all", self.errors)] + sorted((self.errors.get("per_config_type") or {}).items())
            for name, m in rows:
                lines.append(f"| {name} | {m.get('n_frames', '-')} | {_fmt(m.get('energy_mae'))} | {_fmt(m.get('energy_rmse'))} "
                             f"| {_fmt(m.get('forces_mae'))} | {_fmt(m.get('forces_rmse'))} |")
            lines.append("")
        if self.properties:
            level = next((r for r in self.properties if r.model_ci), None)
            lines += ["## Properties", "",
                      "| structure | property | unit | model | interval | reference | tolerance | pass | in interval | domain |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for r in self.properties:
                ci = f"[{_fmt(r.model_ci[0])}, {_fmt(r.model_ci[1])}]" if r.model_ci else "-"
                pas = "-" if r.passed is None else ("pass" if r.passed else "**FAIL**")
                dom = "-" if r.out_of_domain is None else ("**OUT**" if r.out_of_domain else "in")
                lines.append(f"| {r.structure} | {r.name} | {r.unit} | {_fmt(r.model)} | {ci} | {_fmt(r.reference)} | "
                             f"{_fmt(r.tolerance)} | {pas} | {_fmt(r.reference_in_ci)} | {dom} |")
            lines += ["", "Intervals: the model's calibrated uncertainty propagated to each property "
                          f"({'none: the model has no uncertainty data' if level is None else 'central, Gaussian'}); "
                          "domain: whether any structure the property was computed from has atoms outside the model's "
                          "domain of applicability (then do not trust the value).", ""]
        if self.checks:
            lines += ["## Checks", "", "| structure | check | result | detail |", "|---|---|---|---|"]
            result = {True: "pass", False: "**FAIL**", None: "warning"}
            lines += [f"| {c.structure} | {c.name} | {result[c.passed]} | {c.detail} |" for c in self.checks]
            lines.append("")
        if self.rdf:
            lines += ["## g(r) against the reference trajectory", "", self.rdf.get("text", ""), ""]
        if self.plots:
            lines += ["## Plots", ""] + [f"- {caption}: `{name}`" for caption, name in self.plots.items()] + [""]
        return "\n".join(lines)


__all__ = ["Check", "PropertyRow", "ValidationReport"]

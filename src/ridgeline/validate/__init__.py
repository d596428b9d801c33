"""Multi-level validation of a model: errors by config_type, properties against a reference with
intervals and domain flags, g(r) against a reference trajectory (``run.validate``)."""

from .report import Check, PropertyRow, ValidationReport
from .run import REPORT_JSON, REPORT_MD, validate

__all__ = ["Check", "PropertyRow", "REPORT_JSON", "REPORT_MD", "ValidationReport", "validate"]

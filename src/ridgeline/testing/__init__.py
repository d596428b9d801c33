"""Test helpers shipped with the package, so that every architecture (ours or a user's) is held
to the same checks: ``EnergyModelTests`` (NequIP's ``EnergyModelTestsMixin`` in spirit)."""

from .model_tests import EnergyModelTests, example_structures

__all__ = ["EnergyModelTests", "example_structures"]

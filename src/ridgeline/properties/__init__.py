"""Workflows on ``simulate``: material and molecular properties from a calculator."""

"""Observables from trajectories (numpy/scipy/ase/vesin only, so a reference code's MD can be
analysed too). Each takes a list of ``ase.Atoms`` (:func:`load_frames` reads a file) and returns a
dataclass with ``to_dict()`` and ``to_json()``."""

from .rdf import RDF, plot_rdf, rdf
from .trajectory import load_frames

__all__ = ["RDF", "rdf", "plot_rdf", "load_frames"]

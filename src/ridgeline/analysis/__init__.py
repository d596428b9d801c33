"""Observables from trajectories (numpy/scipy/ase/vesin only, so a reference code's MD can be
analysed too). Each takes a list of ``ase.Atoms`` (:func:`load_frames` reads a file) and returns a
dataclass with ``to_dict()`` and ``to_json()``."""

from .diffusion import MSD, msd, msd_per_atom, plot_msd, unwrap
from .rdf import RDF, plot_rdf, rdf
from .trajectory import load_frames

__all__ = ["RDF", "rdf", "plot_rdf", "MSD", "msd", "msd_per_atom", "unwrap", "plot_msd", "load_frames"]

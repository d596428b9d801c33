"""Observables from trajectories (numpy/scipy/ase/vesin only, so a reference code's MD can be
analysed too): radial distribution functions, mean squared displacement and diffusion, velocity
autocorrelation and vibrational density of states, Green-Kubo integrals, ionic conductivity.
Each takes a list of ``ase.Atoms`` (:func:`load_frames` reads a file) and returns a dataclass with
``to_dict()`` and ``to_json()``."""

from .conductivity import Conductivity, green_kubo_conductivity, nernst_einstein
from .correlation import VACF, VDOS, GreenKubo, autocorrelation, green_kubo, plot_vdos, vacf, vdos
from .diffusion import MSD, msd, msd_per_atom, plot_msd, unwrap
from .rdf import RDF, plot_rdf, rdf
from .trajectory import load_frames

__all__ = ["RDF", "rdf", "plot_rdf", "MSD", "msd", "msd_per_atom", "unwrap", "plot_msd", "VACF", "VDOS", "GreenKubo",
           "autocorrelation", "green_kubo", "vacf", "vdos", "plot_vdos", "Conductivity", "green_kubo_conductivity",
           "nernst_einstein", "load_frames"]

"""i-PI: path-integral MD (and any i-PI ensemble) with a ridgeline model or any ASE calculator as
i-PI's client over a socket (design: docs/pimd.md)."""

from .client import ClientResult, IPIError, UncertaintyRecord, run_client, socket_path
from .config import IsotopeConfig, PIMDConfig, load_pimd_config
from .estimators import Estimate, IsotopeResult, kinetic_isotope_effect, read_properties
from .harmonic import HarmonicWell, harmonic_free_energy, harmonic_kinetic_energy, spring_constant
from .inputs import input_xml, write_inputs
from .run import BeadsConvergence, PIMDResult, beads_convergence, run_pimd
from .server import IPIServer

__all__ = ["BeadsConvergence", "ClientResult", "Estimate", "HarmonicWell", "IPIError", "IPIServer", "IsotopeConfig",
           "IsotopeResult", "PIMDConfig", "PIMDResult", "UncertaintyRecord", "beads_convergence", "harmonic_free_energy",
           "harmonic_kinetic_energy", "input_xml", "kinetic_isotope_effect", "load_pimd_config", "read_properties",
           "run_client", "run_pimd", "socket_path", "spring_constant", "write_inputs"]

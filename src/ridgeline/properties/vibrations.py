"""Harmonic vibrations of a molecule from its Hessian.

``vibrations(atoms, calculator, method="auto")`` takes the calculator's exact Hessian
(``get_hessian``, e.g. ridgeline's calculator) or, without one (``method="finite_differences"``),
central differences of the forces through ``ase.vibrations.Vibrations``; it mass-weights it,
projects the rigid motions out with the Eckart projector (translations, and for a structure
periodic in no direction the rotations about the centre of mass: six modes, five for a linear
molecule), and diagonalises what is left. The result, :class:`VibrationalModes`, holds 3N - k
frequencies in cm^-1 and meV (an imaginary frequency as a negative number), the normal modes and
the zero-point energy. Evaluate at a relaxed structure (``simulate.relax``): elsewhere the
gradient makes the rotations' projection approximate.

With a calculator that has uncertainties (``properties.estimates``), every frequency and the
zero-point energy carry an interval: the analysis is repeated with each posterior draw's exact
Hessian (a committee's members, or last-layer Laplace draws), modes matched by their order.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass

import numpy as np
from ase import units

from ..errors import ConfigError
from .estimates import DRAWS, Estimate, Uncertainty, make_estimate

METHODS = ("auto", "exact", "finite_differences")
# hbar sqrt(eV / (Å^2 amu)) in eV: the energy of a mass-weighted curvature of 1 eV/(Å^2 amu)
# (the factor ase.vibrations uses)
ENERGY_PER_SQRT_CURVATURE = units._hbar * 1e10 / np.sqrt(units._e * units._amu)


@dataclass
class VibrationalModes:
    """Frequencies (ascending, imaginary ones negative), normal modes and zero-point energy."""

    frequencies_cm: np.ndarray  # (M,) cm^-1
    energies_meV: np.ndarray  # (M,) meV, hbar omega
    modes: np.ndarray  # (M, N, 3) Cartesian displacements of each mode, each normalised to 1
    zero_point_energy: float  # eV: sum of hbar omega / 2 over the real modes
    n_projected: int  # rigid motions projected out (6, 5 for a linear molecule, 3 if periodic)
    method: str  # "exact" | "finite_differences"
    sigmas: dict | None = None  # calibrated sigma of each headline number (``headline``), None without uncertainty
    confidence: float | None = None
    out_of_domain: bool | None = None

    @property
    def n_imaginary(self) -> int:
        return int(np.count_nonzero(self.frequencies_cm < 0))

    def headline(self) -> dict[str, float]:
        """``frequency_<k>`` (cm^-1, k counting from 0 in ascending order) and ``zero_point_energy`` (eV)."""
        return {**{f"frequency_{k}": float(f) for k, f in enumerate(self.frequencies_cm)},
                "zero_point_energy": float(self.zero_point_energy)}

    def estimates(self) -> dict[str, Estimate]:
        sigmas = self.sigmas or {}
        return {name: make_estimate(value, "eV" if name == "zero_point_energy" else "cm^-1", sigmas.get(name),
                                    self.confidence or 0.95, DRAWS if name in sigmas else None, self.out_of_domain)
                for name, value in self.headline().items()}

    def to_dict(self) -> dict:
        return {"method": self.method, "sigmas": self.sigmas, "out_of_domain": self.out_of_domain, "n_projected": self.n_projected, "n_imaginary": self.n_imaginary,
                "zero_point_energy": self.zero_point_energy, "frequencies_cm": self.frequencies_cm.tolist(),
                "energies_meV": self.energies_meV.tolist(), "modes": self.modes.tolist()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def rigid_motions(atoms) -> np.ndarray:
    """Orthonormal mass-weighted rigid motions (3N, k): translations sqrt(m_i) e_a and, for a
    structure periodic in no direction, rotations sqrt(m_i) e_a x (r_i - r_com) (the Eckart
    conditions); a linear molecule's two independent rotations are what the rank leaves."""
    root_mass = np.sqrt(atoms.get_masses())
    motions = [(root_mass[:, None] * np.eye(3)[a]).ravel() for a in range(3)]
    if not atoms.pbc.any():
        centred = atoms.positions - atoms.get_center_of_mass()
        motions += [(root_mass[:, None] * np.cross(np.eye(3)[a], centred)).ravel() for a in range(3)]
    u, s, _ = np.linalg.svd(np.array(motions).T, full_matrices=False)
    return u[:, s > 1e-6 * s.max()]


def hessian_of(atoms, calculator, method: str = "auto", delta: float = 0.01) -> tuple[np.ndarray, str]:
    """(3N, 3N) eV/Å^2 and the method that gave it."""
    if method not in METHODS:
        raise ConfigError(f"unknown Hessian method {method!r}; known: {', '.join(METHODS)}")
    exact = hasattr(calculator, "get_hessian")
    if method == "exact" and not exact:
        raise ConfigError(f"{type(calculator).__name__} has no get_hessian: use method='finite_differences'")
    if method == "exact" or (method == "auto" and exact):
        return np.asarray(calculator.get_hessian(atoms), dtype=float), "exact"
    from ase.vibrations import Vibrations

    atoms = atoms.copy()
    atoms.calc = calculator
    with tempfile.TemporaryDirectory() as folder:
        vib = Vibrations(atoms, name=f"{folder}/vib", delta=delta, nfree=2)
        vib.run()
        h = vib.get_vibrations().get_hessian_2d()
    return np.asarray(h, dtype=float), "finite_differences"


def vibrations(atoms, calculator, method: str = "auto", delta: float = 0.01, uncertainty: Uncertainty | None = None,
               progress: bool = False) -> VibrationalModes:
    """Harmonic analysis of ``atoms`` under ``calculator`` (module docstring); ``delta`` (Å): the
    finite-difference displacement; ``uncertainty``: how intervals are made (default
    ``Uncertainty(calculator)``)."""
    result = harmonic_modes(atoms, calculator, method, delta)
    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    if unc.available:
        result.sigmas = unc.draw_sigmas(lambda c: harmonic_modes(atoms, c, method, delta).headline(), progress=progress)
        result.confidence = unc.confidence
    result.out_of_domain = unc.out_of_domain([atoms])
    return result


def harmonic_modes(atoms, calculator, method: str = "auto", delta: float = 0.01) -> VibrationalModes:
    """The harmonic analysis alone, without intervals (:func:`vibrations`)."""
    if len(atoms) < 2:
        raise ConfigError("vibrations need at least two atoms")
    h, used = hessian_of(atoms, calculator, method, delta)
    n = 3 * len(atoms)
    if h.shape != (n, n) or not np.all(np.isfinite(h)):
        raise ConfigError(f"the Hessian must be a finite ({n}, {n}) matrix, got shape {h.shape}")
    inverse_root_mass = np.repeat(1 / np.sqrt(atoms.get_masses()), 3)
    weighted = inverse_root_mass[:, None] * (0.5 * (h + h.T)) * inverse_root_mass[None, :]
    rigid = rigid_motions(atoms)
    projector = np.eye(n) - rigid @ rigid.T
    values, vectors = np.linalg.eigh(projector @ weighted @ projector)
    keep = np.linalg.norm(rigid.T @ vectors, axis=0) < 0.5  # the projected space's zero modes are the rigid ones
    values, vectors = values[keep], vectors[:, keep]
    energies = ENERGY_PER_SQRT_CURVATURE * np.sign(values) * np.sqrt(np.abs(values))  # eV
    modes = (inverse_root_mass[:, None] * vectors).T.reshape(-1, len(atoms), 3)
    modes /= np.linalg.norm(modes.reshape(len(modes), -1), axis=1)[:, None, None]
    return VibrationalModes(frequencies_cm=energies / units.invcm, energies_meV=1000 * energies, modes=modes,
                            zero_point_energy=float(0.5 * energies[energies > 0].sum()),
                            n_projected=int(rigid.shape[1]), method=used)


__all__ = ["METHODS", "VibrationalModes", "harmonic_modes", "hessian_of", "rigid_motions", "vibrations"]

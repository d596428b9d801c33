"""Equation of state: E(V) of a crystal scaled isotropically, fitted with ASE's ``EquationOfState``.

``equation_of_state(atoms, calculator, strain=0.06, points=9)`` scales the cell isotropically to
``points`` volumes evenly spaced over [1 - strain, 1 + strain] times the input volume (``strain``
is the largest VOLUME strain, as in ``ase.eos.calculate_eos``: 0.06 is a linear strain of about
2%, over which the fit's B0 agrees with the curvature V d2E/dV2 at V0 to 0.1% for EMT copper; a
wider range trades that for a better B0'), relaxes the positions at each fixed volume
(``relax_ions``: ASE's optimizer stops at once where symmetry already leaves no force), and fits
the energies per atom with ``ase.eos.EquationOfState`` (third-order Birch-Murnaghan by
default; F. Birch, Phys. Rev. 71, 809 (1947)). It reports, per atom, the equilibrium volume V0
(Å^3) and energy E0 (eV), the bulk modulus B0 (GPa), its pressure derivative B0', and the
equilibrium lattice constant (:func:`conventional_lengths`).

Interval. The third-order Birch-Murnaghan energy is exactly a cubic polynomial in x = V^(-2/3),
E = a + b x + c x^2 + d x^3, so its least-squares fit is linear in the energies
(coefficients = pinv(A) E, :func:`birch_murnaghan`): V0 follows from the root of dE/dx,
B0 = V d2E/dV2 = (4/9) V0^(-7/3) E''(x0), and
B0' = dB/dP = -1 - V0 E'''(V0) / E''(V0) = 4 + (2/3) x0 E'''(x0) / E''(x0). Written in torch,
these are the observables of :meth:`Uncertainty.energies` over the relaxed structures (the
relaxed energy's derivative by the weights is the fixed-geometry one: the envelope theorem),
which keeps the correlations between volumes. The values are ASE's fit; the
interval's width is the Birch-Murnaghan one whatever ``eos`` names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import units

from ..analysis.results import pyplot, save_figure
from ..errors import ConfigError, DataError
from .estimates import SummaryResult, Uncertainty
from .symmetry import SYMPREC, symmetry_dataset

# ASE's forms, less taylor and p3: ASE fits them from a starting guess made for the others, and
# for EMT copper their B0 is 1% off the others' even over a 6% volume range
EOS_FORMS = ("birchmurnaghan", "birch", "murnaghan", "vinet", "pouriertarantola", "anton-schmidt", "sj")
# the forms whose ASE parameters are (E0, B0, B0', V0)
WITH_PRESSURE_DERIVATIVE = ("birchmurnaghan", "birch", "murnaghan", "vinet", "pouriertarantola")


# ------------------------------------------------------------------------ symmetry
def conventional_lengths(atoms, symprec: float = SYMPREC) -> tuple[np.ndarray, int]:
    """Lengths a, b, c (Å) of the conventional standardized cell of ``atoms`` (spglib: the cubic
    cell of an fcc, bcc or diamond primitive cell, the hexagonal cell of hcp; a supercell gives its
    crystal's conventional cell) and its number of atoms. Without symmetry found (a rattled
    cell at ``symprec``): spglib's standardized triclinic cell, or the input cell's lengths. An
    isotropic scaling to the volume per atom V scales them by (V / V_input)^(1/3)."""
    dataset = symmetry_dataset(atoms, symprec)
    if dataset is None:
        return atoms.cell.lengths(), len(atoms)
    lattice = np.asarray(dataset.std_lattice)
    # the standardized cell of the input's own volume (spglib idealises the lattice's shape)
    n_std = len(dataset.std_types)
    scale = (atoms.get_volume() / len(atoms) * n_std / abs(np.linalg.det(lattice))) ** (1 / 3)
    return scale * np.linalg.norm(lattice, axis=1), n_std


# ------------------------------------------------------------------------ the torch fit
def birch_murnaghan(energies, volumes, reference_volume: float) -> dict:
    """The third-order Birch-Murnaghan fit as torch arithmetic on ``energies`` (S,) eV per atom at
    ``volumes`` (S,) Å^3 per atom: {"volume" Å^3, "energy" eV, "bulk_modulus" GPa,
    "bulk_modulus_derivative"} (module docstring). The cubic is fitted in u = x / x_ref - 1
    (x_ref = ``reference_volume``^(-2/3)) for a well-conditioned design matrix:
    E = a + b u + c u^2 + d u^3, so dE/du = 0 at u0 = -b / (c + sqrt(c^2 - 3 b d)) (the root where
    E'' = 2c + 6 d u0 > 0, written to stay exact as d -> 0)."""
    import torch

    e = energies.reshape(-1)
    x_ref = reference_volume ** (-2 / 3)
    u = torch.as_tensor(np.asarray(volumes, dtype=float) ** (-2 / 3) / x_ref - 1, dtype=e.dtype, device=e.device)
    design = torch.stack([torch.ones_like(u), u, u * u, u * u * u], dim=1)
    a, b, c, d = torch.linalg.pinv(design) @ e
    u0 = -b / (c + torch.sqrt(c * c - 3 * b * d))
    x0 = x_ref * (1 + u0)
    v0 = x0 ** (-1.5)
    curvature_x = (2 * c + 6 * d * u0) / x_ref**2  # d2E/dx2 at x0
    return {"volume": v0, "energy": a + b * u0 + c * u0**2 + d * u0**3,
            "bulk_modulus": 4 / 9 * v0 ** (-7 / 3) * curvature_x / units.GPa,
            "bulk_modulus_derivative": 4 + 2 * d * (1 + u0) / (c + 3 * d * u0)}


# ------------------------------------------------------------------------ the result
@dataclass
class EOSResult(SummaryResult):
    """E(V) per atom and its fit. Volumes Å^3/atom, energies eV/atom, B0 GPa, lengths Å."""

    eos: str
    n_atoms: int
    volume_factors: np.ndarray  # (P,) the volumes over the input's
    volumes: np.ndarray  # (P,) Å^3/atom
    energies: np.ndarray  # (P,) eV/atom
    volume: float  # V0, Å^3/atom
    energy: float  # E0, eV/atom
    bulk_modulus: float  # B0, GPa
    bulk_modulus_derivative: float  # B0'
    lattice_constant: float  # Å: a of the conventional standardized cell at V0 (the cubic a of a cubic crystal)
    lattice_constants: np.ndarray  # (3,) Å: a, b, c of the conventional cell at V0 (its shape is the input's)
    ions_relaxed: bool
    relaxations_converged: bool
    relaxation_steps: np.ndarray  # (P,)
    fit_rms: float  # eV/atom: root-mean-square residual of the fit
    summary: dict = field(default_factory=dict)  # name -> Estimate (estimates())
    warnings: list = field(default_factory=list)


    def fitted_curve(self, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """(V, E) of the fitted form over the sampled volumes, per atom."""
        from ase.eos import EquationOfState

        fit = EquationOfState(self.volumes, self.energies, eos=self.eos)
        _, _, _, _, v, e, _, _ = fit.getplotdata()
        return np.asarray(v), np.asarray(e)


# ------------------------------------------------------------------------ the workflow
def scaled(atoms, factor: float):
    copy = atoms.copy()
    copy.set_cell(atoms.cell.array * factor, scale_atoms=True)
    return copy


def check_crystal(atoms, what: str) -> None:
    if not atoms.pbc.all():
        raise DataError(f"{atoms.get_chemical_formula()}: computing {what} needs a crystal periodic in all three "
                        f"directions, got pbc={atoms.pbc.tolist()}")
    if atoms.cell.rank < 3 or atoms.get_volume() <= 0:
        raise DataError(f"{atoms.get_chemical_formula()}: computing {what} needs a cell of positive volume")


def equation_of_state(atoms, calculator, *, strain: float = 0.06, points: int = 9, relax_ions: bool = True,
                      fmax: float = 1e-3, eos: str = "birchmurnaghan", symprec: float = SYMPREC,
                      uncertainty: Uncertainty | None = None, progress: bool = False) -> EOSResult:
    """E(V) of ``atoms`` under ``calculator`` and its fit (module docstring). ``strain``: the
    largest volume strain of the isotropic scaling; ``points``: the number of volumes (at least
    5); ``fmax`` (eV/Å): the ionic relaxations' force bound; ``eos``: a form of
    ``ase.eos.EquationOfState`` (:data:`EOS_FORMS`)."""
    from ase.eos import EquationOfState
    from tqdm.auto import tqdm

    from ..simulate.relax import relax

    check_crystal(atoms, "an equation of state")
    if eos not in EOS_FORMS:
        raise ConfigError(f"unknown equation of state {eos!r}; known: {', '.join(EOS_FORMS)}")
    if not 0 < strain < 0.5:
        raise ConfigError(f"the equation of state's volume strain must be in (0, 0.5), got {strain}")
    if int(points) < 5:
        raise ConfigError(f"the equation of state needs at least 5 volumes (4 parameters), got {points}")
    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    n = len(atoms)
    factors = np.linspace(1 - strain, 1 + strain, int(points))
    structures, energies, steps, converged = [], [], [], True
    for factor in tqdm(factors, desc="equation of state", unit="volume", leave=False, disable=not progress,
                       dynamic_ncols=True):
        cell = scaled(atoms, factor ** (1 / 3))
        if relax_ions:
            relaxed = relax(cell, calculator, fmax=fmax)
            cell, energy = relaxed.atoms, relaxed.energy
            steps.append(relaxed.steps)
            converged &= relaxed.converged
        else:
            cell.calc = calculator
            energy = cell.get_potential_energy()
            steps.append(0)
        structures.append(cell)
        energies.append(energy / n)
    volumes = atoms.get_volume() / n * factors
    energies = np.array(energies)

    fit = EquationOfState(volumes, energies, eos=eos)
    try:
        v0, e0, b0 = (float(v) for v in fit.fit(warn=False))
    except RuntimeError as err:  # scipy's curve_fit did not converge
        raise ConfigError(f"{atoms.get_chemical_formula()}: the {eos} fit of E(V) failed ({err}); relax the cell "
                          "first, or choose another strain or form") from None
    torch_fit = _torch_fit(energies, volumes)
    b0_prime = float(fit.eos_parameters[2]) if eos in WITH_PRESSURE_DERIVATIVE else torch_fit["bulk_modulus_derivative"]
    residual = energies - _fitted_energies(fit, volumes)
    lengths, n_std = conventional_lengths(atoms, symprec)
    stretch = (v0 * n / atoms.get_volume()) ** (1 / 3)

    warnings = []
    if not converged:
        warnings.append(f"some ionic relaxations did not reach fmax = {fmax} eV/Å")
    if not volumes[1] <= v0 <= volumes[-2]:
        warnings.append(f"the fitted minimum V0 = {v0:.4g} Å^3/atom lies at the edge of or outside the sampled "
                        f"volumes [{volumes[0]:.4g}, {volumes[-1]:.4g}]: relax the cell first or widen the strain")
    if b0 <= 0:
        warnings.append(f"the bulk modulus is not positive ({b0 / units.GPa:.4g} GPa): no minimum in E(V)")

    ood = unc.out_of_domain(structures)
    reference_volume = atoms.get_volume() / n

    def observable(name, factor=1.0, power=1.0):
        def f(e):
            return factor * birch_murnaghan(e / n, volumes, reference_volume)[name] ** power
        return f

    a_per_volume = lengths[0] / (atoms.get_volume() / n) ** (1 / 3)  # a = this x V0^(1/3)
    values = {"equilibrium_volume": (v0, "Å^3/atom", observable("volume")),
              "equilibrium_energy": (e0, "eV/atom", observable("energy")),
              "bulk_modulus": (b0 / units.GPa, "GPa", observable("bulk_modulus")),
              "bulk_modulus_derivative": (b0_prime, "", observable("bulk_modulus_derivative")),
              "lattice_constant": (lengths[0] * stretch, "Å", observable("volume", a_per_volume, 1 / 3))}
    summary = {name: unc.energies(f, structures, unit, value=value, out_of_domain=ood)
               for name, (value, unit, f) in values.items()}
    return EOSResult(eos=eos, n_atoms=n, volume_factors=factors, volumes=volumes, energies=energies, volume=v0,
                     energy=e0, bulk_modulus=b0 / units.GPa, bulk_modulus_derivative=b0_prime,
                     lattice_constant=float(lengths[0] * stretch), lattice_constants=lengths * stretch,
                     ions_relaxed=bool(relax_ions), relaxations_converged=bool(converged),
                     relaxation_steps=np.array(steps), fit_rms=float(np.sqrt(np.mean(residual**2))),
                     summary=summary, warnings=warnings)


def _torch_fit(energies, volumes) -> dict[str, float]:
    import torch

    fit = birch_murnaghan(torch.as_tensor(energies, dtype=torch.float64), volumes, float(np.median(volumes)))
    return {k: float(v) for k, v in fit.items()}


def _fitted_energies(fit, volumes) -> np.ndarray:
    if fit.eos_string == "sj":
        return np.asarray(fit.fit0(np.asarray(volumes) ** (-1 / 3)))
    return np.asarray(fit.func(np.asarray(volumes), *fit.eos_parameters))


# ------------------------------------------------------------------------ plot
def plot_eos(result: EOSResult, path) -> None:
    """E(V) per atom: the computed points, the fitted curve and V0; B0 (± its interval) in the title."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    v, e = result.fitted_curve()
    ax.plot(v, e, "-", color="C0", label=f"{result.eos} fit")
    ax.plot(result.volumes, result.energies, "o", color="C1", label="computed")
    ax.axvline(result.volume, color="0.6", lw=0.8, ls="--")
    b = result.summary.get("bulk_modulus")
    title = f"B0 = {result.bulk_modulus:.1f} GPa"
    if b is not None and b.sigma is not None:
        title += f" ± {b.upper - b.value:.1f} ({100 * b.confidence:.0f}%)"
    ax.set(xlabel="volume (Å$^3$/atom)", ylabel="energy (eV/atom)",
           title=title + f", V0 = {result.volume:.3f} Å$^3$/atom")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["EOSResult", "EOS_FORMS", "birch_murnaghan", "check_crystal", "conventional_lengths", "equation_of_state",
           "plot_eos"]

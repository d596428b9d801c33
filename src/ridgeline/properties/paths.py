"""Minimum-energy paths between two structures: the nudged elastic band and its checks.

``neb(initial, final, calculator)`` relaxes both endpoints (fixed cell), interpolates the band
(``ase.mep.NEB.interpolate``: IDPP, Smidstrup et al., J. Chem. Phys. 140, 214106 (2014), or
linear) and relaxes it with ASE's NEB (improved tangent, Henkelman & Jónsson, J. Chem. Phys. 113,
9978 (2000)) and an ASE optimizer. With ``climb=True`` the band is first relaxed as a plain NEB
to :data:`CLIMB_START` x ``fmax``, then the highest image climbs (Henkelman, Uberuaga & Jónsson,
J. Chem. Phys. 113, 9901 (2000)) until every force is below ``fmax``: climbing from a rough band
can pick the wrong image. Every interior image shares the one calculator (a serial run), the
endpoints keep their relaxed energies and forces.

The result, :class:`PathResult`, holds the energy profile along the reaction coordinate (the
cumulative distance between images, Å, minimum image in periodic cells), the barriers forward and
backward and the reaction energy (eV), and the checks of a trustworthy path: for every image the
largest force perpendicular to the path (per atom, eV/Å; the tangent is the improved tangent of
the final band), all below ``fmax`` and the climbing image's whole force too; the number of local
maxima (more than one: an intermediate lies on the path, and the two steps are better run as
separate bands); the second difference of the energy along the band (a kink far sharper than the
barrier's own curvature (:data:`KINK_FACTOR`), or extra sign changes: too few images, or a band
that slipped off the path).

Intervals (ridgeline's calculator with uncertainties): a barrier is the difference of two
energies, so :meth:`Uncertainty.energies` gives its linearised interval, which keeps the
correlation of the two structures (alike environments: the barrier's sigma is smaller than the
two energies' sigmas added). Each image's own energy sigma and domain flag are recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
from ase.optimize import BFGS, FIRE, MDMin

from ..analysis.results import Result, jsonable, pyplot, save_figure
from ..errors import ConfigError, DataError
from .estimates import Estimate, Uncertainty

CLIMB_START = 4.0  # the plain band is relaxed to this many times fmax before the climbing image starts
ENDPOINT_FMAX = 0.2  # endpoints are relaxed to this fraction of the band's fmax
INTERPOLATIONS = ("idpp", "linear")
CURVATURE_TOLERANCE = 1e-3  # eV: second differences smaller than this have no sign
# a kink: a second difference larger than both this many times a cosine-shaped barrier's largest
# one on the same images, B (1 - cos(2 pi / (n - 1))), and KINK_FRACTION x B. A one-image spike
# gives 2 B on any band; a smooth barrier narrower than a cosine in the image index (the images
# sit at equal arc lengths, so a torsion's cosine in the angle is not one in the index) stays below B
KINK_FACTOR = 1.5
KINK_FRACTION = 1.0


OPTIMIZERS = {"fire": FIRE, "bfgs": BFGS, "mdmin": MDMin}  # ASE's, by name


@dataclass
class PathResult(Result):
    """A relaxed band (module docstring). Energies in eV, distances in Å, forces in eV/Å; arrays
    have one entry per image, endpoints included."""

    energies: np.ndarray  # (n,) eV, the calculator's
    reaction_coordinate: np.ndarray  # (n,) Å, cumulative distance between successive images
    perpendicular_forces: np.ndarray  # (n,) eV/Å, the largest per-atom force perpendicular to the tangent
    max_forces: np.ndarray  # (n,) eV/Å, the largest per-atom force
    second_differences: np.ndarray  # (n - 2,) eV, E[k-1] - 2 E[k] + E[k+1] of the interior images
    n_maxima: int  # local maxima of the energy among the interior images
    highest_image: int  # index of the highest energy
    climbing_image: int | None  # the climbing image's index (None without climbing)
    barrier_forward: Estimate  # eV, E[highest] - E[0]
    barrier_backward: Estimate  # eV, E[highest] - E[-1]
    reaction_energy: Estimate  # eV, E[-1] - E[0]
    energy_sigmas: np.ndarray | None  # (n,) eV, each image's calibrated energy sigma (None: no uncertainty)
    image_out_of_domain: list | None  # (n,) each image's domain flag (None: no domain model)
    fmax: float  # eV/Å, the convergence threshold
    optimizer: str
    steps: int  # optimizer steps of the band, both stages
    optimizer_converged: bool  # ASE's optimizer reached fmax within the steps
    endpoints_converged: list  # [initial, final] relaxations converged (True where not relaxed)
    converged: bool  # optimizer converged, every perpendicular force and the climbing image's force < fmax
    warnings: list = field(default_factory=list)
    images: list = field(default_factory=list, repr=False)  # the band (ase.Atoms, energies and forces attached)

    def estimates(self) -> dict[str, Estimate]:
        return {"barrier_forward": self.barrier_forward, "barrier_backward": self.barrier_backward,
                "reaction_energy": self.reaction_energy}

    def to_dict(self) -> dict:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "images":
                continue
            out[f.name] = value.to_dict() if isinstance(value, Estimate) else jsonable(value)
        out["symbols"] = self.images[0].get_chemical_symbols() if self.images else []
        out["positions"] = [image.positions.tolist() for image in self.images]
        return out


# ------------------------------------------------------------------------------ checks
def check_endpoints(initial, final) -> None:
    """A :class:`DataError` naming what differs between two endpoints of a path."""
    if len(initial) != len(final):
        raise DataError(f"the endpoints have different numbers of atoms: {len(initial)} (initial) and {len(final)} (final)")
    differ = np.flatnonzero(initial.numbers != final.numbers)
    if differ.size:
        i = int(differ[0])
        raise DataError(f"the endpoints' elements differ at {differ.size} atom(s), first at atom {i}: "
                        f"{initial[i].symbol} (initial) and {final[i].symbol} (final); a path needs the same atoms "
                        "in the same order")
    if np.any(initial.pbc != final.pbc):
        raise DataError(f"the endpoints' periodicity differs: {initial.pbc.tolist()} (initial) and {final.pbc.tolist()} (final)")
    if np.any(initial.pbc) and not np.allclose(initial.cell[initial.pbc], final.cell[final.pbc], atol=1e-6):
        raise DataError("the endpoints' cells differ: a path runs at a fixed cell")


def displacements(images) -> np.ndarray:
    """(n - 1, N, 3) Å: each image's positions minus the previous image's, by the minimum image
    convention in periodic directions."""
    from ase.geometry import find_mic

    out = []
    for a, b in zip(images[:-1], images[1:]):
        d = b.positions - a.positions
        if a.pbc.any():
            d = find_mic(d, a.cell, a.pbc)[0]
        out.append(d)
    return np.array(out)


def constrained(atoms, forces: np.ndarray) -> np.ndarray:
    """``forces`` with ``atoms``' constraints applied (fixed atoms feel none)."""
    forces = np.array(forces, dtype=float)
    for constraint in atoms.constraints:
        constraint.adjust_forces(atoms, forces)
    return forces


def improved_tangents(steps: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """(n, N, 3) unit tangents: Henkelman & Jónsson's improved tangent (J. Chem. Phys. 113, 9978
    (2000), eqs. 8-11) at the interior images, the one neighbouring step at the endpoints.
    ``steps``: (n - 1, N, 3) displacements between successive images."""
    n = len(energies)
    tangents = np.empty((n,) + steps.shape[1:])
    tangents[0], tangents[-1] = steps[0], steps[-1]
    for i in range(1, n - 1):
        forward, backward = steps[i], steps[i - 1]
        e_prev, e, e_next = energies[i - 1], energies[i], energies[i + 1]
        if e_next > e > e_prev:
            tangent = forward
        elif e_next < e < e_prev:
            tangent = backward
        else:
            large = max(abs(e_next - e), abs(e_prev - e))
            small = min(abs(e_next - e), abs(e_prev - e))
            tangent = forward * large + backward * small if e_next > e_prev else forward * small + backward * large
        tangents[i] = tangent
    norms = np.linalg.norm(tangents.reshape(n, -1), axis=1)
    return tangents / np.where(norms > 0, norms, 1.0)[:, None, None]


def local_maxima(energies: np.ndarray, tolerance: float = CURVATURE_TOLERANCE) -> list[int]:
    """Interior indices whose energy exceeds both neighbours' (plateaus of equal energies within
    ``tolerance`` eV count once)."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(np.asarray(energies, dtype=float), prominence=tolerance)
    return [int(k) for k in peaks]


def sign_changes(values: np.ndarray, tolerance: float) -> int:
    """How often the sign of ``values`` changes, ignoring entries smaller than ``tolerance``."""
    signs = [np.sign(v) for v in values if abs(v) > tolerance]
    return int(sum(a != b for a, b in zip(signs[:-1], signs[1:])))


def path_warnings(energies, second, n_maxima, barrier) -> list[str]:
    """The smoothness checks of the profile (module docstring) as warnings."""
    out = []
    if n_maxima > 1:
        out.append(f"{n_maxima} energy maxima along the path: an intermediate minimum lies between them; "
                   "run each step as its own band")
    b = max(barrier, CURVATURE_TOLERANCE)
    threshold = max(KINK_FACTOR * b * (1 - np.cos(2 * np.pi / (len(energies) - 1))), KINK_FRACTION * b)
    if len(second) and np.max(np.abs(second)) > threshold:
        k = int(np.argmax(np.abs(second))) + 1
        out.append(f"the energy bends sharply at image {k} (second difference {second[k - 1]:.3g} eV against a "
                   f"barrier of {barrier:.3g} eV): add images, or check the band")
    changes = sign_changes(second, CURVATURE_TOLERANCE)
    if changes > 2 * max(n_maxima, 1):
        out.append(f"the curvature along the path changes sign {changes} times: the profile wiggles")
    return out


# ------------------------------------------------------------------------------ workflow
def neb(initial, final, calculator, *, images: int = 5, climb: bool = True, fmax: float = 0.05, steps: int = 500,
        interpolation: str = "idpp", optimizer: str = "fire", relax_endpoints: bool = True, spring: float = 0.1,
        uncertainty: Uncertainty | None = None, progress: bool = False) -> PathResult:
    """The minimum-energy path from ``initial`` to ``final`` (module docstring). ``images``: the
    number of interior images; ``fmax`` (eV/Å): the band's convergence threshold (the endpoints are
    relaxed to :data:`ENDPOINT_FMAX` x ``fmax``); ``steps``: the optimizer's budget for both
    stages together; ``optimizer``: ``fire``, ``bfgs`` or ``mdmin`` (ASE's); ``spring`` (eV/Å^2):
    the spring constant between images."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.mep import NEB

    from ..simulate.relax import relax

    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown NEB optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(f"unknown interpolation {interpolation!r}; known: {', '.join(INTERPOLATIONS)}")
    if int(images) < 1 or fmax <= 0 or int(steps) < 1 or spring <= 0:
        raise ConfigError(f"neb needs images >= 1, fmax > 0, steps >= 1 and spring > 0; got {images}, {fmax}, {steps}, {spring}")
    check_endpoints(initial, final)
    unc = Uncertainty(calculator) if uncertainty is None else uncertainty
    warnings = []

    ends, ends_converged = [], []
    for name, atoms in (("initial", initial), ("final", final)):
        atoms = atoms.copy()
        if relax_endpoints:
            relaxed = relax(atoms, calculator, fmax=ENDPOINT_FMAX * fmax, max_steps=max(int(steps), 200))
            atoms = relaxed.atoms
            ends_converged.append(relaxed.converged)
            if not relaxed.converged:
                warnings.append(f"the {name} structure did not relax to fmax {ENDPOINT_FMAX * fmax:g} eV/Å "
                                f"in {relaxed.steps} steps (largest force {relaxed.fmax:.3g} eV/Å)")
        else:
            atoms.calc = calculator
            ends_converged.append(True)
        results = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces()}
        atoms = atoms.copy()
        atoms.calc = SinglePointCalculator(atoms, **results)
        ends.append(atoms)

    band = [ends[0]]
    for _ in range(int(images)):
        image = ends[0].copy()
        image.calc = calculator
        band.append(image)
    band.append(ends[1])
    path = NEB(band, k=spring, climb=False, method="improvedtangent", allow_shared_calculator=True)
    path.interpolate(method=interpolation, mic=bool(ends[0].pbc.any()))

    stages = [(CLIMB_START * fmax, False), (fmax, True)] if climb else [(fmax, False)]
    used, optimizer_converged = 0, False
    from tqdm.auto import tqdm

    with tqdm(total=int(steps), desc="NEB", unit="step", leave=False, disable=not progress, dynamic_ncols=True) as bar:
        for target, climbing in stages:
            if used >= int(steps):  # the budget ran out before the last stage
                optimizer_converged = False
                break
            path.climb = climbing
            dynamics = OPTIMIZERS[optimizer](path, logfile=None)
            dynamics.attach(lambda: bar.update(1))
            optimizer_converged = bool(dynamics.run(fmax=target, steps=int(steps) - used))
            used += int(dynamics.nsteps)
    path.get_forces()  # energies and forces of the final band
    if not optimizer_converged:
        warnings.append(f"the band did not converge to fmax {fmax:g} eV/Å in {steps} steps")

    return _analyse(band, path, unc, climb, fmax, optimizer, used, optimizer_converged, ends_converged, warnings)


def _analyse(band, path, unc, climb, fmax, optimizer, used, optimizer_converged, ends_converged, warnings) -> PathResult:
    from ase.calculators.singlepoint import SinglePointCalculator

    n = len(band)
    energies = np.asarray(path.energies, dtype=float).copy()
    forces = np.array([band[0].get_forces()] + [constrained(band[k], path.real_forces[k]) for k in range(1, n - 1)]
                      + [band[-1].get_forces()])
    steps = displacements(band)
    coordinate = np.concatenate([[0.0], np.cumsum(np.linalg.norm(steps.reshape(n - 1, -1), axis=1))])
    tangents = improved_tangents(steps, energies)
    along = np.einsum("kai,kai->k", forces, tangents)
    perpendicular = np.linalg.norm(forces - along[:, None, None] * tangents, axis=2).max(axis=1)
    max_forces = np.linalg.norm(forces, axis=2).max(axis=1)
    highest = int(np.argmax(energies))
    climbing = int(path.imax) if climb else None
    second = energies[:-2] - 2 * energies[1:-1] + energies[2:]
    n_maxima = len(local_maxima(energies))

    converged = bool(optimizer_converged and np.all(perpendicular[1:-1] < fmax)
                     and (climbing is None or max_forces[climbing] < fmax))
    if optimizer_converged and not converged:
        warnings.append("the optimizer converged but a perpendicular force is above fmax")

    images = []
    sigmas, flags = [], []
    for k, image in enumerate(band):
        frozen = image.copy()
        frozen.calc = SinglePointCalculator(frozen, energy=float(energies[k]), forces=forces[k])
        images.append(frozen)
        if unc.available:
            probe = image.copy()
            probe.calc = unc.calculator
            probe.get_potential_energy()
            sigmas.append(float(unc.calculator.results["energy_sigma"]))
            if "out_of_domain" in unc.calculator.results:
                flags.append(bool(np.any(unc.calculator.results["out_of_domain"])))
    # the probes above computed every image with the uncertain calculator: their flags are the band's
    out_of_domain = any(flags) if flags else unc.out_of_domain(images)
    barrier = float(energies[highest] - energies[0])
    warnings += path_warnings(energies, second, n_maxima, max(barrier, float(energies[highest] - energies[-1])))

    def difference(a: int, b: int, value: float) -> Estimate:
        return unc.energies(lambda e: e[1] - e[0], [images[b], images[a]], "eV", value=value, out_of_domain=out_of_domain)

    return PathResult(
        energies=energies, reaction_coordinate=coordinate, perpendicular_forces=perpendicular, max_forces=max_forces,
        second_differences=second, n_maxima=n_maxima, highest_image=highest, climbing_image=climbing,
        barrier_forward=difference(highest, 0, barrier),
        barrier_backward=difference(highest, n - 1, float(energies[highest] - energies[-1])),
        reaction_energy=difference(n - 1, 0, float(energies[-1] - energies[0])),
        energy_sigmas=np.array(sigmas) if sigmas else None, image_out_of_domain=flags or None, fmax=float(fmax),
        optimizer=optimizer, steps=int(used), optimizer_converged=optimizer_converged,
        endpoints_converged=[bool(c) for c in ends_converged], converged=converged, warnings=warnings, images=images)


# ------------------------------------------------------------------------------ plot
def plot_path(result: PathResult, path) -> None:
    """Energy relative to the initial structure along the reaction coordinate, with the interval
    band (± the images' energy sigmas, where known) and the climbing image marked; below, the
    largest perpendicular force per image against ``fmax``."""
    plt = pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    x, e = result.reaction_coordinate, result.energies - result.energies[0]
    top.plot(x, e, "o-", color="C0", label="images")
    if result.energy_sigmas is not None:
        from scipy.stats import norm

        confidence = result.barrier_forward.confidence or 0.95
        z = float(norm.ppf(0.5 * (1 + confidence)))
        top.fill_between(x, e - z * result.energy_sigmas, e + z * result.energy_sigmas, color="C0", alpha=0.2,
                         label=f"each image's interval ({confidence:.0%})")
    if result.climbing_image is not None:
        k = result.climbing_image
        top.plot([x[k]], [e[k]], "*", color="C3", markersize=14, label="climbing image")
    top.set_ylabel("E - E(initial) (eV)")
    top.set_title(f"barrier {result.barrier_forward.value:.3f} eV, reaction energy {result.reaction_energy.value:.3f} eV")
    top.legend()
    bottom.semilogy(x, np.maximum(result.perpendicular_forces, 1e-6), "s-", color="C1")
    bottom.axhline(result.fmax, color="k", linestyle="--", label=f"fmax {result.fmax:g} eV/Å")
    bottom.set_ylabel("F perpendicular (eV/Å)")
    bottom.set_xlabel("reaction coordinate (Å)")
    bottom.legend()
    fig.tight_layout()
    save_figure(fig, path)


__all__ = ["CLIMB_START", "ENDPOINT_FMAX", "INTERPOLATIONS", "OPTIMIZERS", "PathResult", "check_endpoints",
           "displacements", "improved_tangents", "local_maxima", "neb", "plot_path", "sign_changes"]

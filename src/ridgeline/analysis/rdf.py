"""Partial radial distribution functions g_ab(r) and coordination numbers n_ab(r), averaged over frames.

Pairs come from one vesin neighbour list per frame (full list, cutoff ``r_max``), histogrammed for
every element pair at once with one ``np.bincount``: no Python loop over atoms.

Normalisation (Allen & Tildesley, *Computer Simulation of Liquids*, 2nd ed., sec. 2.6; the
Faber-Ziman partials):

    g_ab(r) = <n_ab(r, r + dr)> / ( N_a (N_b / V) 4 pi/3 [(r + dr)^3 - r^3] )

where ``n_ab(r, r+dr)`` counts the ordered pairs (atom of a, atom of b) at that distance, summed
over the frames, and the denominator is summed over the frames (so a cell that changes volume is
handled). The same ``N_a N_b / V`` is used for a == b, so an ideal gas of N atoms gives
``(N - 1) / N`` (the usual convention, as ASE's), and the total g(r) (all atoms as one species) is
exactly ``sum_ab x_a x_b g_ab(r)`` with ``x_a = N_a / N``.

Non-periodic structures (a molecule, a cluster; any direction not periodic) have no cell volume:
V is ``volume`` when given, else the volume of the convex hull of the frame's atoms. Such a g(r)
does not tend to 1 (atoms near the surface have fewer neighbours); the coordination numbers, plain
counts, are exact either way.

The coordination number ``n_ab(r)`` is the mean number of b atoms within r of an a atom, counted
(not integrated from g), so ``coordination_number("Cu", "Cu", r_cut)`` is exact for a lattice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError
from .results import Result, pyplot, save_figure
from .trajectory import check_frames, element_indices


@dataclass
class RDF(Result):
    """g(r) of every ordered element pair ``"a-b"`` and of all atoms (``"total"``)."""

    r: np.ndarray  # (B,) Å, bin centres
    edges: np.ndarray  # (B + 1,) Å
    g: dict  # "a-b" or "total" -> (B,) g(r)
    coordination: dict  # "a-b" or "total" -> (B,) mean neighbours within each bin's upper edge
    elements: list  # symbols, in order of atomic number
    concentrations: dict  # symbol -> N_a / N
    n_frames: int
    periodic: bool
    volume: float  # Å^3, mean over frames (cell, given, or convex hull)

    def coordination_number(self, a: str, b: str, r_cut: float) -> float:
        """Mean number of b atoms within ``r_cut`` (rounded down to a bin edge) of an a atom."""
        key = f"{a}-{b}"
        if key not in self.coordination:
            raise KeyError(f"no pair {key!r}; pairs: {sorted(self.coordination)}")
        k = int(np.searchsorted(self.edges, r_cut, side="right")) - 1
        return float(self.coordination[key][k - 1]) if k >= 1 else 0.0

    def peaks(self, key: str = "total", min_height: float = 1.0) -> np.ndarray:
        """r (Å) of the local maxima of g above ``min_height``."""
        from scipy.signal import find_peaks

        found, _ = find_peaks(self.g[key], height=min_height)
        return self.r[found]

    def first_shell(self, a: str, b: str) -> dict:
        """The first peak of g_ab (r, height), the first minimum after it (r), and n_ab there: the
        first coordination shell as usually reported. NaN where g_ab has no peak."""
        from scipy.signal import find_peaks

        g = self.g[f"{a}-{b}"]
        found, _ = find_peaks(g, prominence=0.1 * max(float(g.max()), 1e-12))
        if not len(found):
            return {"r_peak": float("nan"), "g_peak": float("nan"), "r_min": float("nan"), "n": float("nan")}
        first = int(found[0])
        end = int(found[1]) if len(found) > 1 else len(g)
        minimum = first + int(np.argmin(g[first:end]))
        return {"r_peak": float(self.r[first]), "g_peak": float(g[first]), "r_min": float(self.r[minimum]),
                "n": float(self.coordination[f"{a}-{b}"][minimum])}


def _frame_volume(atoms, volume):
    if atoms.pbc.all():
        return float(atoms.get_volume())
    if volume is not None:
        return float(volume)
    from scipy.spatial import ConvexHull, QhullError

    try:
        return float(ConvexHull(atoms.positions).volume)
    except (QhullError, ValueError):
        raise DataError("rdf: a non-periodic frame whose atoms span no volume (fewer than 4, or flat): "
                        "give volume=") from None


def _pairs(neighbours, atoms):
    """Ordered pairs (i, j) within the cutoff and their distances, from vesin: views into the
    neighbour list's buffers, valid until its next call."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    box = np.asarray(atoms.cell, dtype=np.float64) if pbc.any() else np.zeros((3, 3))
    i, j, d = neighbours.compute(
        points=np.asarray(atoms.positions, dtype=np.float64), box=box, periodic=pbc.tolist(), quantities="ijd", copy=False)
    return i, j, d


def rdf(frames, r_max: float = 6.0, n_bins: int = 200, volume: float | None = None) -> RDF:
    """g_ab(r) and n_ab(r) on ``n_bins`` bins of [0, ``r_max``) Å, averaged over ``frames`` (a list
    of ``ase.Atoms``, same atoms in each). ``volume`` (Å^3): the density's volume for non-periodic
    frames (default: the convex hull's). See the module docstring for the normalisation."""
    frames = list(frames)
    check_frames(frames, "rdf")
    if r_max <= 0 or n_bins < 1:
        raise DataError(f"rdf: needs r_max > 0 and n_bins >= 1, got {r_max}, {n_bins}")
    groups = element_indices(frames)
    elements = list(groups)
    n_species, n_atoms = len(elements), len(frames[0])
    species = np.empty(n_atoms, dtype=np.int64)
    for s, idx in enumerate(groups.values()):
        species[idx] = s
    counts_per_species = np.array([len(idx) for idx in groups.values()], dtype=np.float64)
    dr = r_max / n_bins

    from vesin import NeighborList

    neighbours = NeighborList(cutoff=float(r_max), full_list=True)
    counts = np.zeros(n_species * n_species * n_bins, dtype=np.int64)
    inverse_volume = 0.0
    volumes = []
    for atoms in frames:
        i, j, d = _pairs(neighbours, atoms)
        bins = np.minimum((d / dr).astype(np.int64), n_bins - 1)
        keys = (species[i] * n_species + species[j]) * n_bins + bins if n_species > 1 else bins
        counts += np.bincount(keys, minlength=counts.size)
        v = _frame_volume(atoms, volume)
        volumes.append(v)
        inverse_volume += 1.0 / v
    counts = counts.reshape(n_species, n_species, n_bins).astype(np.float64)

    edges = np.linspace(0.0, r_max, n_bins + 1)
    shell = 4.0 * np.pi / 3.0 * (edges[1:] ** 3 - edges[:-1] ** 3)
    n_frames = len(frames)
    g, coordination = {}, {}
    for a, name_a in enumerate(elements):
        for b, name_b in enumerate(elements):
            norm = counts_per_species[a] * counts_per_species[b] * inverse_volume * shell
            g[f"{name_a}-{name_b}"] = counts[a, b] / norm
            coordination[f"{name_a}-{name_b}"] = np.cumsum(counts[a, b]) / (counts_per_species[a] * n_frames)
    total = counts.sum(axis=(0, 1))
    g["total"] = total / (n_atoms * n_atoms * inverse_volume * shell)
    coordination["total"] = np.cumsum(total) / (n_atoms * n_frames)
    return RDF(r=0.5 * (edges[1:] + edges[:-1]), edges=edges, g=g, coordination=coordination, elements=elements,
               concentrations={e: float(c / n_atoms) for e, c in zip(elements, counts_per_species)},
               n_frames=n_frames, periodic=bool(all(a.pbc.all() for a in frames)), volume=float(np.mean(volumes)))


def plot_rdf(result: RDF, path, title: str = "") -> None:
    """g(r) of every unordered pair and the total, with n(r) of the total on a second axis; PNG."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    shown = set()
    for key, values in result.g.items():
        if key == "total":
            continue
        a, b = key.split("-")
        if (b, a) in shown:
            continue
        shown.add((a, b))
        ax.plot(result.r, values, label=key, lw=1)
    if len(result.elements) > 1:
        ax.plot(result.r, result.g["total"], label="total", color="k", lw=1.5)
    ax.axhline(1.0, color="grey", lw=0.5, ls=":")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.legend(loc="upper right", fontsize=8)
    twin = ax.twinx()
    twin.plot(result.r, result.coordination["total"], color="grey", lw=0.8, ls="--")
    twin.set_ylabel("n(r), all atoms (dashed)")
    ax.set_title(title or f"RDF, {result.n_frames} frame(s)")
    fig.tight_layout()
    save_figure(fig, path)

"""Which candidate structures to label next: scores of informativeness and a greedy, de-duplicated pick.

Active learning runs MD with the current model, collects candidate frames and sends the most
informative few to the (expensive) reference code. A :class:`Selector` scores each candidate
(higher = more informative) and :meth:`Selector.select` takes the best ``n``, skipping
near-duplicates (below).

* :class:`CommitteeSelector` (``"committee"``): the largest calibrated force sigma of the frame
  (eV/Å, ``UncertaintyModel`` ensemble spread or last-layer Laplace).
* :class:`MaxVolSelector` (``"maxvol"``): the D-optimality extrapolation grade of MTP / ACE
  active learning (Podryabinkin & Shapeev 2017; Lysogorskiy et al. 2023): per element, the
  maximum-volume subset of the training atoms' last-layer readout features (the "active set")
  and, per atom, gamma = max_j |(x A^-1)_j|; gamma <= 1 interpolates, > 1 extrapolates.
* :class:`MahalanobisSelector` (``"mahalanobis"``): descriptor drift, max over atoms of
  T^2 / threshold (> 1 = beyond the threshold); ``triggered`` / ``fraction_out`` for a
  stop-the-MD check.
* :class:`RandomSelector` (``"random"``): uniform scores, the baseline.

Every selector makes one pass over the candidates per call: the per-atom quantity that scores a
frame and the descriptors that fingerprint it come from the same model evaluation.

Near-duplicates. A frame's fingerprint is the per-element mean of its descriptors (the readout
inputs: for bpnn the standardised symmetry functions), element blocks concatenated in the
model's element order, zeros for an element the frame lacks. ``select`` walks the candidates in
decreasing score and accepts one only if its fingerprint is at least ``min_separation`` (Euclidean)
from every one accepted so far. ``min_separation=None`` means 0.1 x the median pairwise fingerprint
distance among the candidates (estimated on 2000 of them when there are more); 0 disables the check.

Why mean descriptors and not the sorted interatomic distances (the other option for small cells):
they come free with the scoring pass (no O(N^2) distance work), have one length for any atom
count and composition (sorted-distance vectors of frames with different N or with periodic images
are not comparable), are invariant to permutation, translation and rotation, and measure
similarity in the space the model itself sees. The price: atoms' thermal displacements largely
average out of the mean (to first order they cancel in a centrosymmetric crystal), so two MD
snapshots of the same phase at the same temperature are close, and with the relative default
(0.1 x median distance) a candidate pool mixing a tight cluster with far-away structures keeps only
about one frame of the cluster; pass an absolute ``min_separation`` when that is not wanted.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import numpy as np
import torch
from scipy import linalg
from scipy.spatial.distance import pdist

from .. import keys
from ..data.frame import Frame
from ..errors import ConfigError
from ..uncertainty.domain import MahalanobisDomain
from ..uncertainty.model import UncertaintyModel
from ..uncertainty.passes import frame_batches, readout_passes

__all__ = ["Selector", "CommitteeSelector", "MaxVolSelector", "MahalanobisSelector", "RandomSelector",
           "SELECTORS", "make_selector", "maxvol", "frame_fingerprints", "greedy_separated"]

_MEDIAN_SAMPLE = 2000  # candidates used to estimate the median pairwise fingerprint distance


# ------------------------------------------------------------------------------------- helpers
def _base_model(uq: UncertaintyModel):
    """The model whose descriptors / readout features are used (``Variances.readout_model``):
    member 0 of an ensemble (the one ``Ensemble.forward(readout=True)`` and ``fit_uncertainty``
    take them from) without evaluating the other members."""
    return uq.variances.readout_model


def _n_elements(uq: UncertaintyModel) -> int:
    return len(uq.model.elements)


def _fingerprint_batch(desc: torch.Tensor, species: torch.Tensor, graph: torch.Tensor, n_graphs: int,
                       n_elements: int) -> np.ndarray:
    """(G, n_elements * D): per structure, per element the mean descriptor (zeros if absent)."""
    desc = desc.detach().double()
    key = graph.to(desc.device) * n_elements + species.to(desc.device)
    sums = desc.new_zeros(n_graphs * n_elements, desc.shape[1]).index_add_(0, key, desc)
    counts = torch.bincount(key, minlength=n_graphs * n_elements).to(desc.dtype).clamp(min=1)
    return (sums / counts[:, None]).reshape(n_graphs, -1).cpu().numpy()


def frame_fingerprints(uq: UncertaintyModel, frames: Sequence[Frame], batch_size: int = 16) -> np.ndarray:
    """(F, n_elements * D) fingerprints of ``frames`` (per-element mean descriptors), on their own."""
    return _Pass(uq, frames, batch_size, fingerprints=True).run(lambda d, h, s, batch: np.zeros(len(s)))[1]


def _frame_max(atom_values: np.ndarray, n_atoms: np.ndarray) -> np.ndarray:
    """Max over each frame's atoms (frames are consecutive blocks of ``n_atoms`` atoms)."""
    if len(n_atoms) == 0:
        return np.zeros(0)
    starts = np.concatenate([[0], np.cumsum(n_atoms)[:-1]]).astype(np.int64)
    return np.maximum.reduceat(atom_values, starts)


class _Pass:
    """One pass over ``frames`` in batches: a per-atom quantity (from a callback on the model's
    descriptors, readout features, species and batch) plus, optionally, the fingerprints."""

    def __init__(self, uq: UncertaintyModel, frames, batch_size: int, fingerprints: bool):
        self.uq, self.frames, self.batch_size, self.fingerprints = uq, frames, int(batch_size), fingerprints

    def run(self, per_atom, readout: bool = True):
        """``per_atom(descriptors, readout_features, species, batch) -> (N,) numpy`` is called per
        batch, under ``torch.no_grad`` when ``readout`` (the base model's readout pass is done
        here); with ``readout=False`` it gets ``(None, None, None, batch)`` and must return
        ``(values, descriptors, species)`` itself (e.g. from ``UncertaintyModel.outputs``).
        Returns (per-atom values concatenated, fingerprints (F, K) or None)."""
        n_el, base = _n_elements(self.uq), _base_model(self.uq)
        values, prints = [], []
        for batch in frame_batches(self.uq.model, self.frames, self.batch_size):
            if readout:
                with torch.no_grad():
                    out = base(batch, readout=True)
                species = base.species(batch[keys.NUMBERS])
                desc = out[keys.DESCRIPTORS]
                v = per_atom(desc, out[keys.READOUT_FEATURES], species, batch)
            else:
                v, desc, species = per_atom(None, None, None, batch)
            values.append(np.asarray(v, dtype=np.float64))
            if self.fingerprints:
                prints.append(_fingerprint_batch(desc, species, batch[keys.BATCH], len(batch[keys.N_ATOMS]), n_el))
        atoms = np.concatenate(values) if values else np.zeros(0)
        fp = (np.concatenate(prints) if prints else np.zeros((0, 0))) if self.fingerprints else None
        return atoms, fp


def greedy_separated(scores: np.ndarray, fingerprints: np.ndarray | None, n: int, threshold: float | None = None,
                     min_separation: float | None = None) -> list[int]:
    """Indices of at most ``n`` candidates in decreasing score (ties: lower index first; NaN
    scores last), each at least ``min_separation`` from every earlier accepted one in fingerprint
    distance; candidates scoring below ``threshold`` are skipped. ``min_separation=None``: 0.1 x
    the median pairwise fingerprint distance (exact duplicates are still skipped when that is 0);
    ``0`` (or ``fingerprints=None``) disables the check."""
    scores = np.asarray(scores, dtype=np.float64)
    n = int(n)
    if n <= 0 or len(scores) == 0:
        return []
    key = np.where(np.isnan(scores), -np.inf, scores)
    order = np.argsort(-key, kind="stable")
    if threshold is not None:
        order = order[key[order] >= threshold]
    sep = 0.0 if fingerprints is None else _default_separation(fingerprints) if min_separation is None else float(min_separation)
    if sep < 0:
        raise ConfigError(f"min_separation must be >= 0 (or None for the default), got {min_separation}")
    if sep == 0:
        return [int(i) for i in order[:n]]
    chosen: list[int] = []
    accepted = np.empty((min(n, len(order)), fingerprints.shape[1]))
    for i in order:
        if chosen:
            d = np.sqrt(((accepted[: len(chosen)] - fingerprints[i]) ** 2).sum(1))
            if d.min() < sep:
                continue
        accepted[len(chosen)] = fingerprints[i]
        chosen.append(int(i))
        if len(chosen) == n:
            break
    return chosen


def _default_separation(fingerprints: np.ndarray) -> float:
    f = len(fingerprints)
    if f < 2:
        return 0.0
    sample = fingerprints
    if f > _MEDIAN_SAMPLE:  # a fixed subset: the user's rng is left alone (random scores stay reproducible)
        sample = fingerprints[np.sort(np.random.default_rng(0).choice(f, _MEDIAN_SAMPLE, replace=False))]
    sep = 0.1 * float(np.median(pdist(sample)))
    if sep > 0:
        return sep
    # most pairs identical: still drop exact (to rounding) duplicates
    return 1e-12 * max(float(np.abs(fingerprints).max()), 1e-300)


# ------------------------------------------------------------------------------------- MaxVol
def maxvol(x: np.ndarray, tol: float = 1e-6, max_iters: int | None = None,
           start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``x`` (n, d), n >= d, spanning a (locally) maximum-volume d x d submatrix.

    Goreinov, Oseledets, Savostyanov, Tyrtyshnikov, Zamarashkin (2010): start from the first d
    pivots of a column-pivoted QR of x^T (a well-conditioned start; ``start`` overrides it), then
    while some |B_ij| > 1 + tol for B = x A^-1, put row i in place of active row j: |det A| grows by
    the factor |B_ij| each time, so this stops; B is kept by rank-1 (Sherman-Morrison) updates and
    recomputed from scratch at the end (and the search resumed if rounding left a violation).
    Returns (rows (d,), A^-1 (d, d)); afterwards every row of x has max_j |(x A^-1)_j| <= 1 + tol.
    Raises ``numpy.linalg.LinAlgError`` when x has rank < d.
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    if n < d:
        raise ValueError(f"maxvol needs at least as many rows as columns, got {x.shape}")
    if start is None:
        rows = linalg.qr(x.T, mode="r", pivoting=True)[1][:d].astype(np.int64)
    else:
        rows = np.asarray(start, dtype=np.int64).copy()
    max_iters = 100 * d + 100 if max_iters is None else int(max_iters)
    it = 0
    while True:
        a = x[rows]
        ainv = np.linalg.inv(a)
        if not np.all(np.isfinite(ainv)) or np.linalg.cond(a) > 1e15:
            raise np.linalg.LinAlgError("maxvol: the rows of x do not span its columns (rank < d)")
        b = x @ ainv
        swapped = False
        while it < max_iters:
            i, j = np.unravel_index(np.argmax(np.abs(b)), b.shape)
            bij = b[i, j]
            if abs(bij) <= 1.0 + tol:
                break
            # B <- B - B[:, j] (B[i, :] - e_j) / B_ij   (row j of A replaced by x_i)
            row = b[i].copy()
            row[j] -= 1.0
            b -= np.outer(b[:, j] / bij, row)
            rows[j] = i
            it += 1
            swapped = True
        if not swapped or it >= max_iters:
            break
    ainv = np.linalg.inv(x[rows])
    return rows, ainv


class _ElementActiveSet:
    """One element's active set in the principal subspace of its training features.

    With the SVD x = U S V^T of the training features and r the numerical rank (singular values
    above ``rcond`` x the largest), MaxVol runs on the coordinates x V_r (n, r). A query's grade is
    max_j |(x V_r A^-1)_j| and, when r < d, at least ||x_perp|| / tau, its residual out of that
    subspace, x_perp = x - x V_r V_r^T, over tau = max(largest training residual, rcond x largest
    training ||x||): every training row still grades <= 1 (+ tol), and a feature direction (nearly)
    never seen in training counts as extrapolation in proportion to how far the query goes into it.
    """

    def __init__(self, x: np.ndarray, tol: float, rcond: float):
        n, d = x.shape
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        r = int(np.sum(s > rcond * s[0])) if len(s) and s[0] > 0 else 0
        if r == 0:
            raise np.linalg.LinAlgError("all training features are zero")
        self.rank, self.n_features, self.rcond = r, d, rcond
        self.basis = vt[:r].T  # (d, r)
        self.rows, ainv = maxvol(x @ self.basis, tol=tol)
        self.projector = self.basis @ ainv  # (d, r): c = x @ projector
        self.residual_scale = None
        if r < d:
            self.residual_scale = max(float(self._residual(x).max()), rcond * float(np.linalg.norm(x, axis=1).max()))

    def _residual(self, x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x - (x @ self.basis) @ self.basis.T, axis=1)

    def grade(self, x: np.ndarray) -> np.ndarray:
        g = np.abs(x @ self.projector).max(axis=1)
        if self.residual_scale is not None:
            g = np.maximum(g, self._residual(x) / self.residual_scale)
        return g


# ----------------------------------------------------------------------------------- selectors
class Selector:
    """Base class: subclasses set ``name`` and implement ``_atom_pass`` (or override ``_evaluate``).

    ``batch_size``: structures per model evaluation.
    """

    name: str = ""

    def __init__(self, batch_size: int = 16):
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)

    def fit(self, uq: UncertaintyModel, train_frames: Sequence[Frame]) -> "Selector":
        """Learn what the selector needs from the training frames (default: nothing)."""
        return self

    def scores(self, uq: UncertaintyModel, candidates: Sequence[Frame], rng: np.random.Generator) -> np.ndarray:
        """(F,) informativeness of each candidate, higher = more informative."""
        return self._evaluate(uq, candidates, rng, fingerprints=False)[0]

    def select(self, uq: UncertaintyModel, candidates: Sequence[Frame], n: int, rng: np.random.Generator,
               threshold: float | None = None, min_separation: float | None = None) -> list[int]:
        """Indices of at most n candidates in decreasing score order, skipping near-duplicates
        (fingerprint distance below ``min_separation`` to one already taken; None = 0.1 x the
        median pairwise distance, 0 = off) and, if ``threshold`` is given, candidates scoring
        below it. One pass over the candidates."""
        if len(candidates) == 0 or int(n) <= 0:
            return []
        need_fp = min_separation is None or float(min_separation) != 0.0
        scores, fp = self._evaluate(uq, candidates, rng, fingerprints=need_fp)
        return greedy_separated(scores, fp, n, threshold, min_separation if need_fp else 0.0)

    # -------------------------------------------------------------- hooks
    def _evaluate(self, uq, candidates, rng, fingerprints: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(frame scores (F,), fingerprints (F, K) or None) from one pass over ``candidates``."""
        if len(candidates) == 0:
            return np.zeros(0), (np.zeros((0, 0)) if fingerprints else None)
        atoms, fp = self._atom_pass(uq, candidates, fingerprints)
        return _frame_max(atoms, np.array([len(f) for f in candidates])), fp

    def _atom_pass(self, uq, candidates, fingerprints: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(per-atom scores (N,), fingerprints or None); the frame score is the max over its atoms."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(batch_size={self.batch_size})"


class CommitteeSelector(Selector):
    """Score = max over the frame's atoms of the calibrated force sigma (eV/Å per component),
    ``uq.forces_sigma(forces_var)`` exactly as ``UncertaintyModel.predict`` gives it: the
    members' spread for an ensemble, the last-layer Laplace variance for a single calibrated model."""

    name = "committee"

    def _atom_pass(self, uq, candidates, fingerprints):
        def per_atom(_d, _h, _s, batch):
            res = uq.outputs(batch)  # forces of every member; descriptors of member 0 / the model
            sigma = uq.forces_sigma(res["forces_var"].detach().cpu().double().numpy())
            return sigma, res[keys.DESCRIPTORS], res["species"]

        return _Pass(uq, candidates, self.batch_size, fingerprints).run(per_atom, readout=False)


class MaxVolSelector(Selector):
    """D-optimality (MaxVol) extrapolation grade on the last-layer readout features.

    ``fit``: per element, the training atoms' features phi = [h, 1] (last hidden layer of the
    readout, a constant appended, d = n_hidden + 1; member 0 of an ensemble) and their MaxVol
    active set A (d atoms whose phi span the largest volume; :func:`maxvol`, tolerance ``tol``).
    The grade of an atom is gamma = max_j |(phi A^-1)_j|: the largest coefficient needed to write
    phi as a combination of the active set. Every training atom has gamma <= 1 + tol; gamma > 1
    is extrapolation (pacemaker / MTP use ~1.5-2 to select, ~5-10 to stop MD). Frame score = max
    gamma over its atoms; ``grades`` gives the per-atom values.

    Fallbacks. Features are first rotated into their principal subspace of numerical rank r
    (singular values above ``rcond`` x the largest; default sqrt(machine epsilon) of the model's
    dtype). An element with fewer training atoms than d, or rank-deficient features, has r < d:
    its active set is r atoms in that subspace (for r = n every training atom; A^-1 is then the
    pseudo-inverse of the training features, the least-squares / minimum-norm coefficients), and
    the component of a query outside the subspace is graded too, relative to the largest such
    component among the training atoms (floored at rcond x the largest training ||phi||), so a
    never-seen feature direction is extrapolation. An element with no training atoms grades +inf.
    """

    name = "maxvol"

    def __init__(self, tol: float = 1e-6, rcond: float | None = None, batch_size: int = 16):
        super().__init__(batch_size)
        if not float(tol) >= 0:
            raise ConfigError(f"tol must be >= 0, got {tol!r}")
        self.tol, self.rcond = float(tol), rcond
        self.active: list[_ElementActiveSet | None] | None = None
        self.train_counts: np.ndarray | None = None

    def fit(self, uq, train_frames):
        n_el = _n_elements(uq)
        rcond = self.rcond if self.rcond is not None else math.sqrt(float(torch.finfo(uq.dtype).eps))
        feats: list[list[np.ndarray]] = [[] for _ in range(n_el)]
        for _x, h, s in readout_passes(_base_model(uq), train_frames, self.batch_size):
            phi = torch.cat([h, torch.ones_like(h[:, :1])], dim=1).double().cpu().numpy()
            s = s.cpu().numpy()
            for e in np.unique(s):
                feats[e].append(phi[s == e])
        self.active, counts = [], []
        for e in range(n_el):
            x = np.concatenate(feats[e]) if feats[e] else None
            counts.append(0 if x is None else len(x))
            self.active.append(None if x is None else _ElementActiveSet(x, self.tol, rcond))
        self.train_counts = np.array(counts)
        return self

    def _check(self):
        if self.active is None:
            raise ConfigError("maxvol selector is not fitted: call fit(uq, train_frames) first")

    def _grade(self, h: torch.Tensor, species: torch.Tensor) -> np.ndarray:
        phi = torch.cat([h, torch.ones_like(h[:, :1])], dim=1).double().cpu().numpy()
        s = species.cpu().numpy()
        out = np.full(len(phi), np.inf)
        for e in np.unique(s):
            if self.active[e] is not None:
                out[s == e] = self.active[e].grade(phi[s == e])
        return out

    def grades(self, uq, frames) -> np.ndarray:
        """(N,) extrapolation grade of every atom of ``frames`` (concatenated)."""
        self._check()
        return _Pass(uq, frames, self.batch_size, False).run(lambda d, h, s, b: self._grade(h, s))[0]

    def _atom_pass(self, uq, candidates, fingerprints):
        self._check()
        return _Pass(uq, candidates, self.batch_size, fingerprints).run(lambda d, h, s, b: self._grade(h, s))


class MahalanobisSelector(Selector):
    """Descriptor drift: score = max over atoms of T^2 / threshold of its element (> 1 =
    beyond the threshold; +inf for an element without training statistics; the threshold is the
    domain model's, ``uncertainty.domain.MahalanobisDomain``).

    Uses the model's own ``uq.domains["mahalanobis"]`` when it has one; otherwise ``fit`` fits a
    :class:`MahalanobisDomain` (``confidence``) on the training frames' descriptors.
    """

    name = "mahalanobis"

    def __init__(self, confidence: float = 0.99, batch_size: int = 16):
        super().__init__(batch_size)
        if not 0.0 < float(confidence) < 1.0:
            raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
        self.confidence = float(confidence)
        self.domain: MahalanobisDomain | None = None

    def fit(self, uq, train_frames):
        if self._model_domain(uq) is None:
            xs, ss = [], []
            for x, _h, s in readout_passes(_base_model(uq), train_frames, self.batch_size):
                xs.append(x.detach().double().cpu().numpy())
                ss.append(s.cpu().numpy())
            self.domain = MahalanobisDomain(confidence=self.confidence).fit(
                np.concatenate(xs), np.concatenate(ss), _n_elements(uq))
        return self

    @staticmethod
    def _model_domain(uq):
        dom = uq.domains.get("mahalanobis")
        return dom if dom is not None and dom.is_fitted else None

    def _domain(self, uq) -> MahalanobisDomain:
        dom = self._model_domain(uq)
        dom = self.domain if dom is None else dom
        if dom is None:
            raise ConfigError("mahalanobis selector: the model has no fitted 'mahalanobis' domain; "
                              "call fit(uq, train_frames) first")
        return dom

    def _ratio(self, dom, desc: torch.Tensor, species: torch.Tensor) -> np.ndarray:
        s = species.cpu().numpy()
        t2 = dom.score(desc.detach().double().cpu().numpy(), s)
        thr = dom.threshold[s]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = t2 / thr
        return np.where(np.isfinite(thr) & (thr > 0), ratio, np.inf)

    def atom_ratios(self, uq, frames) -> np.ndarray:
        """(N,) T^2 / threshold of every atom of ``frames`` (> 1 = out of domain)."""
        dom = self._domain(uq)
        return _Pass(uq, frames, self.batch_size, False).run(lambda d, h, s, b: self._ratio(dom, d, s))[0]

    def triggered(self, uq, frames) -> bool:
        """Whether any atom of ``frames`` lies beyond its element's threshold."""
        return bool(np.any(~(self.atom_ratios(uq, frames) <= 1.0)))

    def fraction_out(self, uq, frames) -> float:
        """Fraction of the atoms of ``frames`` beyond the threshold (0 for no atoms)."""
        r = self.atom_ratios(uq, frames)
        return float(np.mean(~(r <= 1.0))) if len(r) else 0.0

    def _atom_pass(self, uq, candidates, fingerprints):
        dom = self._domain(uq)
        return _Pass(uq, candidates, self.batch_size, fingerprints).run(lambda d, h, s, b: self._ratio(dom, d, s))


class RandomSelector(Selector):
    """Uniform random scores from ``rng`` (the baseline); the model is evaluated only for the
    near-duplicate fingerprints (not at all with ``min_separation=0``)."""

    name = "random"

    def _evaluate(self, uq, candidates, rng, fingerprints):
        scores = rng.random(len(candidates))
        fp = None
        if fingerprints and len(candidates):
            fp = _Pass(uq, candidates, self.batch_size, True).run(lambda d, h, s, b: np.zeros(len(s)))[1]
        return scores, fp


SELECTORS: dict[str, type[Selector]] = {
    c.name: c for c in (CommitteeSelector, MaxVolSelector, MahalanobisSelector, RandomSelector)
}


def make_selector(name: str, **kwargs) -> Selector:
    """A selector by name (``SELECTORS``) with its keyword arguments."""
    if name not in SELECTORS:
        raise ConfigError(f"unknown selector {name!r}; valid selectors: {', '.join(sorted(SELECTORS))}")
    cls = SELECTORS[name]
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as err:
        valid = [p for p in inspect.signature(cls).parameters]
        raise ConfigError(f"bad options for selector {name!r}: {err}; valid options: {', '.join(valid) or 'none'}") from None
    return cls(**kwargs)

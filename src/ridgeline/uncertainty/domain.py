"""Domain of applicability in descriptor space, judged per atom and per element.

A potential is trustworthy only near the atomic environments it was trained on. The models
here learn, for each element separately, where the training descriptors lie and score each
query atom by how far outside that region it is (larger = further out); ``flag`` marks an
atom out of domain when its score exceeds its element's threshold.

* :class:`NearestNeighbourDomain` -- distance to the nearest training environment in
  standardised features; the threshold is a quantile of the training points' own
  leave-one-out nearest-neighbour distances.
* :class:`MahalanobisDomain` -- Hotelling/Mahalanobis T^2 against a shrunk (Ledoit-Wolf)
  covariance; the threshold is the conformal quantile of the training atoms' own T^2.
* :class:`ConvexHullDomain` -- the gauge of the training points' convex hull (after PCA to a
  few dimensions): at most 1 inside the hull, above 1 outside.

Inputs are ``features`` (n_atoms, n_features) and ``species`` (n_atoms,) with values in
``0 .. n_elements - 1``. An element without (enough) training atoms has no statistics: every
query atom of it scores +inf and is flagged, and its threshold is NaN. A query atom with a
non-finite feature also scores +inf.

Models are stored as numeric arrays (``to_arrays``, float64/int64, for a safetensors file)
plus a JSON-serialisable dict (``params``); ``DomainModel.from_arrays(arrays, params)``
rebuilds an equal model (on the base class it dispatches on ``params["name"]``).
Only numpy and scipy are used.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar, Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, optimize
from scipy.spatial import ConvexHull, cKDTree

__all__ = [
    "DOMAIN_MODELS",
    "ConvexHullDomain",
    "DomainModel",
    "MahalanobisDomain",
    "NearestNeighbourDomain",
    "conformal_quantile",
    "ledoit_wolf_shrinkage",
]


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) level)-th smallest of n scores (the largest when n is too small for that):
    a new score exchangeable with the n stays at or below it with probability at least ``level``
    (split conformal prediction; Vovk et al. 2005, Angelopoulos & Bates 2021), whatever their
    distribution."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(ordered)
    k = int(np.ceil((n + 1) * float(level) - 1e-9))  # 1e-9: (n + 1) level is often an integer up to round-off
    return float(ordered[min(max(k, 1), n) - 1])


def ledoit_wolf_shrinkage(x: np.ndarray) -> float:
    """Ledoit-Wolf (2004) optimal shrinkage intensity towards ``mu * I`` (mu = trace / d).

    ``x`` (n, d) is centred here. With S = x^T x / n (the maximum-likelihood covariance):
    delta = ||S - mu I||_F^2 / d, beta = sum_k ||x_k x_k^T - S||_F^2 / (d n^2), and the
    intensity is min(beta, delta) / delta (0 when delta = 0, i.e. S is already mu I).
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    x = x - x.mean(axis=0)
    s = x.T @ x / n
    mu = np.trace(s) / d
    delta = (np.sum(s * s) - 2.0 * mu * np.trace(s) + d * mu * mu) / d
    # sum_k ||x_k x_k^T - S||_F^2 = sum_k ||x_k||^4 - n ||S||_F^2
    beta = (np.sum(np.sum(x * x, axis=1) ** 2) / n - np.sum(s * s)) / (d * n)
    beta = min(max(beta, 0.0), delta)
    return 0.0 if delta <= 0.0 else float(beta / delta)


def _concat(blocks: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack per-element blocks of rows into one (N, width) array plus (n_elements + 1) offsets."""
    sizes = [len(b) for b in blocks]
    offsets = np.zeros(len(blocks) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(sizes)
    data = np.concatenate(blocks, axis=0) if sum(sizes) else np.zeros((0, width))
    return np.ascontiguousarray(data.reshape(-1, width), dtype=np.float64), offsets


class DomainModel:
    """Shared bookkeeping: input validation, per-element dispatch, flagging, serialisation.

    Subclasses set ``name``, ``min_atoms`` and ``_config_keys`` (constructor arguments saved in
    ``params``) and implement ``_fit_elements``, ``_score_element``, ``_state_arrays`` and
    ``_load_state``.
    """

    name: ClassVar[str] = ""
    min_atoms: ClassVar[int] = 1  # an element with fewer training atoms is treated as absent
    _config_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.n_elements: int | None = None
        self.n_features: int | None = None
        self.counts: np.ndarray | None = None  # (n_elements,) training atoms per element
        self.threshold: np.ndarray | None = None  # (n_elements,), NaN for absent elements

    # ------------------------------------------------------------------ public API
    @property
    def is_fitted(self) -> bool:
        return self.threshold is not None

    @property
    def present(self) -> np.ndarray:
        """(n_elements,) bool: elements with statistics (enough training atoms)."""
        if self.counts is None:
            self._check_fitted()
        return self.counts >= self.min_atoms

    def fit(self, features: ArrayLike, species: ArrayLike, n_elements: int) -> "DomainModel":
        """Learn each element's region from its training atoms; returns ``self``."""
        if isinstance(n_elements, bool) or not isinstance(n_elements, (int, np.integer)) or n_elements < 1:
            raise ValueError(f"n_elements must be a positive integer, got {n_elements!r}")
        n_elements = int(n_elements)
        x, s = self._validate(features, species, n_elements, n_features=None, what="fit")
        if not np.all(np.isfinite(x)):
            rows = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
            raise ValueError(f"fit: features contain non-finite values (NaN or inf) in {len(rows)} atom(s), first at row {rows[0]}")
        counts = np.bincount(s, minlength=n_elements).astype(np.int64)
        thin = [e for e in range(n_elements) if 0 < counts[e] < self.min_atoms]
        if thin:
            warnings.warn(
                f"{type(self).__name__}: element(s) {thin} have fewer than {self.min_atoms} training atoms; "
                "they are treated as absent (every query atom of them is out of domain)",
                stacklevel=2,
            )
        if not np.any(counts >= self.min_atoms):
            raise ValueError(f"fit: no element has at least {self.min_atoms} training atom(s) (atoms per element: {counts.tolist()})")
        self.threshold = None  # unfitted until _fit_elements succeeds
        self.n_elements, self.n_features, self.counts = n_elements, x.shape[1], counts
        blocks = [x[s == e] if counts[e] >= self.min_atoms else None for e in range(n_elements)]
        self.threshold = np.asarray(self._fit_elements(blocks), dtype=np.float64)
        return self

    def score(self, features: ArrayLike, species: ArrayLike) -> np.ndarray:
        """(n_atoms,) float64 out-of-domain score, larger = further out; +inf for atoms of
        elements without statistics and for atoms with non-finite features."""
        self._check_fitted()
        x, s = self._validate(features, species, self.n_elements, self.n_features, what="score")
        out = np.full(len(x), np.inf)
        finite = np.all(np.isfinite(x), axis=1)
        present = self.present
        for e in np.unique(s):
            if not present[e]:
                continue
            rows = np.flatnonzero((s == e) & finite)
            if len(rows):
                out[rows] = self._score_element(int(e), x[rows])
        return out

    def flag(self, features: ArrayLike, species: ArrayLike) -> np.ndarray:
        """(n_atoms,) bool, True = out of domain (score above its element's threshold, or no
        statistics for its element, or a NaN score)."""
        score = self.score(features, species)
        s = np.asarray(species).astype(np.int64)
        return ~(score <= self.threshold[s])

    def params(self) -> dict:
        """JSON-serialisable description (name, sizes, constructor arguments)."""
        self._check_fitted()
        out: dict[str, Any] = {"name": self.name, "n_elements": int(self.n_elements), "n_features": int(self.n_features)}
        for key in self._config_keys:
            value = getattr(self, key)
            out[key] = value if value is None or isinstance(value, str) else (int(value) if isinstance(value, (int, np.integer)) else float(value))
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Numeric arrays (float64 / int64, contiguous) holding the fitted state."""
        self._check_fitted()
        arrays = {"threshold": self.threshold, "counts": self.counts, **self._state_arrays()}
        out = {}
        for key, value in arrays.items():
            value = np.asarray(value)
            dtype = np.int64 if np.issubdtype(value.dtype, np.integer) else np.float64
            out[key] = np.ascontiguousarray(value, dtype=dtype).copy()
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ArrayLike], params: Mapping[str, Any]) -> "DomainModel":
        """Rebuild a model from ``to_arrays()`` and ``params()``. Called on ``DomainModel``
        itself, the class is chosen by ``params["name"]``."""
        name = params.get("name")
        if cls is DomainModel:
            if name not in DOMAIN_MODELS:
                raise ValueError(f"unknown domain model {name!r}; available: {', '.join(sorted(DOMAIN_MODELS))}")
            return DOMAIN_MODELS[name].from_arrays(arrays, params)
        if name != cls.name:
            raise ValueError(f"params describe a {name!r} domain model, not {cls.name!r}")
        missing = [k for k in ("n_elements", "n_features", *cls._config_keys) if k not in params]
        missing += [k for k in ("threshold", "counts", *cls._array_keys()) if k not in arrays]
        if missing:
            raise ValueError(f"{cls.name} domain model: missing key(s) {', '.join(missing)}")
        model = cls(**{k: params[k] for k in cls._config_keys})
        model.n_elements, model.n_features = int(params["n_elements"]), int(params["n_features"])
        arr = {k: np.asarray(v) for k, v in arrays.items()}
        model.threshold = np.array(arr["threshold"], dtype=np.float64)
        model.counts = np.array(arr["counts"], dtype=np.int64)
        if model.threshold.shape != (model.n_elements,) or model.counts.shape != (model.n_elements,):
            raise ValueError(f"{cls.name} domain model: threshold/counts must have shape ({model.n_elements},)")
        model._load_state(arr)
        return model

    def __repr__(self) -> str:
        config = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._config_keys)
        fitted = f", n_elements={self.n_elements}, n_features={self.n_features}" if self.is_fitted else ""
        return f"{type(self).__name__}({config}{fitted})"

    # ------------------------------------------------------------------ helpers
    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise ValueError(f"{type(self).__name__} is not fitted; call fit(features, species, n_elements) first")

    @staticmethod
    def _validate(features, species, n_elements: int, n_features: int | None, what: str) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(features)
        if x.ndim != 2:
            raise ValueError(f"{what}: features must be a 2-D array (n_atoms, n_features), got shape {x.shape}")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise ValueError(f"{what}: features must be numeric, got dtype {x.dtype}")
        x = x.astype(np.float64, copy=False)
        if n_features is not None and x.shape[1] != n_features:
            raise ValueError(f"{what}: features have {x.shape[1]} columns but the model was fitted on {n_features} features")
        if x.shape[1] < 1:
            raise ValueError(f"{what}: features must have at least one column, got shape {x.shape}")
        s = np.asarray(species)
        if s.ndim != 1:
            raise ValueError(f"{what}: species must be a 1-D array (n_atoms,), got shape {s.shape}")
        if s.size and not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"{what}: species must be integers, got dtype {s.dtype}")
        if len(s) != len(x):
            raise ValueError(f"{what}: shape mismatch: {len(x)} rows of features but {len(s)} species")
        s = s.astype(np.int64, copy=False)
        if s.size and (s.min() < 0 or s.max() >= n_elements):
            bad = s[(s < 0) | (s >= n_elements)]
            raise ValueError(f"{what}: species out of range: got {bad[0]}, valid values are 0..{n_elements - 1}")
        return x, s

    @classmethod
    def _array_keys(cls) -> tuple[str, ...]:
        return ()

    # ------------------------------------------------------------------ subclass hooks
    def _fit_elements(self, blocks: list[np.ndarray | None]) -> np.ndarray:
        """Fit from per-element training features (None = absent); return thresholds."""
        raise NotImplementedError

    def _score_element(self, element: int, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _state_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


class NearestNeighbourDomain(DomainModel):
    """Distance to the nearest training environment of the same element.

    Features are standardised per element and feature (mean subtracted, divided by the
    standard deviation, floored at 1e-12 times the element's largest standard deviation so a
    feature constant in training makes any deviation in it far). At most ``max_points``
    training atoms per element, drawn at random (``seed``), are kept in a
    ``scipy.spatial.cKDTree``. The score is the Euclidean distance to the nearest kept point;
    the threshold is the ``quantile`` of the kept points' leave-one-out nearest-neighbour
    distances (each point's distance to its nearest *other* point), so roughly a fraction
    ``1 - quantile`` of fresh in-distribution atoms is flagged when the training set is dense.
    Needs at least 2 training atoms per element.
    """

    name = "nearest"
    min_atoms = 2
    _config_keys = ("quantile", "max_points", "seed")

    def __init__(self, quantile: float = 0.99, max_points: int = 20000, seed: int = 0):
        super().__init__()
        if not 0.0 < float(quantile) <= 1.0:
            raise ValueError(f"quantile must be in (0, 1], got {quantile!r}")
        if int(max_points) < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points!r}")
        self.quantile, self.max_points, self.seed = float(quantile), int(max_points), int(seed)
        self._trees: list[cKDTree | None] = []

    def _fit_elements(self, blocks):
        d = self.n_features
        self.mean = np.zeros((self.n_elements, d))
        self.scale = np.ones((self.n_elements, d))
        kept, thresholds = [], np.full(self.n_elements, np.nan)
        for e, x in enumerate(blocks):
            if x is None:
                kept.append(np.zeros((0, d)))
                continue
            mean, std = x.mean(axis=0), x.std(axis=0)
            top = std.max()
            scale = np.maximum(std, 1e-12 * top) if top > 0 else np.ones(d)
            self.mean[e], self.scale[e] = mean, scale
            if len(x) > self.max_points:
                rng = np.random.default_rng([self.seed, e])
                x = x[np.sort(rng.choice(len(x), self.max_points, replace=False))]
            z = (x - mean) / scale
            kept.append(z)
            loo = cKDTree(z).query(z, k=2)[0][:, 1]
            thresholds[e] = np.quantile(loo, self.quantile)
        self.points, self.offsets = _concat(kept, d)
        self._build_trees()
        return thresholds

    def _build_trees(self) -> None:
        self._trees = [
            cKDTree(self.points[self.offsets[e] : self.offsets[e + 1]]) if self.offsets[e + 1] > self.offsets[e] else None
            for e in range(self.n_elements)
        ]

    def _score_element(self, element, x):
        z = (x - self.mean[element]) / self.scale[element]
        return self._trees[element].query(z, k=1)[0]

    @classmethod
    def _array_keys(cls):
        return ("mean", "scale", "points", "offsets")

    def _state_arrays(self):
        return {"mean": self.mean, "scale": self.scale, "points": self.points, "offsets": self.offsets}

    def _load_state(self, arrays):
        d, n = self.n_features, self.n_elements
        self.mean = np.array(arrays["mean"], dtype=np.float64).reshape(n, d)
        self.scale = np.array(arrays["scale"], dtype=np.float64).reshape(n, d)
        self.points = np.array(arrays["points"], dtype=np.float64).reshape(-1, d)
        self.offsets = np.array(arrays["offsets"], dtype=np.int64).reshape(n + 1)
        self._build_trees()


class MahalanobisDomain(DomainModel):
    """Hotelling / Mahalanobis T^2 against a per-element Gaussian.

    Per element: mean m and maximum-likelihood covariance C, shrunk towards the scaled
    identity, S = (1 - a) C + a mu I with mu = trace(C) / d, where a is the Ledoit-Wolf (2004)
    intensity (:func:`ledoit_wolf_shrinkage`) when ``shrinkage`` is None, else the given value.
    (A relative 1e-12 ridge keeps S positive definite when C is singular and a = 0.)
    Score: T^2 = (x - m)^T S^-1 (x - m), by a Cholesky solve. Threshold: the conformal
    ``confidence`` quantile of the element's training atoms' own T^2 (:func:`conformal_quantile`),
    so that a fraction of about 1 - ``confidence`` of fresh in-distribution atoms is flagged
    whatever the features' distribution. The chi-squared quantile with n_features degrees of
    freedom, right for Gaussian features, is not: descriptors have heavy tails (on EMT Cu, a
    trained model's held-out in-domain atoms beyond chi^2 at 0.999 were 0.6-0.8%, not 0.1%).
    The training atoms' T^2 are in-sample (m and S are fitted to them), slightly smaller than a
    fresh atom's, by a relative ~n_features / n_atoms. Files written with the chi-squared threshold
    keep it (the threshold is stored). Needs at least 2 training atoms per element.
    """

    name = "mahalanobis"
    min_atoms = 2
    _config_keys = ("confidence", "shrinkage")

    def __init__(self, confidence: float = 0.99, shrinkage: float | None = None):
        super().__init__()
        if not 0.0 < float(confidence) < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        if shrinkage is not None and not 0.0 <= float(shrinkage) <= 1.0:
            raise ValueError(f"shrinkage must be None (Ledoit-Wolf) or in [0, 1], got {shrinkage!r}")
        self.confidence = float(confidence)
        self.shrinkage = None if shrinkage is None else float(shrinkage)

    def _fit_elements(self, blocks):
        n, d = self.n_elements, self.n_features
        self.mean = np.zeros((n, d))
        self.covariance = np.zeros((n, d, d))
        self.shrinkage_used = np.zeros(n)
        thresholds = np.full(n, np.nan)
        for e, x in enumerate(blocks):
            if x is None:
                continue
            mean = x.mean(axis=0)
            xc = x - mean
            c = xc.T @ xc / len(x)
            mu = np.trace(c) / d
            a = ledoit_wolf_shrinkage(x) if self.shrinkage is None else self.shrinkage
            s = (1.0 - a) * c
            s[np.diag_indices(d)] += a * mu + 1e-12 * (mu if mu > 0 else 1.0)
            self.mean[e], self.covariance[e], self.shrinkage_used[e] = mean, s, a
        self._factorise()
        for e, x in enumerate(blocks):
            if x is not None:
                thresholds[e] = conformal_quantile(self._score_element(e, x), self.confidence)
        return thresholds

    def _factorise(self) -> None:
        present = self.present
        self._cholesky = [
            linalg.cholesky(self.covariance[e], lower=True) if present[e] else None for e in range(self.n_elements)
        ]

    def _score_element(self, element, x):
        y = linalg.solve_triangular(self._cholesky[element], (x - self.mean[element]).T, lower=True)
        return np.sum(y * y, axis=0)

    @classmethod
    def _array_keys(cls):
        return ("mean", "covariance", "shrinkage_used")

    def _state_arrays(self):
        return {"mean": self.mean, "covariance": self.covariance, "shrinkage_used": self.shrinkage_used}

    def _load_state(self, arrays):
        n, d = self.n_elements, self.n_features
        self.mean = np.array(arrays["mean"], dtype=np.float64).reshape(n, d)
        self.covariance = np.array(arrays["covariance"], dtype=np.float64).reshape(n, d, d)
        self.shrinkage_used = np.array(arrays["shrinkage_used"], dtype=np.float64).reshape(n)
        self._factorise()


class ConvexHullDomain(DomainModel):
    """Gauge of the per-element convex hull of the training points in a PCA subspace.

    Per element the features are centred at their mean and projected onto the top
    ``n_components`` right singular vectors (capped at the number of features). With c the
    centroid of the projected training points (the origin) and v_k the points, the score of a
    projected query x is the gauge (Minkowski functional) of the hull about c::

        t(x) = min sum_k lambda_k  subject to  sum_k lambda_k (v_k - c) = x - c,  lambda >= 0

    solved as one linear programme per query point (``scipy.optimize.linprog``, HiGHS). t <= 1
    exactly when x is inside the hull (a hull vertex scores 1, the centroid 0); an infeasible
    LP (x outside the cone spanned by the v_k - c, e.g. off the plane of flat training data)
    scores +inf. The threshold is 1 + 1e-9. The LP over all training points is the
    definition; keeping only the hull vertices from ``scipy.spatial.ConvexHull`` (all points
    when qhull fails, e.g. on degenerate or flat data) gives the same optimum and only makes
    the LPs smaller. Cost: one small LP per query atom (about a millisecond), so this model
    suits thousands of query atoms, not millions.
    """

    name = "hull"
    min_atoms = 1
    _config_keys = ("n_components",)
    tolerance: ClassVar[float] = 1e-9

    def __init__(self, n_components: int = 3):
        super().__init__()
        if isinstance(n_components, bool) or int(n_components) < 1:
            raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
        self.n_components = int(n_components)

    @property
    def k(self) -> int:
        """Number of PCA components actually used (n_components capped at n_features)."""
        return min(self.n_components, self.n_features)

    def _fit_elements(self, blocks):
        n, d, k = self.n_elements, self.n_features, self.k
        self.centre = np.zeros((n, d))
        self.components = np.zeros((n, k, d))
        self.lp_scale = np.ones(n)
        vertices, thresholds = [], np.full(n, np.nan)
        for e, x in enumerate(blocks):
            if x is None:
                vertices.append(np.zeros((0, k)))
                continue
            centre = x.mean(axis=0)
            xc = x - centre
            # full_matrices only when there are fewer points than components (cheap then)
            vt = np.linalg.svd(xc, full_matrices=len(x) < k)[2]
            components = vt[:k]
            p = xc @ components.T
            v = p[_hull_vertices(p)]
            top = np.max(np.abs(v))
            self.centre[e], self.components[e] = centre, components
            self.lp_scale[e] = top if top > 0 else 1.0
            vertices.append(v)
            thresholds[e] = 1.0 + self.tolerance
        self.vertices, self.offsets = _concat(vertices, k)
        return thresholds

    def _score_element(self, element, x):
        p = (x - self.centre[element]) @ self.components[element].T / self.lp_scale[element]
        v = self.vertices[self.offsets[element] : self.offsets[element + 1]] / self.lp_scale[element]
        a_eq, cost = np.ascontiguousarray(v.T), np.ones(len(v))
        out = np.empty(len(p))
        for i, target in enumerate(p):
            res = optimize.linprog(cost, A_eq=a_eq, b_eq=target, bounds=(0, None), method="highs")
            if res.status == 0:
                out[i] = max(float(res.fun), 0.0)
            elif res.status == 2:  # infeasible: outside the cone spanned by the training points
                out[i] = np.inf
            else:
                raise RuntimeError(f"hull domain: linear programme failed for element {element}: {res.message}")
        return out

    @classmethod
    def _array_keys(cls):
        return ("centre", "components", "lp_scale", "vertices", "offsets")

    def _state_arrays(self):
        return {
            "centre": self.centre,
            "components": self.components,
            "lp_scale": self.lp_scale,
            "vertices": self.vertices,
            "offsets": self.offsets,
        }

    def _load_state(self, arrays):
        n, d, k = self.n_elements, self.n_features, self.k
        self.centre = np.array(arrays["centre"], dtype=np.float64).reshape(n, d)
        self.components = np.array(arrays["components"], dtype=np.float64).reshape(n, k, d)
        self.lp_scale = np.array(arrays["lp_scale"], dtype=np.float64).reshape(n)
        self.vertices = np.array(arrays["vertices"], dtype=np.float64).reshape(-1, k)
        self.offsets = np.array(arrays["offsets"], dtype=np.int64).reshape(n + 1)


def _hull_vertices(p: np.ndarray) -> np.ndarray:
    """Indices of the convex-hull vertices of the rows of ``p``; all rows if qhull fails."""
    n, k = p.shape
    if k == 1:
        return np.unique([np.argmin(p[:, 0]), np.argmax(p[:, 0])])
    if n <= k:
        return np.arange(n)
    try:
        return np.sort(ConvexHull(p).vertices)
    except Exception:  # QhullError (flat / degenerate data) and friends: the LP stays exact
        return np.arange(n)


DOMAIN_MODELS: dict[str, type[DomainModel]] = {
    cls.name: cls for cls in (NearestNeighbourDomain, MahalanobisDomain, ConvexHullDomain)
}

"""Active-learning selectors: MaxVol D-optimality, committee sigma, Mahalanobis drift, random
baseline, and the shared near-duplicate filter, on random data and EMT Cu structures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from ridgeline import keys
from ridgeline.active import selectors as sel
from ridgeline.active.selectors import (SELECTORS, CommitteeSelector, MahalanobisSelector, MaxVolSelector,
                                        RandomSelector, greedy_separated, make_selector, maxvol)
from ridgeline.data import KeyMap, read_frames
from ridgeline.data.frame import Frame
from ridgeline.data.graph import atoms_to_batch
from ridgeline.errors import ConfigError
from ridgeline.models import Ensemble, ForceStressOutput, build_model
from ridgeline.models.io import load_model
from ridgeline.uncertainty import UncertaintyModel, UncertaintyOptions, fit_uncertainty

CU = [29]


def random_model(seed: int, elements=CU):
    torch.manual_seed(seed)
    return build_model("bpnn", elements, preset="small", cutoff=4.5).double().eval()


def cu_frame(seed=0, scale=1.0, rattle=0.05, repeat=(2, 2, 2)) -> Frame:
    atoms = bulk("Cu", "fcc", a=3.6 * scale, cubic=True).repeat(repeat)
    atoms.rattle(rattle, seed=seed)
    return Frame.from_atoms(atoms)


@pytest.fixture(scope="module")
def train_frames(emt_files):
    return read_frames(emt_files["train"], KeyMap(), require=("energy", "forces"))


@pytest.fixture(scope="module")
def committee():
    return UncertaintyModel(Ensemble([random_model(0), random_model(1)]))


@pytest.fixture(scope="module")
def candidates():
    """Mildly rattled cells near equilibrium (two sizes, so frames have different atom counts)
    and strongly compressed, strongly rattled ones."""
    mild = [cu_frame(seed=s, scale=sc, rattle=0.03, repeat=(2, 2, 2) if s % 2 else (2, 2, 1))
            for s, sc in enumerate([0.94, 0.97, 1.0, 1.03, 1.06])]
    strong = [cu_frame(seed=10 + s, scale=sc, rattle=0.15) for s, sc in enumerate([0.78, 0.8, 0.82])]
    return mild + strong  # indices 5, 6, 7 are the strong ones


# ---------------------------------------------------------------------------------- MaxVol
def test_maxvol_beats_random_subsets_and_bounds_training_grades():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    rows, ainv = maxvol(x)
    assert len(set(rows.tolist())) == 5
    np.testing.assert_allclose(ainv, np.linalg.inv(x[rows]), rtol=1e-10, atol=1e-12)
    best = abs(np.linalg.det(x[rows]))
    for _ in range(200):
        subset = rng.choice(200, 5, replace=False)
        assert abs(np.linalg.det(x[subset])) <= best
    grades = np.abs(x @ ainv).max(1)
    assert grades.max() <= 1 + 1e-6
    np.testing.assert_allclose(grades[rows], 1.0, rtol=1e-10)  # an active row is a unit vector
    # no single swap increases the volume: the submatrix is locally maximal
    for i in range(200):
        for j in range(5):
            trial = rows.copy()
            trial[j] = i
            assert abs(np.linalg.det(x[trial])) <= best * (1 + 1e-6)
    far = 10.0 * x[np.argmax(np.linalg.norm(x, axis=1))]
    assert np.abs(far @ ainv).max() > 1
    assert np.abs((10.0 * x[rows[0]]) @ ainv).max() == pytest.approx(10.0)


def test_maxvol_starts_from_a_poor_subset_and_fallbacks():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 4))
    rows, ainv = maxvol(x, start=np.arange(4))  # arbitrary start: swaps must fix it
    assert np.abs(x @ ainv).max() <= 1 + 1e-6
    with pytest.raises(np.linalg.LinAlgError):
        maxvol(np.column_stack([x[:, :3], x[:, 0] + x[:, 1]]))  # rank 3 < 4
    # fewer training rows than features: all rows active, least-squares coefficients in the span,
    # a component outside the span is extrapolation
    few = rng.normal(size=(3, 6))
    active = sel._ElementActiveSet(few, tol=1e-6, rcond=1e-8)
    assert active.rank == 3 and sorted(active.rows.tolist()) == [0, 1, 2]
    np.testing.assert_allclose(active.grade(few), 1.0, rtol=1e-8)
    c = np.array([0.5, -0.25, 0.1])
    assert active.grade((c @ few)[None])[0] == pytest.approx(0.5, rel=1e-8)
    outside = c @ few + 0.1 * np.linalg.norm(few[0]) * np.linalg.svd(few)[2][-1]
    assert active.grade(outside[None])[0] > 1e3
    # full rank: the same grades as plain MaxVol
    full = sel._ElementActiveSet(x, tol=1e-6, rcond=1e-8)
    _, ainv = maxvol(x)
    np.testing.assert_allclose(full.grade(x), np.abs(x @ ainv).max(1), rtol=1e-8)


def test_maxvol_selector_on_model(train_frames, candidates):
    uq = UncertaintyModel(random_model(3))  # no Laplace needed: maxvol reads the readout features
    s = MaxVolSelector(batch_size=5).fit(uq, train_frames)
    assert s.train_counts.tolist() == [sum(len(f) for f in train_frames)] and 0 < s.active[0].rank <= 33
    assert s.grades(uq, train_frames).max() <= 1 + 1e-6
    scores = s.scores(uq, candidates, np.random.default_rng(0))
    assert scores.shape == (len(candidates),) and np.all(scores[5:] > 1)
    # the frame score is the max over its atoms
    grades = s.grades(uq, candidates)
    ends = np.cumsum([len(f) for f in candidates])
    assert scores.tolist() == [grades[e - n:e].max() for e, n in zip(ends, [len(f) for f in candidates])]
    # an element absent from training grades +inf
    cuau = random_model(3, elements=[29, 79])
    uq2 = UncertaintyModel(cuau)
    s2 = MaxVolSelector().fit(uq2, train_frames)
    assert s2.active[1] is None
    alloy = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    alloy.numbers[0] = 79
    sc = s2.scores(uq2, [candidates[0], Frame.from_atoms(alloy)], np.random.default_rng(0))
    assert np.isfinite(sc[0]) and sc[1] == np.inf
    with pytest.raises(ConfigError, match="not fitted"):
        MaxVolSelector().scores(uq, candidates, np.random.default_rng(0))


# ------------------------------------------------------------------------------- committee
def test_committee_scores_are_max_force_sigma_by_hand(committee, candidates):
    expected = []
    for frame in candidates:
        batch = atoms_to_batch(frame.to_atoms(), 4.5)
        f = np.stack([ForceStressOutput(m)(batch, forces=True)[keys.FORCES].detach().numpy()
                      for m in committee.model.members])  # (2, N, 3)
        expected.append(np.sqrt((np.std(f, axis=0, ddof=1) ** 2).mean(-1)).max())
    expected = np.array(expected)
    s = CommitteeSelector(batch_size=3)  # batches cross frame boundaries
    scores = s.scores(committee, candidates, np.random.default_rng(0))
    np.testing.assert_allclose(scores, expected, rtol=1e-8)
    # the same as UncertaintyModel.predict's calibrated sigmas, also with alpha != 1
    scaled = UncertaintyModel(committee.model, alpha={"forces": 4.0})
    p = scaled.predict(candidates, domain=())
    by_frame = [p.forces_sigma[p.frame_of_atom == k].max() for k in range(len(candidates))]
    np.testing.assert_allclose(s.scores(scaled, candidates, None), by_frame, rtol=1e-8)
    np.testing.assert_allclose(by_frame, 2.0 * expected, rtol=1e-8)
    # compressed, strongly rattled cells are where the members disagree most
    assert expected[5:].min() > expected[:5].max()
    order = s.select(committee, candidates, n=len(candidates), rng=None, min_separation=0)
    assert order == np.argsort(-expected, kind="stable").tolist()
    assert s.select(committee, candidates, n=1, rng=None)[0] == int(np.argmax(expected))
    # threshold: only candidates at or above it
    cut = float(np.sort(expected)[-3])
    assert sorted(s.select(committee, candidates, n=10, rng=None, threshold=cut, min_separation=0)) == \
        sorted(np.flatnonzero(expected >= cut).tolist())


def test_one_pass_per_call(committee, candidates, train_frames, monkeypatch):
    loaders = []  # passes over the candidates (each builds one data loader)
    real = sel.frame_batches
    monkeypatch.setattr(sel, "frame_batches", lambda *a, **k: loaders.append(1) or real(*a, **k))
    CommitteeSelector().select(committee, candidates, 3, np.random.default_rng(0))
    assert len(loaders) == 1
    mv = MaxVolSelector().fit(committee, train_frames[:4])
    loaders.clear()
    mv.select(committee, candidates, 3, np.random.default_rng(0))
    assert len(loaders) == 1
    loaders.clear()
    RandomSelector().select(None, candidates, 3, np.random.default_rng(0), min_separation=0)
    assert loaders == []  # no fingerprints needed: the model is not evaluated at all


# ----------------------------------------------------------------------------- Mahalanobis
def test_mahalanobis_drift(trained_model, train_frames, emt_files):
    model, _ = load_model(trained_model, dtype=torch.float64)
    valid = read_frames(emt_files["test"], KeyMap(), require=("energy", "forces"))
    uq = fit_uncertainty(model, train_frames, valid, UncertaintyOptions(domains=("mahalanobis",)))
    s = MahalanobisSelector().fit(uq, train_frames)
    assert s.domain is None  # the model's own domain model is used
    assert s.fraction_out(uq, train_frames) < 0.05
    squeezed = cu_frame(seed=4, scale=0.8)
    assert s.triggered(uq, [squeezed]) and s.fraction_out(uq, [squeezed]) == 1.0
    assert s.triggered(uq, train_frames) == (s.fraction_out(uq, train_frames) > 0)
    assert s.fraction_out(uq, []) == 0.0 and not s.triggered(uq, [])
    frames = [*train_frames[:3], squeezed]
    scores = s.scores(uq, frames, None)
    assert scores[3] > 1 and scores[3] > scores[:3].max()
    # score = max over atoms of T^2 / threshold, as UncertaintyModel.predict reports it
    p = uq.predict(frames, domain=("mahalanobis",))
    ratio = p.domain_scores["mahalanobis"] / uq.domains["mahalanobis"].threshold[0]
    np.testing.assert_allclose(scores, [ratio[p.frame_of_atom == k].max() for k in range(4)], rtol=1e-8)
    assert s.select(uq, frames, n=1, rng=None, threshold=1.0) == [3]
    # without a fitted domain in the model: fit one on the training descriptors, same result
    bare = UncertaintyModel(model, uq.laplace)
    with pytest.raises(ConfigError, match="fit"):
        MahalanobisSelector().scores(bare, frames, None)
    own = MahalanobisSelector(confidence=0.99).fit(bare, train_frames)
    assert own.domain is not None
    np.testing.assert_allclose(own.scores(bare, frames, None), scores, rtol=1e-8)


def test_maxvol_on_trained_model(trained_model, train_frames, emt_files):
    model, _ = load_model(trained_model)
    uq = UncertaintyModel(model)
    s = MaxVolSelector().fit(uq, train_frames)
    assert s.active[0].rank == model.networks.n_hidden + 1  # a trained model: full-rank features
    assert s.grades(uq, train_frames).max() <= 1 + 1e-6
    test = read_frames(emt_files["test"], KeyMap(), require=("energy", "forces"))
    assert np.median(s.grades(uq, test)) < 1  # held-out MD frames mostly interpolate
    scores = s.scores(uq, [test[0], cu_frame(seed=2, scale=0.8)], None)
    assert scores[1] > 10 and scores[1] > 5 * scores[0]


# ---------------------------------------------------------------------- near-duplicates
def test_duplicates_of_the_top_candidate_are_taken_once(committee, candidates):
    top = cu_frame(seed=99, scale=0.75, rattle=0.2)
    pool = [candidates[0], top, candidates[1], top, top, candidates[2], top, top, *candidates[3:]]
    copies = {1, 3, 4, 6, 7}
    s = CommitteeSelector()
    scores = s.scores(committee, pool, None)
    assert np.all(scores[list(copies)] == scores[1]) and scores[1] == scores.max()
    picked = s.select(committee, pool, n=3, rng=None)
    assert picked[0] == 1 and len(picked) == 3 and len(copies & set(picked)) == 1
    # min_separation=0 switches the filter off: the copies come first
    assert s.select(committee, pool, n=3, rng=None, min_separation=0) == [1, 3, 4]
    # random baseline filters too (an absolute separation: the distinct frames are >= 20 apart)
    r = RandomSelector().select(committee, pool, n=len(pool), rng=np.random.default_rng(5), min_separation=1.0)
    assert len(copies & set(r)) == 1 and len(r) == len(pool) - 4
    # the default separation (0.1 x median distance) is relative: it is large here, where the
    # copies and the compressed cells stretch the distances, and merges some neighbouring volumes
    r = RandomSelector().select(committee, pool, n=len(pool), rng=np.random.default_rng(5))
    assert len(copies & set(r)) == 1 and len(r) < len(pool) - 4


def test_greedy_separated_rules():
    fp = np.array([[0.0], [0.05], [1.0], [2.0], [2.02]])
    scores = np.array([5.0, 4.0, 3.0, np.nan, 1.0])
    assert greedy_separated(scores, fp, 5, min_separation=0.5) == [0, 2, 4]
    assert greedy_separated(scores, fp, 5, min_separation=0) == [0, 1, 2, 4, 3]  # NaN last
    assert greedy_separated(scores, fp, 2, threshold=3.5, min_separation=0) == [0, 1]
    assert greedy_separated(scores, fp, 0) == [] and greedy_separated([], None, 3) == []
    # default: 0.1 x median pairwise distance (here 1.0 -> 0.1)
    assert greedy_separated(scores, fp, 5) == [0, 2, 4]
    with pytest.raises(ConfigError):
        greedy_separated(scores, fp, 2, min_separation=-1)


# ---------------------------------------------------------------------------------- random
def test_random_selector_reproducible(committee, candidates):
    s = RandomSelector()
    a = s.select(committee, candidates, n=5, rng=np.random.default_rng(7), min_separation=0)
    b = s.select(committee, candidates, n=5, rng=np.random.default_rng(7), min_separation=0)
    c = s.select(committee, candidates, n=5, rng=np.random.default_rng(8), min_separation=0)
    assert a == b and a != c and len(set(a)) == 5 and set(a) <= set(range(len(candidates)))
    sa = s.scores(committee, candidates, np.random.default_rng(7))
    assert a == np.argsort(-sa)[:5].tolist()
    d = s.select(committee, candidates, n=len(candidates), rng=np.random.default_rng(7), min_separation=1e-3)
    assert sorted(d) == list(range(len(candidates)))  # distinct structures: nothing filtered


# -------------------------------------------------------------------------------- registry
def test_make_selector():
    assert set(SELECTORS) == {"committee", "maxvol", "mahalanobis", "random"}
    with pytest.raises(ConfigError) as err:
        make_selector("nope")
    for name in SELECTORS:
        assert name in str(err.value)
    assert isinstance(make_selector("maxvol", tol=1e-3), MaxVolSelector) and make_selector("maxvol", tol=1e-3).tol == 1e-3
    assert make_selector("mahalanobis", confidence=0.9).confidence == 0.9
    with pytest.raises(ConfigError, match="confidence"):
        make_selector("random", confidence=0.9)

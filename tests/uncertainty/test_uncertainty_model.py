"""Ensembles, the last-layer Laplace posterior, the calculator's uncertainty results, propagation
and the domain monitor, on EMT Cu structures."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.md.verlet import VelocityVerlet

from ridgeline import keys
from ridgeline.data import KeyMap, read_frames
from ridgeline.data.graph import atoms_to_batch
from ridgeline.errors import ConfigError
from ridgeline.models import Ensemble, ForceStressOutput, build_model
from ridgeline.models.io import load_model
from ridgeline.simulate.calculator import Calculator
from ridgeline.uncertainty import (DomainMonitor, OutOfDomain, UncertaintyModel, UncertaintyOptions, confidence_interval,
                                   fit_uncertainty)

CU = [29]


def random_model(seed: int):
    torch.manual_seed(seed)
    return build_model("bpnn", CU, preset="small", cutoff=4.5).double().eval()


def cu_cell(seed=0, scale=1.0):
    atoms = bulk("Cu", "fcc", a=3.6 * scale, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=seed)
    return atoms


@pytest.fixture(scope="module")
def frames(emt_files):
    return read_frames(emt_files["train"], KeyMap(), require=("energy", "forces"))


def test_identical_members_have_zero_spread(tmp_path):
    m = random_model(0)
    uq = UncertaintyModel(Ensemble([m, copy.deepcopy(m), copy.deepcopy(m)]))
    out = uq.predict_batch(atoms_to_batch(cu_cell(), 4.5), domain=())
    assert np.all(out["forces_sigma"] == 0) and np.all(out["energy_sigma"] == 0) and np.all(out["energies_sigma"] == 0)


def test_calculator_sigma_equals_members_spread_by_hand(tmp_path):
    members = [random_model(s) for s in range(3)]
    uq = UncertaintyModel(Ensemble(members), alpha={"energy": 2.0, "forces": 3.0})
    path = tmp_path / "ens.safetensors"
    uq.save(path)
    atoms = cu_cell(seed=3)
    atoms.calc = Calculator(path)
    forces, energy = atoms.get_forces(), atoms.get_potential_energy()
    res = atoms.calc.results

    batch = atoms_to_batch(atoms, 4.5)
    outs = [ForceStressOutput(m)(batch, forces=True) for m in members]
    f = np.stack([o[keys.FORCES].detach().numpy() for o in outs])  # (3, N, 3)
    e = np.array([float(o[keys.ENERGY].detach()) for o in outs])
    np.testing.assert_allclose(forces, f.mean(0), atol=1e-10)
    np.testing.assert_allclose(energy, e.mean(), atol=1e-10)
    np.testing.assert_allclose(res["forces_sigma"], np.sqrt(3.0 * f.var(0, ddof=1).mean(-1)), rtol=1e-8)
    np.testing.assert_allclose(res["energy_sigma"], np.sqrt(2.0 * e.var(ddof=1)), rtol=1e-8)
    assert res["forces_sigma"].shape == (len(atoms),)


def test_ensemble_file_round_trip(tmp_path):
    ens = Ensemble([random_model(s) for s in range(2)])
    UncertaintyModel(ens).save(tmp_path / "e.safetensors")
    loaded, desc = load_model(tmp_path / "e.safetensors")
    assert isinstance(loaded, Ensemble) and len(loaded) == 2 and desc["ensemble_size"] == 2
    batch = atoms_to_batch(cu_cell(), 4.5)
    torch.testing.assert_close(loaded(batch)[keys.ENERGY], ens(batch)[keys.ENERGY])


def test_laplace_variances_by_hand(frames):
    model = random_model(1)
    uq = fit_uncertainty(model, frames, None, UncertaintyOptions(domains=()))
    lap = uq.laplace
    batch = atoms_to_batch(cu_cell(seed=5), 4.5)
    hidden = model(batch, readout=True)[keys.READOUT_FEATURES].detach()
    assert hidden.shape == (len(batch[keys.NUMBERS]), model.networks.n_hidden)
    phi = torch.cat([hidden, torch.ones(len(hidden), 1, dtype=torch.float64)], 1)
    # precision = sum over training atoms of phi phi^T + prior, rebuilt independently
    h_train = torch.cat([model(b, readout=True)[keys.READOUT_FEATURES].detach() for b in
                         [atoms_to_batch(f.to_atoms(), 4.5) for f in frames]])
    design = torch.cat([h_train, torch.ones(len(h_train), 1, dtype=torch.float64)], 1)
    gram = design.T @ design
    prior = lap.relative_prior * torch.trace(gram) / len(gram)
    cov = torch.linalg.inv(gram + prior * torch.eye(len(gram), dtype=torch.float64))
    s = float(model.scale_shift.scale[0])
    res = uq.outputs(batch)
    expected = s**2 * torch.einsum("ni,ij,nj->n", phi, cov, phi)
    torch.testing.assert_close(res["energies_var"], expected, rtol=1e-6, atol=0)
    big_phi = phi.sum(0) * s
    torch.testing.assert_close(res["energy_var"][0], big_phi @ cov @ big_phi, rtol=1e-6, atol=0)
    # training-like environments are less uncertain than a strongly compressed cell
    squeezed = uq.outputs(atoms_to_batch(cu_cell(scale=0.85), 4.5))
    assert squeezed["forces_var"].mean() > 10 * res["forces_var"].mean()


def test_calibration_and_file_round_trip(frames, tmp_path):
    model = random_model(2)
    from ridgeline.uncertainty.calibration import miscalibration_area

    uq = fit_uncertainty(model, frames[::2], frames[1::2], UncertaintyOptions(domains=("mahalanobis", "nearest"), criterion="nll"))
    assert uq.alpha["forces"] > 0 and uq.alpha["energy"] > 0 and uq.alpha["criterion"] == "nll"
    # maximum likelihood: the mean squared normalised force error on the calibration set is 1
    p = uq.predict(frames[1::2], domain=())
    err, sig = p.forces - p.forces_ref, np.repeat(p.forces_sigma[:, None], 3, 1)
    assert ((err / sig) ** 2).mean() == pytest.approx(1.0, rel=1e-6)
    # the default criterion matches the calibration curve at least as well
    uq.calibrate(frames[1::2])
    p = uq.predict(frames[1::2], domain=())
    assert uq.alpha["criterion"] == "area"
    assert miscalibration_area(err, np.repeat(p.forces_sigma[:, None], 3, 1)) <= miscalibration_area(err, sig) + 1e-9
    uq.save(tmp_path / "m.safetensors")
    again = UncertaintyModel.load(tmp_path / "m.safetensors")
    assert again.alpha == uq.alpha and set(again.domains) == {"mahalanobis", "nearest"}
    q = again.predict(frames[1::2], domain=("mahalanobis", "nearest"))
    np.testing.assert_allclose(q.forces_sigma, p.forces_sigma, rtol=1e-10)


def test_propagation_laplace_and_ensemble(frames):
    uq = fit_uncertainty(random_model(3), frames, frames[:5], UncertaintyOptions(domains=()))
    a, b = cu_cell(seed=1), cu_cell(seed=2, scale=1.02)
    single = confidence_interval(uq, lambda E: E[0], [a, b])
    p = uq.predict([type(frames[0]).from_atoms(a)], domain=())
    assert single.sigma == pytest.approx(float(p.energy_sigma[0]), rel=1e-6)
    same = confidence_interval(uq, lambda E: E[1] - E[0], [a, a.copy()])
    assert same.value == pytest.approx(0.0, abs=1e-9) and same.sigma == pytest.approx(0.0, abs=1e-9 * single.sigma + 1e-12)

    ens = UncertaintyModel(Ensemble([random_model(s) for s in range(4)]), alpha={"energy": 1.0, "forces": 1.0})
    barrier = confidence_interval(ens, lambda E: E[1] - E[0], [a, b], confidence=0.95)
    assert barrier.sigma == pytest.approx(float(np.std(barrier.members, ddof=1)), rel=1e-8)
    assert barrier.lower < barrier.value < barrier.upper
    assert barrier.upper - barrier.value == pytest.approx(1.959964 * barrier.sigma, rel=1e-5)


@pytest.mark.parametrize("kind", ["laplace", "ensemble"])
def test_sampled_propagation_keeps_what_linearisation_loses(frames, kind):
    """Energies drawn from the same covariance the linearisation uses: on a linear observable the
    two intervals agree; on exp(c dE) the sampled one is the log-normal's (ln of it is linear in
    the energies, so its quantiles are exp(c (dE +- z sigma_dE))) and stays positive where the
    linear one goes below zero."""
    if kind == "laplace":
        uq = fit_uncertainty(random_model(3), frames, frames[:5], UncertaintyOptions(domains=()))
    else:
        uq = UncertaintyModel(Ensemble([random_model(s) for s in range(4)]), alpha={"energy": 1.5, "forces": 1.0})
    a, b = cu_cell(seed=1), cu_cell(seed=2, scale=1.02)
    linear = confidence_interval(uq, lambda E: E[1] - E[0], [a, b])
    sampled = confidence_interval(uq, lambda E: E[1] - E[0], [a, b], method="sampled", samples=20000)
    assert sampled.method == "sampled" and sampled.value == pytest.approx(linear.value, rel=1e-9)
    assert sampled.sigma == pytest.approx(linear.sigma, rel=0.03)
    assert sampled.upper - sampled.lower == pytest.approx(linear.upper - linear.lower, rel=0.04)
    c = 3.0 / linear.sigma  # a rate-like observable whose linear interval goes negative
    rate = confidence_interval(uq, lambda E: torch.exp(c * (E[1] - E[0])), [a, b], method="sampled", samples=20000)
    linear_rate = confidence_interval(uq, lambda E: torch.exp(c * (E[1] - E[0])), [a, b])
    assert linear_rate.lower < 0 < rate.lower < rate.value < rate.upper
    assert np.log(rate.lower) == pytest.approx(c * (linear.value - 1.959964 * linear.sigma), abs=0.15)
    assert np.log(rate.upper) == pytest.approx(c * (linear.value + 1.959964 * linear.sigma), abs=0.15)
    with pytest.raises(ValueError, match="method"):
        confidence_interval(uq, lambda E: E[0], [a], method="quadrature")


def test_calculator_domain_flags_and_monitor(trained_model, frames, tmp_path):
    model, desc = load_model(trained_model)
    uq = fit_uncertainty(model, frames, frames[:6], UncertaintyOptions(domains=("mahalanobis",), confidence=0.999), description=desc)
    path = tmp_path / "cal.safetensors"
    uq.save(path)
    calc = Calculator(path, dtype="float64")
    # training environments: few atoms flagged
    flagged = []
    for f in frames[:10]:
        atoms = f.to_atoms()
        atoms.calc = calc
        atoms.get_forces()
        flagged.append(calc.results["out_of_domain"])
    assert np.concatenate(flagged).mean() < 0.05
    # a cell squeezed by 15%: every atom far outside, MD stops at the first check
    atoms = cu_cell(scale=0.85)
    atoms.calc = calc
    dyn = VelocityVerlet(atoms, timestep=1.0 * 0.09822694788464063)
    monitor = DomainMonitor(atoms, action="stop", dynamics=dyn)
    dyn.attach(monitor, interval=1)
    with pytest.raises(OutOfDomain) as err:
        dyn.run(5)
    assert len(err.value.event.atoms_out) == len(atoms) and monitor.events[0].step == 0
    # action="flag" records and goes on
    atoms2 = cu_cell(scale=0.85)
    atoms2.calc = calc
    dyn2 = VelocityVerlet(atoms2, timestep=0.1)
    flagger = DomainMonitor(atoms2, action="flag", dynamics=dyn2)
    dyn2.attach(flagger, interval=2)
    dyn2.run(4)
    assert len(flagger.events) == 3


def test_calculator_without_uncertainty_data_is_plain(trained_model):
    calc = Calculator(trained_model)
    atoms = cu_cell()
    atoms.calc = calc
    atoms.get_forces()
    assert calc.uq is None and "forces_sigma" not in calc.results


def _feature_jacobian(model, batch):
    """d(sum_i h_i)/dr by torch.autograd.functional.jacobian: (H, N, 3)."""
    pos0 = batch[keys.POSITIONS].detach()

    def total_hidden(pos):
        return model({**batch, keys.POSITIONS: pos}, readout=True)[keys.READOUT_FEATURES].sum(0)

    return torch.autograd.functional.jacobian(total_hidden, pos0)


def test_linearised_force_variance_by_hand(frames, tmp_path):
    model = random_model(4)
    H = model.networks.n_hidden
    uq = fit_uncertainty(model, frames, None, UncertaintyOptions(domains=(), force_variance="linearised", force_rank=H))
    lap = uq.laplace
    assert lap.force_weight == 1.0 and lap.params()["force_variance"] == "linearised"
    # the posterior: training atoms' phi phi^T plus the training force components' g g^T, rebuilt by hand
    gram = torch.zeros(H + 1, H + 1, dtype=torch.float64)
    for f in frames:
        b = atoms_to_batch(f.to_atoms(), 4.5)
        h = model(b, readout=True)[keys.READOUT_FEATURES].detach()
        phi = torch.cat([h, torch.ones(len(h), 1, dtype=torch.float64)], 1)
        g = _feature_jacobian(model, b).reshape(H, -1)
        gram += phi.T @ phi
        gram[:H, :H] += g @ g.T
    prior = lap.relative_prior * torch.trace(gram) / len(gram)
    cov = torch.linalg.inv(gram + prior * torch.eye(H + 1, dtype=torch.float64))
    torch.testing.assert_close(lap.covariance[0], cov, rtol=1e-6, atol=1e-12 * float(cov.abs().max()))

    batch = atoms_to_batch(cu_cell(seed=6), 4.5)
    s = float(model.scale_shift.scale[0])
    g = _feature_jacobian(model, batch)  # (H, N, 3)
    expected = s**2 * torch.einsum("hnc,hk,knc->nc", g, cov[:H, :H], g).mean(-1)
    res = uq.outputs(batch)
    torch.testing.assert_close(res["forces_var"], expected, rtol=1e-6, atol=0)
    # the same by sampling last-layer weights from the posterior: the spread of the forces
    net = model.networks.networks[0][-1]
    w0 = torch.cat([net.weight.detach()[0], net.bias.detach()])
    z = torch.distributions.MultivariateNormal(w0, covariance_matrix=cov).sample((400,))
    forces = []
    for w in z:
        with torch.no_grad():
            net.weight[0], net.bias[0] = w[:H], w[H]
        forces.append(ForceStressOutput(model)(batch, forces=True)[keys.FORCES].detach())
    with torch.no_grad():
        net.weight[0], net.bias[0] = w0[:H], w0[H]
    sampled = torch.stack(forces).var(0).mean(-1)
    assert float(sampled.mean() / expected.mean()) == pytest.approx(1.0, abs=0.1)
    assert float(torch.corrcoef(torch.stack([sampled, expected]))[0, 1]) > 0.9
    # truncated to k directions: g^T (sum_k lambda_k u_k u_k^T) g, never more than the full variance
    lam, u = torch.linalg.eigh(lap.covariance[0][:H, :H])
    lap.force_rank = 3
    lap._directions()
    low = (u[:, -3:] * lam[-3:]) @ u[:, -3:].T
    truncated = uq.outputs(batch)["forces_var"]
    torch.testing.assert_close(truncated, s**2 * torch.einsum("hnc,hk,knc->nc", g, low, g).mean(-1), rtol=1e-6, atol=0)
    assert bool((truncated <= expected * (1 + 1e-9)).all())
    # the method and its posterior travel with the file
    uq.save(tmp_path / "lin.safetensors")
    again = UncertaintyModel.load(tmp_path / "lin.safetensors")
    assert again.laplace.params() == lap.params()
    torch.testing.assert_close(again.outputs(batch)["forces_var"], truncated)


def test_linearised_force_variance_vanishes_by_symmetry(frames):
    """A perfect crystal has zero forces for any weights: zero linearised and directional
    variance, unlike the proxy."""
    model = random_model(5)
    lin = fit_uncertainty(model, frames, None, UncertaintyOptions(domains=(), force_variance="linearised"))
    directional = fit_uncertainty(model, frames, None, UncertaintyOptions(domains=()))
    proxy = copy.deepcopy(directional)
    proxy.laplace.force_variance = "proxy"  # as a file calibrated before the proxy was retired
    with pytest.raises(ConfigError, match="'proxy' was retired"):
        fit_uncertainty(model, frames, None, UncertaintyOptions(domains=(), force_variance="proxy"))
    assert directional.laplace.force_variance == "directional"  # the default
    perfect = atoms_to_batch(bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 2)), 4.5)
    rattled = atoms_to_batch(cu_cell(seed=7), 4.5)
    for uq in (lin, directional):
        assert float(uq.outputs(perfect)["forces_var"].max()) < 1e-12 * float(uq.outputs(rattled)["forces_var"].mean())
    assert float(proxy.outputs(perfect)["forces_var"].min()) > 0.1 * float(proxy.outputs(rattled)["forces_var"].mean())
    # energies and stress come out as with the proxy
    a, b = lin.predict_batch(perfect, stress=True, domain=()), proxy.predict_batch(perfect, stress=True, domain=())
    np.testing.assert_allclose(a["forces"], b["forces"])
    np.testing.assert_allclose(a["stress"], b["stress"])
    np.testing.assert_allclose(a["energy"], b["energy"])


def test_calibration_floor_and_old_alpha(frames, tmp_path):
    model = random_model(6)
    plain = fit_uncertainty(model, frames[::2], frames[1::2], UncertaintyOptions(domains=(), force_variance="linearised"))
    assert plain.alpha["forces_floor"] == 0.0 and plain.alpha["forces_power"] == 1.0  # a scale unless asked
    uq = fit_uncertainty(model, frames[::2], frames[1::2],
                         UncertaintyOptions(domains=(), force_variance="linearised", floor=True, power=True))
    a = uq.alpha
    assert a["criterion"] == "area" and a["forces_floor"] >= 0 and a["forces_power"] > 0
    p = uq.predict(frames[1::2], domain=())
    np.testing.assert_allclose(p.forces_sigma, np.sqrt(a["forces"] * p.forces_sigma_raw ** (2 * a["forces_power"]) + a["forces_floor"] ** 2))
    # a file whose alpha has only the two scales (written before the map existed) reads as a plain scale
    old = UncertaintyModel(model, uq.laplace, {"energy": 2.0, "forces": 3.0})
    assert old.alpha["forces_power"] == 1.0 and old.alpha["forces_floor"] == 0.0
    np.testing.assert_allclose(old.predict(frames[1::2], domain=()).forces_sigma, np.sqrt(3.0) * p.forces_sigma_raw)
    # a posterior written before the linearised variance existed: the proxy, no force observations
    from ridgeline.uncertainty.laplace import LastLayerLaplace

    arrays = {k: v for k, v in uq.laplace.to_arrays().items() if k != "force_gram"}
    from ridgeline.models.upgrade import upgrade_description

    stored = {"format_version": 1, "uncertainty": {"laplace": {"n_elements": 1, "n_hidden": uq.laplace.n_hidden, "relative_prior": 1e-4}}}
    params = upgrade_description(stored, [])["uncertainty"]["laplace"]  # as a model file's loading completes them
    legacy = LastLayerLaplace.from_arrays(arrays, params)
    assert legacy.force_variance == "proxy" and legacy.force_weight == 0.0 and float(legacy.force_gram.abs().sum()) == 0.0


def test_directional_force_variance_by_hand(frames):
    """|sum_b f_c(r_ab) / r_ab^2 (s_a + s_b)/2 u_ab|^2 / 3 from the atomic-energy sigmas, rebuilt with ASE's
    neighbour list; invariant under rotation; large on a one-sided (surface) environment."""
    from ase.neighborlist import neighbor_list

    from ridgeline.nn.cutoff import PolynomialCutoff

    model = random_model(8)
    uq = fit_uncertainty(model, frames, None, UncertaintyOptions(domains=()))
    atoms = cu_cell(seed=9)
    res = uq.outputs(atoms_to_batch(atoms, 4.5))
    s = res["energies_var"].double().sqrt().numpy()
    i, j, d, D = neighbor_list("ijdD", atoms, 4.5)
    w = PolynomialCutoff(4.5)(torch.as_tensor(d)).numpy() / d**2 * 0.5 * (s[i] + s[j])
    vec = np.zeros((len(atoms), 3))
    np.add.at(vec, i, w[:, None] * D / d[:, None])
    np.testing.assert_allclose(res["forces_var"].numpy(), (vec**2).sum(1) / 3, rtol=1e-8)
    rotated = atoms.copy()
    rotated.rotate(37, (1, 2, 3), rotate_cell=True)
    np.testing.assert_allclose(uq.outputs(atoms_to_batch(rotated, 4.5))["forces_var"].numpy(), res["forces_var"].numpy(), rtol=1e-6)
    slab = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 3))
    slab.center(vacuum=6.0, axis=2)
    slab.pbc = (True, True, False)
    var = uq.outputs(atoms_to_batch(slab, 4.5))["forces_var"].numpy()
    z = slab.positions[:, 2]
    surface, inner = np.abs(z - z.max()) < 0.1, np.abs(z - np.median(z)) < 1.0
    assert var[surface].min() > 20 * var[inner].max()


def test_domain_scores_run_with_one_blas_thread(frames, monkeypatch):
    """numpy's BLAS threads, left spinning by the domain scores' products, slowed torch's next
    forward pass 2x: the scores run with one BLAS thread, and the limit ends with the call."""
    from threadpoolctl import threadpool_info

    uq = fit_uncertainty(Ensemble([random_model(s) for s in range(2)]), frames[:6], frames[6:10],
                         UncertaintyOptions(domains=("mahalanobis",)))
    seen = []
    score = type(uq.domains["mahalanobis"]).score
    monkeypatch.setattr(type(uq.domains["mahalanobis"]), "score",
                        lambda self, *a: seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]) or score(self, *a))
    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    out = uq.predict_batch(atoms_to_batch(cu_cell(), uq.cutoff, dtype=torch.float64), domain=("mahalanobis",))
    assert seen and all(n == 1 for n in seen[0])
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before
    assert np.isfinite(out["domain_mahalanobis"]).all()


def test_mahalanobis_domain_holds_its_rate_on_held_out_emt_data(trained_model):
    """A trained model's default domain, fitted on part of an EMT Cu data set (MD at 300, 800 and
    1400 K, strained cells, a vacancy), flags about the nominal fraction of the atoms of the other
    part (the same distribution); the chi^2 threshold of Gaussian features flags several times
    more at 0.999."""
    from scipy import stats

    from ridgeline.data import Frame
    from ridgeline.reference.emt_dataset import emt_dataset

    model, _ = load_model(trained_model)
    frames = [Frame.from_atoms(a) for a in emt_dataset("Cu", n_md=24, seed=3)]
    fit_part, held_out = frames[::2], frames[1::2]
    for confidence, bound in ((0.99, 0.025), (0.999, 0.004)):
        uq = fit_uncertainty(model, fit_part, None, UncertaintyOptions(domains=("mahalanobis",), confidence=confidence))
        p = uq.predict(held_out, domain=("mahalanobis",))
        rate = p.domain_flags["mahalanobis"].mean()
        chi2 = stats.chi2.ppf(confidence, df=uq.domains["mahalanobis"].n_features)
        chi2_rate = (p.domain_scores["mahalanobis"] > chi2).mean()
        assert rate <= bound, (confidence, rate, chi2_rate)
        if confidence == 0.999:  # 0.13% against 0.72%
            assert chi2_rate > 4 * (1 - confidence) and chi2_rate > 3 * rate


def test_calculator_gives_the_force_distribution_and_intervals(frames, tmp_path):
    """After --tails the force sigma belongs to a Student t: the results say so (forces_nu) and
    give interval half-widths at a requested level, the t quantile times sigma."""
    from scipy import stats

    uq = fit_uncertainty(random_model(7), frames, None, UncertaintyOptions(domains=()))
    uq.alpha.update(forces=2.0, forces_nu=4.0)
    student, gaussian = tmp_path / "t.safetensors", tmp_path / "gauss.safetensors"
    uq.save(student)
    uq.alpha["forces_nu"] = None
    uq.save(gaussian)
    atoms = cu_cell(seed=4)
    atoms.calc = Calculator(student, interval_level=0.9)
    atoms.get_forces()
    r = atoms.calc.results
    assert r["forces_nu"] == 4.0 and r["forces_sigma"].shape == r["forces_interval"].shape == (len(atoms),)
    unit_t = stats.t(4.0).ppf(0.95) * np.sqrt((4.0 - 2.0) / 4.0)  # the t of unit standard deviation
    np.testing.assert_allclose(r["forces_interval"], unit_t * r["forces_sigma"], rtol=1e-12)
    assert r["energy_interval"] == pytest.approx(stats.norm.ppf(0.95) * r["energy_sigma"], rel=1e-12)
    atoms.calc = Calculator(gaussian, interval_level=0.9)
    atoms.get_forces()
    r = atoms.calc.results
    assert r["forces_nu"] == np.inf
    np.testing.assert_allclose(r["forces_interval"], stats.norm.ppf(0.95) * r["forces_sigma"], rtol=1e-12)
    atoms.calc = Calculator(gaussian)  # no level asked: no intervals
    atoms.get_forces()
    assert "forces_interval" not in atoms.calc.results and atoms.calc.results["forces_nu"] == np.inf
    with pytest.raises(ConfigError, match="interval_level"):
        Calculator(gaussian, interval_level=95)
    with pytest.raises(ConfigError, match="interval_level"):
        Calculator(gaussian, uncertainty=False, interval_level=0.9)

"""Mean-field microkinetics against closed forms: competitive Langmuir adsorption, the steady state
of an adsorption-reaction-desorption cycle (its TOF, its degrees of rate control, its sampled
interval against Monte Carlo of the closed form), a CO-poisoned surface whose sparse coverages
must keep their own balances, and bad networks refused with the step or species named."""

import numpy as np
import pytest

from ridgeline.errors import ConfigError
from ridgeline.properties.microkinetics import MicrokineticModel
from ridgeline.properties.rates import KB
from ridgeline.properties.turnover import microkinetic_analysis

SIGMAS = (0.05, 0.1, 0.05)


def cycle(barriers=(0.2, 0.8, 0.7), energies=(-0.3, -0.1, 0.2), sigmas=SIGMAS, covariance=None, product_pressure=0.0):
    """A + * <-> A*, A* <-> B*, B* <-> B + *, A at 2 bar (B at none: the last step runs forward only)."""
    reactions = ("A + * -> A*", "A* -> B*", "B* -> B + *")
    steps = [{"name": name, "reaction": r, "barrier": b, "reaction_energy": e}
             for name, r, b, e in zip(("adsorption", "reaction", "desorption"), reactions, barriers, energies)]
    if covariance is None:
        for step, s in zip(steps, sigmas):
            step["sigma"] = s
    network = {"gas": {"A": 2.0, "B": product_pressure}, "adsorbates": ["A*", "B*"], "product": "B", "steps": steps}
    if covariance is not None:
        network["covariance"] = covariance
    return MicrokineticModel.from_dict(network)


def cycle_tof(kf, kb, pressure=2.0, product_pressure=0.0):
    """The closed form of a three-state cycle (King & Altman; the matrix-tree theorem): forward
    pseudo-first-order rate constants a_i, backward b_i, J = (a1 a2 a3 - b1 b2 b3) / sum of the
    nine products of the spanning trees."""
    a1, a2, a3 = kf[..., 0] * pressure, kf[..., 1], kf[..., 2]
    b1, b2, b3 = kb[..., 0], kb[..., 1], kb[..., 2] * product_pressure
    trees = a2 * a3 + a3 * b1 + b1 * b2 + a1 * a3 + a1 * b2 + b2 * b3 + a1 * a2 + a2 * b3 + b1 * b3
    return (a1 * a2 * a3 - b1 * b2 * b3) / trees


def test_competitive_langmuir_adsorption():
    network = {"gas": {"A": 0.1, "B": 0.3}, "adsorbates": ["A*", "B*"], "product": "A",
               "steps": [{"name": "a", "reaction": "A + * -> A*", "barrier": 0.1, "reaction_energy": -0.2},
                         {"name": "b", "reaction": "B + * <-> B*", "barrier": 0.3, "backward_barrier": 0.4}]}
    model = MicrokineticModel.from_dict(network)
    for t in (300.0, 600.0):
        state = model.steady_state(t)
        ka, kb = np.exp(0.2 / (KB * t)) * 0.1, np.exp(0.1 / (KB * t)) * 0.3
        want = np.array([ka, kb, 1.0]) / (1 + ka + kb)
        np.testing.assert_allclose(list(state.coverages.values()), want, rtol=1e-10)
    assert state.tof == 0.0  # the balance of A* makes the net adsorption of A vanish exactly
    result = microkinetic_analysis(model, [300.0])  # equilibrium: no turnover to control
    assert result.degree_of_rate_control is None and result.lower is None
    assert any("not positive" in w for w in result.warnings)


def test_cycle_steady_state_is_the_closed_form():
    model = cycle()
    for t in (350.0, 500.0, 800.0):
        state = model.steady_state(t)
        kf, kb = model.rate_constants(t)
        assert state.tof == pytest.approx(cycle_tof(kf, kb), rel=1e-9)
        np.testing.assert_allclose(list(state.net_rates.values()), state.tof, rtol=1e-8)  # one flux through the cycle
        assert sum(state.coverages.values()) == pytest.approx(1.0, abs=1e-12) and state.residual < 1e-10


def test_a_product_desorbing_in_quasi_equilibrium():
    """B desorbs 1e16 times faster than it forms and sits in the gas at 0.5 bar: the net
    desorption rate is a difference of two nearly equal rates, so the TOF is summed over the
    slow step instead, and it and the degrees of rate control keep their digits."""
    model = cycle(barriers=(0.2, 1.2, 0.05), energies=(-0.3, -0.5, 0.02), product_pressure=0.5)
    state = model.steady_state(350.0)
    kf, kb = model.rate_constants(350.0)
    assert kf[2] > 1e16 * state.tof
    assert state.tof == pytest.approx(cycle_tof(kf, kb, product_pressure=0.5), rel=1e-9)
    np.testing.assert_array_equal(state.tof_coefficients, [0.0, 1.0, 0.0])
    assert model.degree_of_rate_control(350.0, state) == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)


def closed_form_drc(model, t, step=1e-4):
    """d ln J / d ln k_i of :func:`cycle_tof` (B at no pressure) by central differences."""
    kf, kb = model.rate_constants(t)
    out = []
    for i in range(3):
        scale = np.ones(3)
        scale[i] = np.exp(step)
        up = np.log(cycle_tof(kf * scale, kb * scale))
        scale[i] = np.exp(-step)
        out.append((up - np.log(cycle_tof(kf * scale, kb * scale))) / (2 * step))
    return np.array(out)


def test_degree_of_rate_control():
    model = cycle()
    x = model.degree_of_rate_control(500.0)
    assert x.sum() == pytest.approx(1.0, abs=1e-6)  # Campbell's sum rule
    np.testing.assert_allclose(x, closed_form_drc(model, 500.0), atol=1e-6)
    assert 0.05 < x.max() < 0.95  # two steps share the control here
    slow = cycle(barriers=(0.2, 1.3, 0.4))  # the surface reaction alone limits the rate
    x = slow.degree_of_rate_control(500.0)
    assert x[1] == pytest.approx(1.0, abs=1e-3) and abs(x[0]) < 1e-3 and abs(x[2]) < 1e-3


def test_sampled_interval_against_monte_carlo_of_the_closed_form():
    """The barrier draws pushed through the steady-state solve give the quantiles of ln TOF that
    independent draws of the closed form give; the linearised sigma is its gradient's."""
    model, t, confidence = cycle(), np.array([450.0, 600.0]), 0.9
    result = microkinetic_analysis(model, t, confidence=confidence, samples=1500, seed=0)
    assert np.all(result.lower > 0) and np.all(result.lower < result.tof) and np.all(result.tof < result.upper)
    shifts = np.random.default_rng(12345).normal(0.0, SIGMAS, size=(40000, 3))
    for k, temp in enumerate(t):
        kf, kb = model.rate_constants(temp)
        factor = np.exp(-shifts / (KB * temp))
        logs = np.log(cycle_tof(kf * factor, kb * factor))
        low, high = np.quantile(logs, [0.05, 0.95])
        spread = logs.std()
        assert np.log(result.lower[k]) == pytest.approx(low, abs=0.12 * spread)
        assert np.log(result.upper[k]) == pytest.approx(high, abs=0.12 * spread)
        assert result.sampled_sigma_ln_tof[k] == pytest.approx(spread, rel=0.08)
        gradient = -closed_form_drc(model, temp) / (KB * temp)
        assert result.sigma_ln_tof[k] == pytest.approx(np.sqrt(np.sum((gradient * SIGMAS) ** 2)), rel=1e-5)
    assert result.estimates()["tof_450K"].lower == pytest.approx(result.lower[0])


def test_a_covariance_replaces_the_sigmas():
    covariance = [[0.0025, 0.002, 0.0], [0.002, 0.01, -0.003], [0.0, -0.003, 0.0025]]
    model = cycle(covariance=covariance)
    result = microkinetic_analysis(model, [500.0], samples=50)
    gradient = -closed_form_drc(model, 500.0) / (KB * 500.0)
    assert result.sigma_ln_tof[0] == pytest.approx(np.sqrt(gradient @ np.array(covariance) @ gradient), rel=1e-5)


def test_a_poisoned_surface_keeps_its_sparse_coverages():
    """CO covers all but 1e-24 of the sites at 300 K; the free sites and O* (1e-37) must still
    satisfy their own balances, each to its own relative precision, and give the TOF."""
    model = MicrokineticModel.from_dict({
        "gas": {"CO": 1.0, "O2": 0.5, "CO2": 0.0}, "adsorbates": ["CO*", "O*"], "product": "CO2",
        "steps": [{"name": "CO_adsorption", "reaction": "CO + * -> CO*", "barrier": 0.0, "reaction_energy": -1.4},
                  {"name": "O2_dissociation", "reaction": "O2 + 2* -> 2O*", "barrier": 0.3, "backward_barrier": 2.3},
                  {"name": "oxidation", "reaction": "CO* + O* -> CO2 + 2*", "barrier": 0.9, "reaction_energy": -0.5}]})
    state = model.steady_state(300.0)
    kf, kb = model.rate_constants(300.0)
    co, o, free = state.coverages["CO*"], state.coverages["O*"], state.coverages["*"]
    assert co == pytest.approx(1.0) and 0 < free < 1e-20 and 0 < o < 1e-30
    assert free == pytest.approx(co * kb[0] / kf[0], rel=1e-6)  # CO adsorption in equilibrium
    assert 2 * kf[1] * 0.5 * free**2 == pytest.approx(kf[2] * co * o, rel=1e-6)  # O* formed = O* consumed
    assert state.tof == pytest.approx(kf[2] * co * o, rel=1e-6)
    assert model.degree_of_rate_control(300.0) == pytest.approx([0.0, 1.0, 0.0], abs=1e-4)


def network(**changes):
    data = {"gas": {"A": 1.0, "B": 0.0}, "adsorbates": ["A*"], "product": "B",
            "steps": [{"name": "ads", "reaction": "A + * -> A*", "barrier": 0.1, "reaction_energy": -0.2},
                      {"name": "conv", "reaction": "A* -> B + *", "barrier": 0.9, "reaction_energy": 0.1}]}
    data.update(changes)
    return data


def step(**changes):
    return {"name": "conv", "reaction": "A* -> B + *", "barrier": 0.9, "reaction_energy": 0.1, **changes}


@pytest.mark.parametrize("changes, message", [
    ({"steps": [network()["steps"][0], step(reaction="A* -> C + *")]}, r"steps\[1\] \(conv\): unknown species 'C'"),
    ({"steps": [network()["steps"][0], step(reaction="A* -> B")]}, "step 'conv': unbalanced sites, 1 on the left and 0"),
    ({"steps": [network()["steps"][0], step(reaction="2A* -> B + *")]}, "step 'conv': unbalanced sites, 2"),
    ({"gas": {"A": -1.0, "B": 0.0}}, "gas 'A': the pressure must be zero or positive"),
    ({"steps": [network()["steps"][0], step(barrier=0.05)]}, r"conv\): barriers must not be negative.*backward -0.05"),
    ({"steps": [network()["steps"][0], step(backward_barrier=0.8)]}, "give one of reaction_energy and backward_barrier"),
    ({"steps": [network()["steps"][0], step(sigma=0.1, temperature=5)]}, "unknown key.*temperature"),
    ({"steps": [network()["steps"][0], step(name="ads")]}, "step name.*ads.*more than once"),
    ({"product": "A*"}, "product 'A\\*': must be a gas species"),
    ({"adsorbates": ["A*", "C*"]}, "adsorbate 'C\\*' appears in no step"),
    ({"pressure": 1.0}, "unknown key.*pressure; valid keys: gas"),
    ({"covariance": [[0.01, 0.0]]}, "covariance: expected a symmetric 2 x 2"),
    ({"covariance": [[0.01, 0.02], [0.02, 0.01]]}, "covariance: not positive semi-definite"),
    ({"steps": [network()["steps"][0], step(sigma=0.1)], "covariance": [[0.01, 0], [0, 0.01]]}, "not both"),
])
def test_bad_networks_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        MicrokineticModel.from_dict(network(**changes))


def test_plot_and_json(tmp_path):
    result = microkinetic_analysis(cycle(), [400.0, 500.0], samples=40)
    result.plot(tmp_path / "mk.png")
    assert (tmp_path / "mk.png").read_bytes()[:4] == b"\x89PNG"
    data = result.to_dict()
    assert data["steps"] == ["adsorption", "reaction", "desorption"] and len(data["lower"]) == 2
    assert result.apparent_activation_energy > 0

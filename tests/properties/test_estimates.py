"""Property intervals: linearised energies, posterior draws, domain flags."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from ridgeline.errors import ConfigError
from ridgeline.properties.estimates import DRAWS, LINEARISED, Uncertainty
from ridgeline.simulate.calculator import Calculator


def vacancy_pair():
    bulk_cell = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2)
    defect = bulk_cell.copy()
    del defect[0]
    return bulk_cell, defect


def formation(E):  # E_def - (N-1)/N E_bulk with N = 32
    return E[1] - 31 / 32 * E[0]


def energies(structures, calc) -> np.ndarray:
    out = []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = calc
        out.append(atoms.get_potential_energy())
    return np.array(out)


def test_laplace_draws_agree_with_the_linearised_interval(calibrated_model):
    """An energy observable's sigma from 200 last-layer draws matches the exact linearisation:
    the draws sample the same Gaussian posterior the linearisation propagates."""
    calc = Calculator(calibrated_model)
    unc = Uncertainty(calc, draws=200, seed=3)
    structures = vacancy_pair()
    lin = unc.energies(formation, structures, "eV")
    assert lin.method == LINEARISED and lin.sigma > 0 and lin.lower < lin.value < lin.upper
    assert lin.upper - lin.value == pytest.approx(1.959964 * lin.sigma, rel=1e-5)

    def observable(c):
        return {"ef": formation(energies(structures, c))}

    sigma = unc.draw_sigmas(observable)["ef"]
    assert sigma == pytest.approx(lin.sigma, rel=0.2)
    # the draws differ from each other and from the model, and are reproducible by seed
    draws = unc.posterior_calculators()
    e = [observable(c)["ef"] for c in draws[:3]]
    assert len(set(np.round(e, 12))) == 3
    again = Uncertainty(calc, draws=200, seed=3).posterior_calculators()[0]
    assert observable(again)["ef"] == pytest.approx(e[0], abs=1e-12)


def test_committee_draws_are_its_members(ensemble_file):
    calc = Calculator(ensemble_file)
    unc = Uncertainty(calc)
    assert len(unc.posterior_calculators()) == 2
    structures = vacancy_pair()
    lin = unc.energies(formation, structures, "eV")

    def observable(c):
        return {"ef": formation(energies(structures, c))}

    # for a committee both routes are the members' spread (alpha 2 applied once)
    assert unc.draw_sigmas(observable)["ef"] == pytest.approx(lin.sigma, rel=1e-6)
    est = unc.estimate(1.0, "eV", 0.1, DRAWS)
    assert est.ci == pytest.approx([1 - 0.196, 1 + 0.196], abs=1e-3) and est.contains(1.1) and not est.contains(1.3)


def test_a_calculator_without_uncertainty_gives_no_interval():
    unc = Uncertainty(EMT())
    assert not unc.available and unc.out_of_domain([bulk("Cu")]) is None
    est = unc.energies(formation, vacancy_pair(), "eV", value=1.2)
    assert est.sigma is None and est.ci is None and est.contains(1.2) is None
    assert unc.draw_sigmas(lambda c: {"x": 1.0}) is None
    with pytest.raises(ConfigError, match="needs the value"):
        unc.energies(formation, vacancy_pair(), "eV")
    with pytest.raises(ConfigError, match="confidence"):
        Uncertainty(EMT(), confidence=1.5)


def test_out_of_domain_flags_a_compressed_crystal(calibrated_model):
    unc = Uncertainty(Calculator(calibrated_model))
    assert unc.out_of_domain([bulk("Cu", "fcc", a=3.61, cubic=True)]) is False
    assert unc.out_of_domain([bulk("Cu", "fcc", a=2.9, cubic=True)]) is True

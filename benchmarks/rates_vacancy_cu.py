"""The vacancy hop in Cu: the NEB barrier, the harmonic-TST rate and its confidence interval from a
calibrated ridgeline model, against EMT (the model's reference) through the same workflow.

The model is the ``extended`` Cu model of ``benchmarks/properties_cu_emt.py`` (trained on EMT
labels, last-layer Laplace calibrated; cached in cache/properties_cu_emt, trained there if missing).
For each calculator: ``properties.migration.vacancy_migration`` (climbing-image NEB in a 3x3x3
cubic cell, 107 atoms), then ``properties.rates.harmonic_rate`` from the relaxed minimum and the
climbing image (Vineyard prefactor from the two Hessians, the model's exact ones, EMT's by finite
differences) at 300-1200 K. The model's barrier sigma gives the rate's log-normal interval; the
linear interval k ± z sigma_k of the same sigma is printed beside it to show where it goes negative.

Figures: barrier, prefactor and rates of each; whether EMT's barrier and rates fall inside the
model's intervals. Writes results/rates_vacancy_cu.{json,md,png}.
``python benchmarks/rates_vacancy_cu.py`` (a few minutes with the model cached).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import CACHE, RESULTS, machine, write_results  # noqa: E402

TEMPERATURES = [300.0, 450.0, 600.0, 900.0, 1200.0]


def hop(calculator, uncertainty, label: str) -> dict:
    from ase.build import bulk

    from ridgeline.properties.migration import vacancy_migration
    from ridgeline.properties.rates import harmonic_rate

    t0 = time.perf_counter()
    path = vacancy_migration(bulk("Cu", "fcc", a=3.61, cubic=True), calculator, supercell=(3, 3, 3), images=5,
                             fmax=0.01, steps=800, uncertainty=uncertainty)
    neb_seconds = time.perf_counter() - t0
    minimum, saddle = path.images[0].copy(), path.images[path.highest_image].copy()
    t0 = time.perf_counter()
    rate = harmonic_rate(minimum, saddle, calculator, TEMPERATURES, uncertainty=uncertainty)
    return {"label": label, "path": path, "rate": rate, "neb_seconds": neb_seconds,
            "rate_seconds": time.perf_counter() - t0}


def main() -> None:
    from ase.calculators.emt import EMT

    from ridgeline.analysis.results import jsonable
    from ridgeline.properties.estimates import Uncertainty
    from ridgeline.properties.rates import KB
    from ridgeline.simulate.calculator import Calculator

    model_path = CACHE / "properties_cu_emt" / "extended" / "calibrated.safetensors"
    if not model_path.exists():
        subprocess.run([sys.executable, str(HERE / "properties_cu_emt.py"), "--variants", "extended"], check=True)
    calc = Calculator(str(model_path))
    model = hop(calc.without_uncertainty(), Uncertainty(calc), "model")
    emt = hop(EMT(), Uncertainty(EMT()), "EMT")
    r_model, r_emt = model["rate"], emt["rate"]
    barrier = r_model.barrier
    sigma_k = r_model.classical * barrier.sigma / (KB * r_model.temperatures)  # the linearised sigma of k
    z = 1.959963984540054
    rows = []
    for i, t in enumerate(r_model.temperatures):
        rows.append({"temperature": float(t), "model": float(r_model.classical[i]), "lower": float(r_model.lower[i]),
                     "upper": float(r_model.upper[i]), "linear_lower": float(r_model.classical[i] - z * sigma_k[i]),
                     "emt": float(r_emt.classical[i]), "emt_quantum": float(r_emt.quantum[i]),
                     "model_quantum": float(r_model.quantum[i]),
                     "emt_inside": bool(r_model.lower[i] <= r_emt.classical[i] <= r_model.upper[i])})
    out = {
        "machine": machine(), "model": str(model_path), "temperatures": TEMPERATURES,
        "barrier_model": barrier.value, "barrier_sigma": barrier.sigma, "barrier_ci": barrier.ci,
        "barrier_emt": r_emt.barrier.value, "barrier_out_of_domain": barrier.out_of_domain,
        "emt_barrier_inside": bool(barrier.ci[0] <= r_emt.barrier.value <= barrier.ci[1]),
        "prefactor_model_thz": r_model.prefactor / 1e12, "prefactor_emt_thz": r_emt.prefactor / 1e12,
        "neb_converged": {"model": bool(model["path"].converged), "emt": bool(emt["path"].converged)},
        "seconds": {k["label"]: {"neb": k["neb_seconds"], "rate": k["rate_seconds"]} for k in (model, emt)},
        "rates": rows,
    }
    out = jsonable(out)
    r_model.plot(RESULTS / "rates_vacancy_cu.png", title=f"Cu vacancy hop: model {barrier.value:.3f} eV, "
                                                          f"EMT {r_emt.barrier.value:.3f} eV")
    lines = ["# Cu vacancy hop: harmonic-TST rate with its interval, model against EMT", "",
             f"Made by `benchmarks/rates_vacancy_cu.py`. Machine: {out['machine']}. Climbing-image NEB in a 3x3x3 cubic "
             "cell (107 atoms), Vineyard prefactor from the Hessians of the relaxed minimum and the climbing image.", "",
             f"- barrier: model {barrier.value:.4f} eV, 95% interval [{barrier.ci[0]:.4f}, {barrier.ci[1]:.4f}] "
             f"(sigma {barrier.sigma * 1000:.1f} meV); EMT {r_emt.barrier.value:.4f} eV, inside: "
             f"{out['emt_barrier_inside']}; out of domain: {barrier.out_of_domain}",
             f"- prefactor nu*: model {out['prefactor_model_thz']:.3f} THz, EMT {out['prefactor_emt_thz']:.3f} THz",
             f"- NEB converged: model {out['neb_converged']['model']}, EMT {out['neb_converged']['emt']}; time (s): "
             f"model NEB {model['neb_seconds']:.0f} + rate {model['rate_seconds']:.0f}, EMT NEB {emt['neb_seconds']:.0f} + "
             f"rate {emt['rate_seconds']:.0f}", "",
             "| T (K) | model k (1/s) | 95% interval (log-normal) | linear k - 1.96 sigma_k | EMT k | EMT inside | "
             "model k, quantum | EMT k, quantum |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['temperature']:.0f} | {r['model']:.3e} | [{r['lower']:.3e}, {r['upper']:.3e}] | "
                     f"{r['linear_lower']:.3e} | {r['emt']:.3e} | {'yes' if r['emt_inside'] else 'no'} | "
                     f"{r['model_quantum']:.3e} | {r['emt_quantum']:.3e} |")
    lines += ["", "![Arrhenius](rates_vacancy_cu.png)", ""]
    write_results("rates_vacancy_cu", out, "\n".join(lines))


if __name__ == "__main__":
    main()

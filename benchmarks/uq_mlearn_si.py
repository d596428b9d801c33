"""Issue 4 benchmark: uncertainty, calibration and domain of applicability on mlearn Si.

    python benchmarks/uq_mlearn_si.py [--members 5] [--minutes 3] [--preset medium]

Train on the Elastic and AIMD-NVT frames of Si_train.xyz only (a validation split of them
calibrates alpha); test in domain on the test file's Elastic/AIMD-NVT frames and out of domain
on its Surface and Vacancy frames. Methods: a deep ensemble (``ridgeline train --ensemble``)
and the last-layer Laplace posterior of one member. For each: Spearman rho between per-atom
force sigma and |force error|, ECE before/after calibration, NLL, ROC AUC of each domain flag
(and score) for finding atoms whose force error exceeds 3x the in-domain MAE, inference cost.
Member runs are cached in benchmarks/cache/uq_si/ (delete it to retrain).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from ase.build import bulk
from ase.io import read, write

from common import CACHE, DATA, RESULTS, machine, require_data
from ridgeline.data import KeyMap, read_frames
from ridgeline.data.graph import atoms_to_batch
from ridgeline.models.io import load_model
from ridgeline.training.config import load_config
from ridgeline.training.ensemble import train_ensemble
from ridgeline.uncertainty.calibration import calibration_curve, expected_calibration_error, reliability_diagram, spearman
from ridgeline.uncertainty.model import UncertaintyModel, fit_uncertainty
from ridgeline.uncertainty.report import force_statistics, roc_auc

IN_DOMAIN = ("Elastic", "AIMD-NVT")
DOMAINS = ("nearest", "mahalanobis", "hull")
OUT = CACHE / "uq_si"


def training_file() -> str:
    path = OUT / "Si_train_elastic_aimd.xyz"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        frames = [a for a in read(DATA / "Si_train.xyz", ":") if a.info.get("config_type") in IN_DOMAIN]
        write(path, frames, format="extxyz")
    return str(path)


def cost(uq: UncertaintyModel, n_atoms: int = 512, seconds: float = 5.0) -> float:
    """Seconds per call (energy, forces and sigmas, no domain scores) on a rattled Si cell."""
    reps = round((n_atoms / 8) ** (1 / 3))
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((reps,) * 3)
    atoms.rattle(0.05, seed=0)
    batch = atoms_to_batch(atoms, uq.cutoff, dtype=uq.dtype)
    uq.predict_batch(batch, domain=())
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls < 3:
        uq.predict_batch(batch, domain=())
        calls += 1
    return (time.perf_counter() - start) / calls


def evaluate(name: str, uq: UncertaintyModel, test, alpha_nll: float) -> dict:
    """Figures of ``uq`` (calibrated by the area criterion) on the test frames; ``alpha_nll``: the
    maximum-likelihood alpha, for the in-domain ECE it would give."""
    p = uq.predict(test, domain=DOMAINS)
    ct = p.config_type_of_atom
    inside = np.isin(ct, IN_DOMAIN)
    in_stats = force_statistics(p, uq.alpha["forces"], inside)
    all_stats = force_statistics(p, uq.alpha["forces"])
    atom_err = np.abs(p.forces - p.forces_ref).mean(1)
    big = atom_err > 3 * in_stats["forces_mae"]
    row = {
        "method": name, "alpha_forces": uq.alpha["forces"], "alpha_energy": uq.alpha["energy"],
        "in_domain": in_stats, "all": all_stats,
        "out_of_domain": force_statistics(p, uq.alpha["forces"], ~inside),
        "n_big_error_atoms": int(big.sum()), "n_atoms": int(len(big)),
        "auc_sigma": roc_auc(p.forces_sigma, big),
        "domain": {d: {"auc_flag": roc_auc(p.domain_flags[d], big), "auc_score": roc_auc(p.domain_scores[d], big),
                       "flagged_in": float(p.domain_flags[d][inside].mean()), "flagged_out": float(p.domain_flags[d][~inside].mean())}
                   for d in DOMAINS},
        "per_config_type": {c: {"spearman": spearman(p.forces_sigma[ct == c], np.linalg.norm((p.forces - p.forces_ref)[ct == c], axis=1)),
                                "forces_mae": float(np.abs(p.forces - p.forces_ref)[ct == c].mean()),
                                "mean_sigma": float(p.forces_sigma[ct == c].mean())} for c in sorted(set(ct))},
    }
    err = (p.forces - p.forces_ref)[inside]
    raw = np.repeat(p.forces_sigma[inside, None], 3, 1) / np.sqrt(uq.alpha["forces"])
    row["curves"] = {"raw": calibration_curve(err, raw), "calibrated": calibration_curve(err, raw, uq.alpha["forces"])}
    row["alpha_forces_nll"] = alpha_nll
    row["ece_in_domain_nll_alpha"] = expected_calibration_error(err, raw, alpha_nll)
    return row


def markdown(r: dict) -> str:
    lines = ["# Uncertainty on mlearn Si (train: Elastic + AIMD-NVT; out of domain: Surface + Vacancy)", "",
             f"Machine: {r['machine']}. {r['members']} members x {r['minutes']} min, preset {r['preset']}; "
             f"test {r['n_test_frames']} frames. Force sigma per atom and component; rho = Spearman(sigma, |dF|) over atoms.", "",
             "alpha fitted on the validation split (15% of the training frames) by the miscalibration area (default) "
             "or by maximum likelihood (NLL).", "",
             "| method | rho (all test) | rho (in domain) | ECE raw (in) | ECE calibrated (in) | ECE calibrated (all) | ECE, NLL alpha (in) | "
             "NLL calibrated (in) | AUC of sigma | cost per 512-atom call (s) | cost / ensemble |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in r["methods"]:
        lines.append(f"| {m['method']} | {m['all']['spearman']:.3f} | {m['in_domain']['spearman']:.3f} | {m['in_domain']['ece_before']:.3f} | "
                     f"{m['in_domain']['ece_after']:.3f} | {m['all']['ece_after']:.3f} | {m['ece_in_domain_nll_alpha']:.3f} | "
                     f"{m['in_domain']['nll_after']:.3f} | {m['auc_sigma']:.3f} | {m['cost_s']:.3f} | {m['cost_ratio']:.2f} |")
    lines += ["", "Domain of applicability (features of the model; flag at 99% confidence): ROC AUC for finding atoms whose mean "
              "absolute force-component error exceeds 3x the in-domain MAE, and the fraction flagged in and out of domain.", "",
              "| method | domain model | AUC (flag) | AUC (score) | flagged in domain | flagged out of domain |", "|---|---|---|---|---|---|"]
    for m in r["methods"]:
        for d, s in m["domain"].items():
            lines.append(f"| {m['method']} | {d} | {s['auc_flag']:.3f} | {s['auc_score']:.3f} | {s['flagged_in']:.3f} | {s['flagged_out']:.3f} |")
    lines += ["", "Per config_type (force MAE eV/Å, mean sigma, rho):", "", "| method | config_type | F MAE | mean sigma | rho |", "|---|---|---|---|---|"]
    for m in r["methods"]:
        for c, s in m["per_config_type"].items():
            lines.append(f"| {m['method']} | {c} | {s['forces_mae']:.4f} | {s['mean_sigma']:.4f} | {s['spearman']:.3f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget per member")
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args()
    require_data()
    config = load_config(base={
        "train_file": training_file(), "output_dir": str(OUT / f"ensemble_{args.preset}"),
        "model": {"name": "moment", "preset": args.preset},
        "training": {"max_time": args.minutes, "epochs": 100000, "valid_fraction": 0.15},
    })
    ensemble_path = train_ensemble(config, args.members)
    ensemble = UncertaintyModel.load(ensemble_path)
    # the single-model method: member 0 with its last-layer posterior, same splits
    member, desc = load_model(OUT / f"ensemble_{args.preset}" / "member_0" / "model.safetensors")
    from ridgeline.training.ensemble import member_config
    from ridgeline.training.trainer import Trainer

    trainer = Trainer(member_config(config, 0), progress=False)
    trainer.load_data()
    laplace = fit_uncertainty(member, trainer.train_frames, trainer.valid_frames, domains=DOMAINS, description=desc)

    test = read_frames(DATA / "Si_test.xyz", KeyMap(), require=("energy", "forces"))
    results = {"machine": machine(),
               "members": args.members, "minutes": args.minutes, "preset": args.preset, "n_test_frames": len(test), "methods": []}
    ens_cost = cost(ensemble)
    for name, uq in ((f"ensemble ({args.members})", ensemble), ("last-layer Laplace (1 model)", laplace)):
        print(f"== {name}")
        # alpha by maximum likelihood, for comparison with the default (miscalibration area)
        alpha_nll = uq.calibrate(trainer.valid_frames, criterion="nll")["forces"]
        uq.calibrate(trainer.valid_frames, criterion="area")
        row = evaluate(name, uq, test, alpha_nll)
        row["cost_s"] = ens_cost if uq is ensemble else cost(uq)
        row["cost_ratio"] = row["cost_s"] / ens_cost
        results["methods"].append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    curves = {f"{m['method']} {k}": v for m in results["methods"] for k, v in m["curves"].items()}
    reliability_diagram(curves, RESULTS / "uq_si_reliability.png", title="Si forces, in-domain test atoms")
    for m in results["methods"]:
        m["curves"] = {k: [list(map(float, a)) for a in v] for k, v in m["curves"].items()}
    (RESULTS / "uq_si.json").write_text(json.dumps(results, indent=2, default=float))
    (RESULTS / "uq_si.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()

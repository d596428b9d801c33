"""Issue 4 benchmark: uncertainty, calibration and domain of applicability on mlearn Si.

    python benchmarks/uq_mlearn_si.py [--members 5] [--minutes 3] [--preset medium] [--split stratified|random|block] [--rank 4]

Train on the Elastic and AIMD-NVT frames of Si_train.xyz only (a validation split of them
calibrates alpha); test in domain on the test file's Elastic/AIMD-NVT frames and out of domain
on its Surface and Vacancy frames. Methods: a deep ensemble (``ridgeline train --ensemble``)
and the last-layer Laplace posterior of one member, with the directional and with the linearised force
variance (rank --rank; a sweep over ranks in a second table). For each: Spearman rho between per-atom
force sigma and |force error|, ECE before/after calibration, NLL, ROC AUC of each domain flag
(and score) for finding atoms whose force error exceeds 3x the in-domain MAE, inference cost.
Member runs are cached in benchmarks/cache/uq_si/ensemble_<preset>_<split>/ (delete to retrain).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.io import read, write

from common import CACHE, DATA, RESULTS, machine, require_data
from ridgeline.data import KeyMap, read_frames
from ridgeline.data.graph import atoms_to_batch
from ridgeline.models.io import load_model
from ridgeline.names import MODEL_FILE
from ridgeline.training.config import load_config
from ridgeline.training.ensemble import train_ensemble
from ridgeline.uncertainty.calibration import (apply_variance_map, calibration_curve, expected_calibration_error, reliability_diagram,
                                               spearman)
from ridgeline.uncertainty.model import UncertaintyModel, UncertaintyOptions, fit_uncertainty
from ridgeline.uncertainty.report import force_statistics, roc_auc

IN_DOMAIN = ("Elastic", "AIMD-NVT")
DOMAINS = ("nearest", "mahalanobis", "hull")
OUT = CACHE / "uq_si"
SPLIT_TEXT = {  # training.valid_split -> how the report describes it
    "stratified": "within each config_type, one frame from each run of equal count of frames ordered by force RMS",
    "random": "random frames",
    "block": "runs of 10 consecutive frames per config_type",
}


def training_file() -> str:
    path = OUT / "Si_train_elastic_aimd.xyz"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        frames = [a for a in read(DATA / "Si_train.xyz", ":") if a.info.get("config_type") in IN_DOMAIN]
        write(path, frames, format="extxyz")
    return str(path)


def benchmark_config(args):
    """Members train on the Elastic + AIMD-NVT frames of the training file; 15% of them, held out
    (``--split``: frames spread over each config_type's force range, random frames, or blocks of
    10 consecutive frames per config_type), calibrate."""
    return load_config(base={
        "train_file": training_file(), "output_dir": str(OUT / f"ensemble_{args.preset}_{args.split}"),
        # as measured (before medium's 6 Å and linear path, and before two loss stages were the default)
        "model": {"name": "moment", "preset": args.preset, "cutoff": 5.0, "linear_path": False},
        "training": {"max_time": args.minutes, "epochs": 100000, "valid_fraction": 0.15, "valid_split": args.split,
                     "energy_weight": 30.0, "final_stage": None},
    })


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


def evaluate(name: str, uq: UncertaintyModel, test, nll: dict, scale_only: float, gaussian: dict) -> dict:
    """Figures of ``uq`` (calibrated by the area criterion: scale, power, noise floor and tails) on the
    test frames; ``nll``: the maximum-likelihood scale, ``scale_only``: the area criterion's
    alpha alone, ``gaussian``: scale and floor with Gaussian errors, for the in-domain ECE they
    would give."""
    p = uq.predict(test, domain=DOMAINS)
    ct = p.config_type_of_atom
    inside = np.isin(ct, IN_DOMAIN)
    nu = uq.alpha["forces_nu"]
    in_stats = force_statistics(p, uq.alpha["forces"], inside, nu=nu)
    all_stats = force_statistics(p, uq.alpha["forces"], nu=nu)
    atom_err = np.abs(p.forces - p.forces_ref).mean(1)
    big = atom_err > 3 * in_stats["forces_mae"]
    row = {
        "method": name, "calibration": {k: v for k, v in uq.alpha.items()},
        "alpha_forces": uq.alpha["forces"], "alpha_energy": uq.alpha["energy"],
        "in_domain": in_stats, "all": all_stats,
        "out_of_domain": force_statistics(p, uq.alpha["forces"], ~inside, nu=nu),
        "n_big_error_atoms": int(big.sum()), "n_atoms": int(len(big)),
        "auc_sigma": roc_auc(p.forces_sigma, big),
        "domain": {d: {"auc_flag": roc_auc(p.domain_flags[d], big), "auc_score": roc_auc(p.domain_scores[d], big),
                       "flagged_in": float(p.domain_flags[d][inside].mean()), "flagged_out": float(p.domain_flags[d][~inside].mean())}
                   for d in DOMAINS},
        "per_config_type": {c: {"spearman": spearman(p.forces_sigma[ct == c], np.linalg.norm((p.forces - p.forces_ref)[ct == c], axis=1)),
                                "forces_mae": float(np.abs(p.forces - p.forces_ref)[ct == c].mean()),
                                "mean_sigma": float(p.forces_sigma[ct == c].mean()),
                                "ece": expected_calibration_error((p.forces - p.forces_ref)[ct == c], np.repeat(p.forces_sigma[ct == c, None], 3, 1), nu=nu)}
                            for c in sorted(set(ct))},
    }
    err = (p.forces - p.forces_ref)[inside]
    raw = np.repeat(np.maximum(p.forces_sigma_raw[inside], np.finfo(float).tiny)[:, None], 3, 1)
    row["curves"] = {"raw": calibration_curve(err, raw), "calibrated": calibration_curve(err, np.repeat(p.forces_sigma[inside, None], 3, 1), nu=nu)}
    row["calibration_nll"] = nll
    row["ece_in_domain_nll"] = expected_calibration_error(err, np.sqrt(apply_variance_map(raw**2, nll["forces"], nll["forces_power"], nll["forces_floor"])))
    row["alpha_forces_scale_only"] = scale_only
    row["ece_in_domain_scale_only"] = expected_calibration_error(err, raw, scale_only)
    row["calibration_gaussian"] = gaussian
    row["ece_in_domain_gaussian"] = expected_calibration_error(err, np.sqrt(apply_variance_map(raw**2, gaussian["forces"], gaussian["forces_power"], gaussian["forces_floor"])))
    return row


def markdown(r: dict) -> str:
    lines = ["# Uncertainty on mlearn Si (train: Elastic + AIMD-NVT; out of domain: Surface + Vacancy)", "",
             f"Machine: {r['machine']}. {r['members']} members x {r['minutes']} min, preset {r['preset']}; "
             f"test {r['n_test_frames']} frames. Force sigma per atom and component; rho = Spearman(sigma, |dF|) over atoms.", "",
             f"Calibration fitted on the validation split ({r['split']}: 15% of the training frames, "
             f"{SPLIT_TEXT[r['split']]}): "
             "sigma^2 -> alpha sigma^(2 power) + floor^2 and the errors' distribution (Student t of nu degrees of freedom, or "
             "Gaussian) by the miscalibration area (`calibrate(floor=True, power=True, tails=True)`); ECE and NLL with that "
             "distribution. Also shown, "
             "with Gaussian errors: scale and floor, the area criterion's scale alone (the library's default) and the "
             "maximum-likelihood scale (NLL). Cost: median over interleaved rounds.", "",
             "| method | rho (all test) | rho (in domain) | ECE raw (in) | ECE calibrated (in) | ECE calibrated (all) | ECE, Gaussian + floor (in) | "
             "ECE, Gaussian scale only (in) | ECE, NLL alpha (in) | NLL calibrated (in) | AUC of sigma | cost per 512-atom call (s) | cost / ensemble |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in r["methods"]:
        lines.append(f"| {m['method']} | {m['all']['spearman']:.3f} | {m['in_domain']['spearman']:.3f} | {m['in_domain']['ece_before']:.3f} | "
                     f"{m['in_domain']['ece_after']:.3f} | {m['all']['ece_after']:.3f} | {m['ece_in_domain_gaussian']:.3f} | {m['ece_in_domain_scale_only']:.3f} | "
                     f"{m['ece_in_domain_nll']:.3f} | {m['in_domain']['nll_after']:.3f} | {m['auc_sigma']:.3f} | {m['cost_s']:.3f} | {m['cost_ratio']:.2f} |")
    lines += ["", "Calibration maps (forces: sigma^2 -> alpha var^power + floor^2; floor in eV/Å; nu: Student t, - = Gaussian):", "",
              "| method | alpha | power | floor | nu | alpha, Gaussian + floor | alpha, scale only | alpha, NLL |", "|---|---|---|---|---|---|---|---|"]
    for m in r["methods"]:
        c, g = m["calibration"], m["calibration_gaussian"]
        nu = "-" if c["forces_nu"] is None else f"{c['forces_nu']:g}"
        lines.append(f"| {m['method']} | {c['forces']:.4g} | {c['forces_power']:.3g} | {c['forces_floor']:.3g} | {nu} | {g['forces']:.4g} | "
                     f"{m['alpha_forces_scale_only']:.4g} | {m['calibration_nll']['forces']:.4g} |")
    if r.get("rank_sweep"):
        lines += ["", "Linearised Laplace force variance by the number of posterior directions k (one backward pass each):", "",
                  "| k | rho (all) | rho (in) | ECE calibrated (in) | cost / ensemble |", "|---|---|---|---|---|"]
        for k, s in r["rank_sweep"].items():
            lines.append(f"| {k} | {s['rho_all']:.3f} | {s['rho_in']:.3f} | {s['ece_in']:.3f} | {s['cost_ratio']:.2f} |")
    lines += ["", "Domain of applicability (features of the model; flag at 99% confidence): ROC AUC for finding atoms whose mean "
              "absolute force-component error exceeds 3x the in-domain MAE, and the fraction flagged in and out of domain.", "",
              "| method | domain model | AUC (flag) | AUC (score) | flagged in domain | flagged out of domain |", "|---|---|---|---|---|---|"]
    for m in r["methods"]:
        for d, s in m["domain"].items():
            lines.append(f"| {m['method']} | {d} | {s['auc_flag']:.3f} | {s['auc_score']:.3f} | {s['flagged_in']:.3f} | {s['flagged_out']:.3f} |")
    lines += ["", "Per config_type (force MAE eV/Å, mean calibrated sigma, rho, ECE calibrated):", "",
              "| method | config_type | F MAE | mean sigma | rho | ECE |", "|---|---|---|---|---|---|"]
    for m in r["methods"]:
        for c, s in m["per_config_type"].items():
            lines.append(f"| {m['method']} | {c} | {s['forces_mae']:.4f} | {s['mean_sigma']:.4f} | {s['spearman']:.3f} | {s['ece']:.3f} |")
    return "\n".join(lines) + "\n"


def costs(models: dict, rounds: int = 5, seconds: float = 2.0) -> dict:
    """Median seconds per call of each model, measured in interleaved rounds (a shared machine's
    load then falls on all of them alike)."""
    times = {k: [] for k in models}
    for _ in range(rounds):
        for k, uq in models.items():
            times[k].append(cost(uq, seconds=seconds))
    return {k: float(np.median(v)) for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget per member")
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--split", default="stratified", choices=tuple(SPLIT_TEXT),
                        help="validation split (training.valid_split); results of a non-default split go to uq_si_<split>.*")
    parser.add_argument("--rank", type=int, default=4, help="posterior directions of the linearised Laplace force variance")
    parser.add_argument("--ranks", type=int, nargs="*", default=[1, 2, 8], help="further ranks for the sweep table")
    args = parser.parse_args()
    require_data()
    config = benchmark_config(args)
    ensemble_path = train_ensemble(config, args.members)
    ensemble = UncertaintyModel.load(ensemble_path)
    # the single-model method: member 0 with its last-layer posterior, same splits
    member, desc = load_model(Path(config.output_dir) / "member_0" / MODEL_FILE)
    from ridgeline.training.ensemble import member_config
    from ridgeline.training.trainer import Trainer

    trainer = Trainer(member_config(config, 0), progress=False)
    trainer.load_data()
    train, valid = trainer.train_frames, trainer.valid_frames
    laplace = {
        "directional": fit_uncertainty(member, train, valid, UncertaintyOptions(domains=DOMAINS, force_variance="directional"),
                                       description=desc),
        "linearised": fit_uncertainty(member, train, valid, UncertaintyOptions(domains=DOMAINS, force_variance="linearised",
                                                                               force_rank=args.rank), description=desc),
    }
    methods = {f"ensemble ({args.members})": ensemble, "last-layer Laplace, directional (1 model)": laplace["directional"],
               f"last-layer Laplace, linearised k={args.rank} (1 model)": laplace["linearised"]}

    test = read_frames(DATA / "Si_test.xyz", KeyMap(), require=("energy", "forces"))
    results = {"machine": machine(), "split": args.split,
               "members": args.members, "minutes": args.minutes, "preset": args.preset, "n_test_frames": len(test), "methods": []}
    seconds = costs(methods)
    ens_cost = seconds[f"ensemble ({args.members})"]
    for name, uq in methods.items():
        print(f"== {name}")
        # the maximum-likelihood scale and the area criterion's scale alone, for comparison with the default
        nll = dict(uq.calibrate(valid, criterion="nll"))
        scale_only = uq.calibrate(valid, criterion="area")["forces"]
        gaussian = dict(uq.calibrate(valid, criterion="area", floor=True))
        uq.calibrate(valid, criterion="area", floor=True, power=True, tails=True)
        row = evaluate(name, uq, test, nll, scale_only, gaussian)
        row["cost_s"] = seconds[name]
        row["cost_ratio"] = row["cost_s"] / ens_cost
        results["methods"].append(row)
    # the linearised variance by the number of posterior directions (the posterior is the same)
    results["rank_sweep"] = {}
    lin = laplace["linearised"]
    for k in sorted(set(args.ranks) | {args.rank}):
        lin.laplace.force_rank = k
        lin.laplace._directions()
        lin.calibrate(valid, criterion="area", floor=True, power=True, tails=True)
        p = lin.predict(test, domain=())
        inside = np.isin(p.config_type_of_atom, IN_DOMAIN)
        err = p.forces - p.forces_ref
        sweep_cost = costs({"ensemble": ensemble, "laplace": lin}, rounds=3)
        results["rank_sweep"][k] = {
            "rho_all": spearman(p.forces_sigma, np.linalg.norm(err, axis=1)),
            "rho_in": spearman(p.forces_sigma[inside], np.linalg.norm(err[inside], axis=1)),
            "ece_in": expected_calibration_error(err[inside], np.repeat(p.forces_sigma[inside, None], 3, 1), nu=lin.alpha["forces_nu"]),
            "cost_ratio": sweep_cost["laplace"] / sweep_cost["ensemble"], "calibration": dict(lin.alpha)}
        print(k, results["rank_sweep"][k])
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "uq_si" if args.split == "stratified" else f"uq_si_{args.split}"
    short = lambda name: name.replace("last-layer Laplace, ", "Laplace ").replace(" (1 model)", "").replace("linearised", "lin.")  # noqa: E731
    curves = {f"{short(m['method'])} {k}": v for m in results["methods"] for k, v in m["curves"].items()}
    reliability_diagram(curves, RESULTS / f"{stem}_reliability.png", title="Si forces, in-domain test atoms")
    for m in results["methods"]:
        m["curves"] = {k: [list(map(float, a)) for a in v] for k, v in m["curves"].items()}
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2, default=float))
    (RESULTS / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()

"""Behler-Parrinello baseline on the mlearn Si and Mo benchmark (Zuo et al., J. Phys. Chem. A 124,
731 (2020)): train on the training files only (validation split taken from them), evaluate on the
fixed test split, and time the ASE calculator on 64-, 512- and 4096-atom Si cells.

    cd benchmarks && python mlearn_bpnn.py [--minutes 12] [--parts train,throughput] [--elements Si Mo]

Finished training runs are cached in benchmarks/cache/ (an interrupted one resumes), so parts can
be run separately. Writes benchmarks/results/mlearn_bpnn.{json,md}.
"""

from __future__ import annotations

import argparse
import json

from common import RESULTS, machine, mlearn_arguments, published_errors, require_data, ridgeline_python, throughput, train_ridgeline


def markdown(results: dict) -> str:
    pub = results["published"]
    lines = ["# mlearn benchmark: Behler-Parrinello baseline (ridgeline bpnn)", "",
             f"Machine: {results['machine']}. Training budget {results['minutes']} min per element, preset `{results['preset']}`, "
             f"overrides {results.get('overrides') or 'none'}; validation split from the training file only.", "",
             "## Test errors (MAE) next to the published GAP and MTP errors", "",
             "| element | ridgeline E (meV/atom) | GAP E | MTP E | ridgeline F (eV/Å) | GAP F | MTP F | train wall (s) | epochs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for el, r in results["elements"].items():
        t, p = r["test"], pub.get(el, {})
        lines.append(f"| {el} | {t['energy_mae']:.2f} | {p.get('GAP', {}).get('energy_mae', '–')} | {p.get('MTP', {}).get('energy_mae', '–')} | "
                     f"{t['forces_mae']:.3f} | {p.get('GAP', {}).get('forces_mae', '–')} | {p.get('MTP', {}).get('forces_mae', '–')} | "
                     f"{r['train_wall_s']:.0f} | {r['epochs']} |")
    lines += ["", "## Test errors per config_type", "",
              "| element | config_type | frames | E MAE (meV/atom) | F MAE (eV/Å) | F RMSE (eV/Å) |", "|---|---|---|---|---|---|"]
    for el, r in results["elements"].items():
        for ct, m in r["test"]["per_config_type"].items():
            lines.append(f"| {el} | {ct} | {m['n_frames']} | {m['energy_mae']:.2f} | {m['forces_mae']:.3f} | {m['forces_rmse']:.3f} |")
    if results.get("throughput"):
        lines += ["", f"## Inference throughput, energy + forces + stress through the ASE calculator ({results['throughput']['model']})", "",
                  "| atoms | atom-steps/s | ms/call | peak RSS (MB) |", "|---|---|---|---|"]
        for row in results["throughput"]["rows"]:
            lines.append(f"| {row['n_atoms']} | {row['atom_steps_per_s']:.0f} | {row['ms_per_call']:.1f} | {row['peak_rss_mb']:.0f} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mlearn_arguments(parser, minutes=12.0, parts="train,throughput")
    args = parser.parse_args()
    require_data()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results_path = RESULTS / "mlearn_bpnn.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"elements": {}}
    results.update(published=published_errors(), minutes=args.minutes, preset=args.preset, overrides=args.overrides,
                   machine=machine())
    parts = args.parts.split(",")
    for element in args.elements:
        if "train" in parts:
            print(f"== {element}: training ({args.minutes} min budget)")
            run = train_ridgeline(element, "bpnn", args.preset, args.minutes, args.overrides, epochs=100000)  # the budget binds, as measured
            run.pop("history")
            results["elements"][element] = run
            t = results["elements"][element]["test"]
            print(f"   test E MAE {t['energy_mae']:.2f} meV/atom, F MAE {t['forces_mae']:.3f} eV/Å")
    if "throughput" in parts:
        model = results["elements"].get("Si", {}).get("model")
        if model is None:
            raise SystemExit("throughput needs the Si model: run the train part for Si first")
        print("== throughput (Si)")
        results["throughput"] = {"model": "bpnn " + args.preset, "rows": throughput(ridgeline_python(), "ridgeline", model, sizes=(64, 512, 4096))}
    results_path.write_text(json.dumps(results, indent=2))
    (RESULTS / "mlearn_bpnn.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()

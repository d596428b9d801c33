"""Issue 3's benchmark: ridgeline's moment tensor network against the published GAP/MTP errors and
against MACE trained side by side on the same data, budget and machine.

    python benchmarks/mlearn_vs_mace.py --parts train,mace,throughput,plot [--minutes 30] [--elements Si Mo]
    python benchmarks/mlearn_vs_mace.py --parts ensemble,throughput --ensemble 2   # a committee besides

The ensemble part (not a default part) trains the members that ``ridgeline train --ensemble``
would (seed k, the seed-0 split; member 0 is the default run), calibrates them as one file and
reports the members' mean; its throughput is then measured beside the single model's (the
calculator adds calibrated sigmas and domain scores).

Parts are cached in benchmarks/cache/ (interrupted ridgeline runs resume), so they can run
separately. MACE (mace-torch) lives in its own virtual environment, benchmarks/.venv-mace, made
here with torch pinned by constraints.txt; it is never a ridgeline dependency.
Writes benchmarks/results/mlearn_vs_mace.{json,md} and force_error_vs_time.png.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from common import (CACHE, DATA, RESULTS, ROOT, machine, mlearn_arguments, published_errors, require_data, ridgeline_config,
                    ridgeline_python, throughput, train_ridgeline)

MACE_VENV = ROOT / "benchmarks" / ".venv-mace"
# the small MACE the issue quotes (32 channels, L = 1), MACE's default training otherwise
MACE_ARGS = ["--model", "MACE", "--num_channels", "32", "--max_L", "1", "--r_max", "5.0", "--E0s", "average",
             "--energy_key", "REF_energy", "--forces_key", "REF_forces", "--stress_key", "REF_stress",
             "--device", "cpu", "--default_dtype", "float32", "--batch_size", "4", "--valid_fraction", "0.1",
             "--seed", "0", "--ema", "--ema_decay", "0.99", "--eval_interval", "1"]


def ridgeline_ensemble(element: str, preset: str, minutes: float, overrides: list[str], size: int) -> dict:
    """A committee as ``ridgeline train --ensemble`` makes it (member k: seed k, all on the seed-0
    validation split; calibrated, with domain models): member 0 is the default run, the others
    cached runs of their own. Test errors of the members' mean; wall time summed over members."""
    from ridgeline.data import load_frames
    from ridgeline.training.ensemble import train_ensemble
    from ridgeline.training.metrics import compute_metrics, predict
    from ridgeline.uncertainty.model import UncertaintyModel

    if any(o.split("=")[0] in ("training.seed", "training.split_seed") for o in overrides):
        raise SystemExit("the ensemble part sets the members' seeds itself: drop training.seed / training.split_seed")
    runs = [train_ridgeline(element, "moment", preset, minutes, overrides)]
    runs += [train_ridgeline(element, "moment", preset, minutes, [*overrides, f"training.seed={k}", "training.split_seed=0"])
             for k in range(1, size)]
    config = ridgeline_config(element, "moment", preset, minutes, overrides, suffix=f"_ensemble{size}")
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for k, run in enumerate(runs):  # the finished runs are the members (train_ensemble does not retrain them)
        member = out / f"member_{k}"
        if not member.exists():
            member.symlink_to(Path(run["model"]).parent.resolve(), target_is_directory=True)
    path = train_ensemble(config, size, progress=False)
    uq = UncertaintyModel.load(path)
    test = compute_metrics(predict(uq.model, load_frames(config.test_file, config.keys, require=("energy", "forces"),
                                                         min_distance=config.min_distance)))
    return {"model": str(path), "size": size, "train_wall_s": sum(r["train_wall_s"] for r in runs), "train_threads": runs[0]["train_threads"],
            "epochs": runs[0]["epochs"], "test": test, "members_test": [r["test"] for r in runs]}


def mace_python() -> str:
    python = MACE_VENV / "bin" / "python"
    if not python.exists():
        print("== making the MACE environment (mace-torch, torch pinned)")
        subprocess.run(["python3", "-m", "venv", str(MACE_VENV)], check=True)
        subprocess.run([str(MACE_VENV / "bin" / "pip"), "install", "-q", "-c", str(ROOT / "constraints.txt"), "mace-torch"], check=True)
    return str(python)


def train_mace(element: str, minutes: float) -> dict:
    """MACE has no wall-time option: train under a time limit, then let mace_run_train restart from
    its latest (best-validation) checkpoint with no epochs left, which evaluates and saves the model."""
    out = CACHE / f"mace_{element}"
    done = out / "done.json"
    if done.exists():
        print(f"{element}: cached MACE run in {out}")
        return json.loads(done.read_text())
    python = mace_python()
    out.mkdir(parents=True, exist_ok=True)
    dirs = ["--work_dir", str(out), "--model_dir", str(out), "--log_dir", str(out / "logs"),
            "--checkpoints_dir", str(out / "checkpoints"), "--results_dir", str(out / "results")]
    common = ["-m", "mace.cli.run_train", "--name", f"mace_{element}", "--train_file", str(DATA / f"{element}_train.xyz"),
              "--test_file", str(DATA / f"{element}_test.xyz"), *MACE_ARGS, *dirs]
    start = time.perf_counter()
    try:
        subprocess.run([python, *common, "--max_num_epochs", "100000"], timeout=60 * minutes)
    except subprocess.TimeoutExpired:
        pass
    wall = time.perf_counter() - start
    checkpoints = sorted((out / "checkpoints").glob("*.pt"), key=lambda p: p.stat().st_mtime)
    if not checkpoints:
        raise SystemExit(f"MACE wrote no checkpoint in {minutes} min; see {out / 'logs'}")
    last_epoch = int(checkpoints[-1].stem.split("epoch-")[-1].split("_")[0])
    subprocess.run([python, *common, "--max_num_epochs", str(last_epoch), "--restart_latest"], check=True)
    model = out / f"mace_{element}.model"
    evaluation = subprocess.run([python, str(ROOT / "benchmarks" / "mace_eval.py"), str(model), str(DATA / f"{element}_test.xyz")],
                                capture_output=True, text=True, check=True)
    result = {"model": str(model), "train_wall_s": wall, "epochs": last_epoch, "train_threads": mace_threads(python),
              "test": json.loads(evaluation.stdout.strip().splitlines()[-1]),
              "history": mace_history(out)}
    done.write_text(json.dumps(result, indent=2))
    return result


def mace_threads(python: str) -> int:
    """The torch threads a MACE process gets here (MACE sets none itself: torch's default)."""
    out = subprocess.run([python, "-c", "import torch; print(torch.get_num_threads())"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def mace_speed_model(element: str = "Si") -> str:
    """A MACE model of the benchmark's architecture trained for one epoch, for throughput alone
    (the cost of a call does not depend on the weights) when the 30-minute run's model file is
    not on this machine (its errors are kept in the results file)."""
    out = CACHE / f"mace_{element}_speed"
    model = out / f"mace_{element}_speed.model"
    if not model.exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run([mace_python(), "-m", "mace.cli.run_train", "--name", f"mace_{element}_speed",
                        "--train_file", str(DATA / f"{element}_train.xyz"), *MACE_ARGS, "--max_num_epochs", "1",
                        "--work_dir", str(out), "--model_dir", str(out), "--log_dir", str(out / "logs"),
                        "--checkpoints_dir", str(out / "checkpoints"), "--results_dir", str(out / "results")], check=True)
    return str(model)


def mace_history(out) -> list[dict]:
    """Validation force MAE per epoch from MACE's results file, with the file's timestamps."""
    rows = []
    for path in (out / "results").glob("*_train.txt"):
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("mode") == "eval" and "mae_f" in entry:
                rows.append({"epoch": entry.get("epoch"), "valid_forces_mae": entry["mae_f"], "time": entry.get("time")})
    return rows


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for element, r in results.get("ridgeline", {}).items():
        h = r["history"]
        ax.plot([row["elapsed_s"] / 60 for row in h], [row["valid_forces_mae"] for row in h], label=f"ridgeline moment ({element}, validation)")
        ax.scatter([r["train_wall_s"] / 60], [r["test"]["forces_mae"]], marker="*", s=120, label=f"ridgeline test ({element})")
    for element, r in results.get("mace", {}).items():
        h = [row for row in r["history"] if row.get("epoch") is not None]
        if h:
            per_epoch = r["train_wall_s"] / max(r["epochs"], 1)  # MACE logs no wall time: spread it evenly
            ax.plot([(row["epoch"] + 1) * per_epoch / 60 for row in h], [row["valid_forces_mae"] for row in h], label=f"MACE ({element}, validation)")
        ax.scatter([r["train_wall_s"] / 60], [r["test"]["forces_mae"]], marker="X", s=100, label=f"MACE test ({element})")
    ax.set_xlabel("training wall time (min), 2-core CPU (threads per run: see the table)")
    ax.set_ylabel("force MAE (eV/Å)")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "force_error_vs_time.png", dpi=120)


def markdown(results: dict) -> str:
    pub = results["published"]
    lines = ["# mlearn: ridgeline moment network vs GAP, MTP and MACE", "",
             f"Machine: {results['machine']}. Training budget {results['minutes']} min per code and element "
             "(ridgeline trains its default number of epochs, which may end sooner); "
             "validation split from the training file only; test = the fixed mlearn test split. "
             f"ridgeline: preset `{results['preset']}`"
             + (f" with `{' '.join(results['overrides'])}`" if results.get("overrides") else " (defaults)") + ".", "",
             "The machine line gives the torch threads of this script; each training run's own threads are in the table "
             "(runs cached from earlier calls keep theirs; – where not recorded).", "",
             "| element | code | E MAE (meV/atom) | F MAE (eV/Å) | train wall (s) | training threads | epochs |",
             "|---|---|---|---|---|---|---|"]
    for element in sorted(set(results.get("ridgeline", {})) | set(results.get("mace", {}))):
        size = results.get("ridgeline_ensemble", {}).get(element, {}).get("size")
        for name, key in (("ridgeline moment", "ridgeline"), (f"ridgeline moment, ensemble of {size}", "ridgeline_ensemble"),
                          ("MACE 32x0e+32x1o", "mace")):
            r = results.get(key, {}).get(element)
            if r:
                lines.append(f"| {element} | {name} | {r['test']['energy_mae']:.2f} | {r['test']['forces_mae']:.4f} | {r['train_wall_s']:.0f} | "
                             f"{r.get('train_threads') or '–'} | {r['epochs']} |")
        for code in ("GAP", "MTP"):
            p = pub.get(element, {}).get(code)
            if p:
                lines.append(f"| {element} | {code} (published) | {p['energy_mae']} | {p['forces_mae']} | – | – | – |")
    # where a cached result came from another host or session, its "provenance" says so
    notes = [f"- {element}, {key}: {r['provenance']}" for key in ("ridgeline", "ridgeline_ensemble", "mace")
             for element, r in sorted(results.get(key, {}).items()) if r.get("provenance")]
    lines += ["", *notes] if notes else []
    lines += ["", "Per config_type (ridgeline):", "", "| element | config_type | E MAE (meV/atom) | F MAE (eV/Å) |", "|---|---|---|---|"]
    for element, r in results.get("ridgeline", {}).items():
        for ct, m in r["test"]["per_config_type"].items():
            lines.append(f"| {element} | {ct} | {m['energy_mae']:.2f} | {m['forces_mae']:.4f} |")
    if results.get("throughput"):
        ratios_of = results.get("throughput_ratios", {})
        ratios = ratios_of.get("ridgeline", {})
        title = "Throughput, energy + forces + stress through each ASE calculator, float32, Si diamond cells"
        if ratios:
            title += (f"; median of {len(results['throughput_rounds'])} rounds, ridgeline and MACE back to back in each "
                      "(ratio: median of the rounds' ratios, " + "; ".join(
                          f"{n} atoms: " + ", ".join(f"{x:.1f}x" for x in r["rounds"]) for n, r in ratios.items()) + ")")
        if "ridgeline_ensemble" in results["throughput"]:
            title += ("; ridgeline_ensemble: the committee file through the calculator as it comes (members' mean, "
                      "calibrated sigmas, domain scores), ridgeline_ensemble_mean: its members' mean alone (`uncertainty=False`)")
        if results.get("mace_speed_model"):
            title += "; MACE's speed from a one-epoch model of the same architecture (a call's cost does not depend on the weights)"
        lines += ["", title + ":", "",
                  "| code | atoms | atom-steps/s | ms/call | memory (kB/atom) | ridgeline / MACE |", "|---|---|---|---|---|---|"]
        mace = {r["n_atoms"]: r for r in results["throughput"].get("mace", [])}
        for code, rows in results["throughput"].items():
            for r in rows:
                ratio = None
                of_code = ratios_of.get(code, {})
                if str(r["n_atoms"]) in of_code:
                    ratio = of_code[str(r["n_atoms"])]["median"]
                elif code.startswith("ridgeline") and r["n_atoms"] in mace:
                    ratio = r["atom_steps_per_s"] / mace[r["n_atoms"]]["atom_steps_per_s"]
                lines.append(f"| {code} | {r['n_atoms']} | {r['atom_steps_per_s']:.0f} | {r['ms_per_call']:.1f} | {r['memory_per_atom_kb']:.1f} | "
                             f"{'' if ratio is None else f'{ratio:.1f}x'} |")
    return "\n".join(lines) + "\n"


def measure_throughput(results: dict, rounds: int) -> dict:
    """``rounds`` rounds, each measuring ridgeline then MACE back to back (the host's load drifts
    over minutes, so a ratio is taken within a round); per code and size the median round's row,
    and the median of the rounds' ridgeline / MACE ratios."""
    codes = {"ridgeline": (ridgeline_python, "ridgeline", results["ridgeline"]["Si"]["model"])}
    ensemble = results.get("ridgeline_ensemble", {}).get("Si", {}).get("model")
    if ensemble and Path(ensemble).exists():
        codes["ridgeline_ensemble"] = (ridgeline_python, "ridgeline", ensemble)  # mean, calibrated sigmas, domain scores
        codes["ridgeline_ensemble_mean"] = (ridgeline_python, "ridgeline-mean", ensemble)  # the members' mean alone
    elif ensemble:
        print(f"ensemble model {ensemble} not on this machine: its throughput is not measured (run the ensemble part first)")
    speed_model = None  # the one-epoch MACE model, where the 30-minute one is not on this machine
    if results.get("mace", {}).get("Si"):
        model = results["mace"]["Si"]["model"]
        if not Path(model).exists():
            print(f"MACE model {model} not on this machine: throughput from a one-epoch model of the same architecture")
            model = speed_model = mace_speed_model("Si")
        codes["mace"] = (mace_python, "mace", model)
    runs = []
    for k in range(rounds):
        print(f"== throughput, round {k + 1} of {rounds}")
        runs.append({code: throughput(python(), kind, model) for code, (python, kind, model) in codes.items()})
    median = {}
    for code in codes:
        median[code] = []
        for i in range(len(runs[0][code])):
            rows = sorted((run[code][i] for run in runs), key=lambda r: r["atom_steps_per_s"])
            median[code].append(rows[len(rows) // 2])
    ratios = {}  # per ridgeline code and size: the median and the rounds' ratios to MACE
    if "mace" in codes:
        for code in (c for c in codes if c.startswith("ridgeline")):
            for i, row in enumerate(runs[0][code]):
                per_round = sorted(run[code][i]["atom_steps_per_s"] / run["mace"][i]["atom_steps_per_s"] for run in runs)
                ratios.setdefault(code, {})[str(row["n_atoms"])] = {"median": per_round[len(per_round) // 2], "rounds": per_round}
    return {"throughput": median, "throughput_rounds": runs, "throughput_ratios": ratios, "mace_speed_model": speed_model}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mlearn_arguments(parser, minutes=30.0, parts="train,mace,throughput,plot")
    parser.add_argument("--ensemble", type=int, default=2, help="members of the ensemble part (not in the default parts)")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (ridgeline and MACE back to back); medians reported")
    args = parser.parse_args()
    require_data()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "mlearn_vs_mace.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update(published=published_errors(), minutes=args.minutes, preset=args.preset, overrides=args.overrides,
                   machine=machine())
    parts = args.parts.split(",")
    for element in args.elements:
        if "train" in parts:
            print(f"== ridgeline moment, {element}")
            results.setdefault("ridgeline", {})[element] = train_ridgeline(element, "moment", args.preset, args.minutes, args.overrides)
        if "ensemble" in parts:
            print(f"== ridgeline moment, ensemble of {args.ensemble}, {element}")
            results.setdefault("ridgeline_ensemble", {})[element] = ridgeline_ensemble(element, args.preset, args.minutes, args.overrides, args.ensemble)
        if "mace" in parts and element == "Si":  # the issue asks MACE on Si
            print(f"== MACE, {element}")
            results.setdefault("mace", {})[element] = train_mace(element, args.minutes)
        path.write_text(json.dumps(results, indent=2))
    if "throughput" in parts:
        results.update(measure_throughput(results, args.rounds))
    if "plot" in parts:
        plot(results)
    path.write_text(json.dumps(results, indent=2))
    (RESULTS / "mlearn_vs_mace.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()

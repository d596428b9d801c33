"""Issue 3's benchmark: ridgeline's moment tensor network against the published GAP/MTP errors and
against MACE trained side by side on the same data, budget and machine.

    python benchmarks/mlearn_vs_mace.py --parts train,mace,throughput,plot [--minutes 30] [--elements Si Mo]

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

from common import CACHE, DATA, RESULTS, ROOT, machine, mlearn_arguments, published_errors, require_data, ridgeline_python, throughput, train_ridgeline

MACE_VENV = ROOT / "benchmarks" / ".venv-mace"
# the small MACE the issue quotes (32 channels, L = 1), MACE's default training otherwise
MACE_ARGS = ["--model", "MACE", "--num_channels", "32", "--max_L", "1", "--r_max", "5.0", "--E0s", "average",
             "--energy_key", "REF_energy", "--forces_key", "REF_forces", "--stress_key", "REF_stress",
             "--device", "cpu", "--default_dtype", "float32", "--batch_size", "4", "--valid_fraction", "0.1",
             "--seed", "0", "--ema", "--ema_decay", "0.99", "--eval_interval", "1"]


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
    result = {"model": str(model), "train_wall_s": wall, "epochs": last_epoch, "test": json.loads(evaluation.stdout.strip().splitlines()[-1]),
              "history": mace_history(out)}
    done.write_text(json.dumps(result, indent=2))
    return result


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
    ax.set_xlabel("training wall time (min), 2 CPU cores")
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
             "| element | code | E MAE (meV/atom) | F MAE (eV/Å) | train wall (s) | epochs |", "|---|---|---|---|---|---|"]
    for element in sorted(set(results.get("ridgeline", {})) | set(results.get("mace", {}))):
        for name, key in (("ridgeline moment", "ridgeline"), ("MACE 32x0e+32x1o", "mace")):
            r = results.get(key, {}).get(element)
            if r:
                lines.append(f"| {element} | {name} | {r['test']['energy_mae']:.2f} | {r['test']['forces_mae']:.4f} | {r['train_wall_s']:.0f} | {r['epochs']} |")
        for code in ("GAP", "MTP"):
            p = pub.get(element, {}).get(code)
            if p:
                lines.append(f"| {element} | {code} (published) | {p['energy_mae']} | {p['forces_mae']} | – | – |")
    lines += ["", "Per config_type (ridgeline):", "", "| element | config_type | E MAE (meV/atom) | F MAE (eV/Å) |", "|---|---|---|---|"]
    for element, r in results.get("ridgeline", {}).items():
        for ct, m in r["test"]["per_config_type"].items():
            lines.append(f"| {element} | {ct} | {m['energy_mae']:.2f} | {m['forces_mae']:.4f} |")
    if results.get("throughput"):
        ratios = results.get("throughput_ratio", {})
        title = "Throughput, energy + forces + stress through each ASE calculator, float32, Si diamond cells"
        if ratios:
            title += (f"; median of {len(results['throughput_rounds'])} rounds, ridgeline and MACE back to back in each "
                      "(ratio: median of the rounds' ratios, " + "; ".join(
                          f"{n} atoms: " + ", ".join(f"{x:.1f}x" for x in r["rounds"]) for n, r in ratios.items()) + ")")
        lines += ["", title + ":", "",
                  "| code | atoms | atom-steps/s | ms/call | memory (kB/atom) | ridgeline / MACE |", "|---|---|---|---|---|---|"]
        mace = {r["n_atoms"]: r for r in results["throughput"].get("mace", [])}
        for code, rows in results["throughput"].items():
            for r in rows:
                ratio = None
                if code == "ridgeline" and str(r["n_atoms"]) in ratios:
                    ratio = ratios[str(r["n_atoms"])]["median"]
                elif code == "ridgeline" and r["n_atoms"] in mace:
                    ratio = r["atom_steps_per_s"] / mace[r["n_atoms"]]["atom_steps_per_s"]
                lines.append(f"| {code} | {r['n_atoms']} | {r['atom_steps_per_s']:.0f} | {r['ms_per_call']:.1f} | {r['memory_per_atom_kb']:.1f} | "
                             f"{'' if ratio is None else f'{ratio:.1f}x'} |")
    return "\n".join(lines) + "\n"


def measure_throughput(results: dict, rounds: int) -> dict:
    """``rounds`` rounds, each measuring ridgeline then MACE back to back (the host's load drifts
    over minutes, so a ratio is taken within a round); per code and size the median round's row,
    and the median of the rounds' ridgeline / MACE ratios."""
    codes = {"ridgeline": (ridgeline_python, results["ridgeline"]["Si"]["model"])}
    if results.get("mace", {}).get("Si"):
        codes["mace"] = (mace_python, results["mace"]["Si"]["model"])
    runs = []
    for k in range(rounds):
        print(f"== throughput, round {k + 1} of {rounds}")
        runs.append({code: throughput(python(), code, model) for code, (python, model) in codes.items()})
    median = {}
    for code in codes:
        median[code] = []
        for i in range(len(runs[0][code])):
            rows = sorted((run[code][i] for run in runs), key=lambda r: r["atom_steps_per_s"])
            median[code].append(rows[len(rows) // 2])
    ratios = {}
    if "mace" in codes:
        for i, row in enumerate(runs[0]["ridgeline"]):
            per_round = sorted(run["ridgeline"][i]["atom_steps_per_s"] / run["mace"][i]["atom_steps_per_s"] for run in runs)
            ratios[str(row["n_atoms"])] = {"median": per_round[len(per_round) // 2], "rounds": per_round}
    return {"throughput": median, "throughput_rounds": runs, "throughput_ratio": ratios}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mlearn_arguments(parser, minutes=30.0, parts="train,mace,throughput,plot")
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

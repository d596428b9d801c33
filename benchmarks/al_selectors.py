"""Issue 5 benchmark: oracle calls that active learning needs to reach a target force RMSE, per
selector (committee, MaxVol, Mahalanobis) against random selection.

    python benchmarks/al_selectors.py [--systems ethanol,cu] [--selectors committee,maxvol,mahalanobis,random]
                                      [--seeds 0,1] [--parts test,reference,runs,report] [--quick]

Systems. ``ethanol`` labelled by GFN2-xTB (tblite), non-periodic, target temperature 500 K;
``cu``: fcc Cu, 2x2x2 cubic cell (32 atoms, a = 3.61 Å), labelled by EMT, target 800 K.

Test set (part ``test``), per system: 100 frames of oracle-driven Langevin MD from the start
structure at the target temperature, 40 steps apart after 400 steps of equilibration (timestep
0.5 fs ethanol, 2 fs Cu; friction 0.01/fs), seed 1001, independent of the AL seeds. Every AL
run uses it as its validation file, so each iteration's row holds the committee's test force
RMSE; the loop never trains on it.

Target (part ``reference``): 1.25 x the test force RMSE of a reference committee trained on 150
frames of *random* oracle-MD data (same protocol as the test set, seed 2002): same model, same
committee size (2), same training settings as a loop iteration except 80 epochs from fresh
weights (4x a loop iteration's epochs), evaluated exactly as the
loop evaluates its committee (the mean of the members, ``loop.forces_rmse_and_energy_mae``). A
committee rather than one model, so that the target and the curves measure the same predictor.
Secondary, looser targets (2x and 4x the reference RMSE, fixed before any run) are reported too:
the primary one may lie beyond the oracle budget for every selector.

AL runs (part ``runs``): ``ActiveLearning(...).run()`` for each seed x system x selector (in that
order, so a cut-short benchmark still has whole seeds), output under
``benchmarks/cache/al/<system>/<selector>_s<seed>`` (resumable: a killed run continues, a finished
one is read back instantly; a cached run made with other settings is an error). All settings are
shared; only ``select.method`` differs: 4 seed frames (rattled start structure), committee of 2,
4 oracle calls per iteration up to an oracle budget (80 ethanol, 60 Cu), no target stop (the
whole curve is wanted), exploration by 4 Langevin walkers at the target temperature ramped to
1.5x (ethanol 200 steps of 0.5 fs, Cu 100 steps of 2 fs; a frame harvested every 10 steps;
walkers stop by the loop's default rule), serial oracle calls, float64, and epoch-based (not
time-based) retraining, 20 epochs per iteration warm-started from the previous committee, so a
run is reproducible on a busy machine. "random" is the loop's RandomSelector: a uniform choice
among the same explored candidates (the exploration is the same machinery for every selector).

Cost and the choices it forced (2 shared cores, one torch thread, measured): one ethanol run
with 20 epochs per iteration and 300-step walkers took 5.0 min (training half, exploration MD
with the committee ~40%). 10 epochs per iteration made the runs training-limited (ethanol
committee: test F RMSE 0.18 eV/Å at 80 calls against 0.078 with 20 epochs; energy MAE 9 against
1.6 meV/atom), which blurs any difference between selectors, so the epochs stay at 20 and the
cut is elsewhere: 200/100-step walkers (instead of 300/150) and 2 seeds (0, 1) instead of 3,
about 4 min per run; measured: 67 min for the 16 runs, 72 min with the test sets and references; ``--seeds 2`` adds a third seed later (cached
runs are reused). The test sets and references take ~5 min once.

Metric: oracle calls (seed + selected; the test set and the reference data are not counted) at
which the test force RMSE first reaches the target, linearly interpolated between the iteration
before and the one that reaches it; never within the budget -> None ("> budget"). Per selector:
the median over seeds (a seed that never reaches it counts as infinite), the ratio
random / selector of the medians ("> x" when random never reaches it: x = budget / selector), the
RMSE at the budget (mean +- std over seeds) and its ratio random / selector (a figure that stays
informative when a target lies beyond the budget), wall, training and oracle time per run.

Outputs: benchmarks/results/al_selectors.{json,md,png}, with the commit and a hash of the
active-learning sources run (``--quick``: a small smoke version with its own cache,
benchmarks/cache/al_quick, and results al_selectors_quick.*).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from common import CACHE, RESULTS, machine

ALL_SELECTORS = ("committee", "maxvol", "mahalanobis", "random")
TEST_SEED, REFERENCE_SEED = 1001, 2002

SYSTEMS = {
    "ethanol": {
        "oracle": "xtb", "temperature": 500.0, "timestep": 0.5, "friction": 0.01,
        "test_frames": 100, "reference_frames": 150, "interval": 40, "equilibration": 400,
        "oracle_budget": 80, "explore_steps": 200,
        "model": {"name": "moment", "preset": "small", "cutoff": 5.0},
    },
    "cu": {
        "oracle": "emt", "temperature": 800.0, "timestep": 2.0, "friction": 0.01,
        "test_frames": 100, "reference_frames": 150, "interval": 40, "equilibration": 400,
        "oracle_budget": 60, "explore_steps": 100,
        "model": {"name": "bpnn", "preset": "small", "cutoff": 4.5},
    },
}
COMMON = {
    "seed_frames": 4, "committee": 2, "per_iteration": 4, "walkers": 4, "explore_interval": 10,
    "temperature_ramp": 1.5, "target_factor": 1.25, "reference_epochs": 80,
    "looser_target_factors": [2.0, 4.0],  # secondary targets (x the reference RMSE), fixed before any run
    # max_time None: epoch-based retraining (the loop's own default adds a 1-minute time limit)
    "training": {"epochs": 20, "max_time": None, "batch_size": 4, "valid_fraction": 0.1, "lr": 3e-3},
}
QUICK = {  # the smoke version: small everything
    "system": {"test_frames": 20, "reference_frames": 30, "oracle_budget": 16, "equilibration": 100},
    "training": {"epochs": 10}, "reference_epochs": 40,
}


_CODE = None


def code_version() -> dict:
    """The commit and a hash of the active-learning sources (they may be uncommitted), taken once per
    process, when it starts its first run: what that process imported."""
    global _CODE
    if _CODE is not None:
        return _CODE
    import hashlib
    import subprocess

    from common import ROOT

    h = hashlib.sha1()
    for path in sorted((ROOT / "src" / "ridgeline" / "active").glob("*.py")):
        h.update(path.name.encode() + path.read_bytes())
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip())
    except OSError:
        head, dirty = "", None
    _CODE = {"commit": head, "src_modified": dirty, "active_sources_sha1": h.hexdigest()[:12]}
    return _CODE


def _common_keys(old, new):
    """``new`` restricted to the keys ``old`` has (keys a newer config adds are not a difference)."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: _common_keys(old[k], new.get(k)) for k in old}
    return new


def settings(quick: bool) -> tuple[dict, dict]:
    systems = {k: dict(v) for k, v in SYSTEMS.items()}
    common = json.loads(json.dumps(COMMON))
    if quick:
        for s in systems.values():
            s.update(QUICK["system"])
            s["explore_steps"] //= 3
        common["training"].update(QUICK["training"])
        common["reference_epochs"] = QUICK["reference_epochs"]
    return systems, common


class Bench:
    def __init__(self, quick: bool):
        self.quick = quick
        self.root = CACHE / ("al_quick" if quick else "al")
        self.systems, self.common = settings(quick)
        self.stem = "al_selectors_quick" if quick else "al_selectors"

    # ------------------------------------------------------------------ paths
    def folder(self, system: str):
        path = self.root / system
        path.mkdir(parents=True, exist_ok=True)
        return path

    def structures(self, system: str) -> str:
        """The start structures: a molecule name or a file in the cache."""
        if system == "ethanol":
            return "ethanol"
        path = self.folder(system) / "start.extxyz"
        if not path.exists():
            from ase.build import bulk
            from ase.io import write

            write(path, bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), format="extxyz")
        return str(path)

    # ---------------------------------------------------------------- oracle MD
    def _oracle_md_file(self, system: str, name: str, n_frames: int, seed: int) -> dict:
        """Labelled oracle-MD frames at the target temperature in <system>/<name>.extxyz (cached),
        with a <name>.json of what made them."""
        from ridgeline.active.oracles import make_oracle
        from ridgeline.active.reference_md import oracle_md
        from ridgeline.active.structures import load_structures
        from ridgeline.data.writers import write_frames

        s = self.systems[system]
        folder = self.folder(system)
        path, info_path = folder / f"{name}.extxyz", folder / f"{name}.json"
        spec = {"frames": n_frames, "temperature": s["temperature"], "interval": s["interval"],
                "equilibration": s["equilibration"], "timestep": s["timestep"], "friction": s["friction"],
                "seed": seed, "oracle": s["oracle"]}
        if path.exists() and info_path.exists():
            info = json.loads(info_path.read_text())
            if info["spec"] != spec:
                raise SystemExit(f"{path}: made with other settings ({info['spec']}); delete it to remake it")
            return info
        print(f"{system}: {name} set, {n_frames} frames of {s['oracle']} MD at {s['temperature']:.0f} K", flush=True)
        start = time.perf_counter()
        frames = oracle_md(load_structures(self.structures(system)), make_oracle(s["oracle"]), n_frames,
                           temperature=s["temperature"], interval=s["interval"], equilibration=s["equilibration"],
                           timestep=s["timestep"], friction=s["friction"], seed=seed, progress=False,
                           config_type=name)
        write_frames(path, frames)
        info = {"spec": spec, "path": str(path), "n_frames": len(frames), "seconds": time.perf_counter() - start,
                "oracle_steps": s["equilibration"] + n_frames * s["interval"]}
        info_path.write_text(json.dumps(info, indent=1) + "\n")
        return info

    def test_set(self, system: str) -> dict:
        return self._oracle_md_file(system, "test", self.systems[system]["test_frames"], TEST_SEED)

    # ---------------------------------------------------------------- reference
    def reference(self, system: str) -> dict:
        """Test force RMSE of a committee trained on random oracle-MD frames; the target is
        ``target_factor`` x that (cached in reference.json)."""
        from ridgeline.active.config import LOOP_TRAINING
        from ridgeline.active.loop import forces_rmse_and_energy_mae
        from ridgeline.data import KeyMap, read_frames
        from ridgeline.training.config import load_config
        from ridgeline.training.ensemble import train_ensemble
        from ridgeline.uncertainty.model import UncertaintyModel

        s, c = self.systems[system], self.common
        folder = self.folder(system)
        out_path = folder / "reference.json"
        test = self.test_set(system)
        data = self._oracle_md_file(system, "reference_train", s["reference_frames"], REFERENCE_SEED)
        # max_time: None is the training config's own default (the AL config needs it explicitly, see COMMON);
        # the loss stages are the loop's (LOOP_TRAINING), not a standalone run's
        loop_loss = {k: v for k, v in LOOP_TRAINING.items() if k not in ("epochs", "max_time")}
        training = {**loop_loss, **{k: v for k, v in c["training"].items() if k != "max_time"},
                    "epochs": c["reference_epochs"], "seed": 0}
        spec = {"model": s["model"], "training": training, "committee": c["committee"], "data": data["spec"],
                "test": test["spec"], "target_factor": c["target_factor"]}
        if out_path.exists():
            ref = json.loads(out_path.read_text())
            if ref["spec"] == spec:
                return ref
            raise SystemExit(f"{out_path}: made with other settings; delete {out_path} and {folder / 'reference'} to redo it")
        print(f"{system}: reference committee on {data['n_frames']} random oracle-MD frames, {training['epochs']} epochs",
              flush=True)
        config = load_config(base={"train_file": data["path"], "output_dir": str(folder / "reference"), "dtype": "float64",
                                   "device": "cpu", "model": dict(s["model"]), "training": training})
        start = time.perf_counter()
        path = train_ensemble(config, c["committee"], progress=False, domains=("mahalanobis",), verbose=False)
        seconds = time.perf_counter() - start
        frames = read_frames(test["path"], KeyMap(), require=("energy", "forces"))
        errors = forces_rmse_and_energy_mae(UncertaintyModel.load(path), frames)
        ref = {"spec": spec, "train_frames": data["n_frames"], "train_seconds": seconds,
               "reference_data_seconds": data["seconds"], **errors,
               "target_forces_rmse": c["target_factor"] * errors["valid_forces_rmse"]}
        out_path.write_text(json.dumps(ref, indent=1) + "\n")
        print(f"{system}: reference test F RMSE {errors['valid_forces_rmse']:.4f} eV/Å -> target "
              f"{ref['target_forces_rmse']:.4f} eV/Å ({seconds:.0f} s)", flush=True)
        return ref

    # ------------------------------------------------------------------- AL runs
    def al_config(self, system: str, selector: str, seed: int, budget: int | None = None,
                  target: float | None = None) -> dict:
        """The run's config; ``budget``/``target``: the extension's oracle budget and target stop."""
        s, c = self.systems[system], self.common
        budget, per = budget or s["oracle_budget"], c["per_iteration"]
        return {
            "output_dir": str(self.folder(system) / f"{selector}_s{seed}"),
            "structures": self.structures(system), "seed_frames": c["seed_frames"], "committee": c["committee"],
            "seed": seed, "dtype": "float64",
            "oracle": {"name": s["oracle"], "workers": 1},
            "explore": {"walkers": c["walkers"], "steps": s["explore_steps"], "timestep": s["timestep"],
                        "temperature": s["temperature"], "temperature_end": c["temperature_ramp"] * s["temperature"],
                        "friction": s["friction"], "interval": c["explore_interval"]},
            "select": {"method": selector, "per_iteration": per},
            # iterations that label fewer than per_iteration (few candidates) get some slack
            "stop": {"oracle_budget": budget, "target_forces_rmse": target,
                     "max_iterations": math.ceil((budget - c["seed_frames"]) / per) + 10},
            "validation": {"file": self.test_set(system)["path"]},
            "model": dict(s["model"]), "training": dict(c["training"]),
        }

    def run_al(self, system: str, selector: str, seed: int, budget: int | None = None, target: float | None = None) -> None:
        """Run (or resume) one AL run; with ``budget`` (> the system's) it is the extension: a
        finished run continues until it reaches ``target`` or ``budget`` calls."""
        import yaml

        from ridgeline.active.config import load_active_config
        from ridgeline.active.loop import ActiveLearning
        from ridgeline.names import AL_STATE_FILE, RUN_CONFIG_FILE

        cfg = load_active_config(base=self.al_config(system, selector, seed, budget, target))
        out = self.folder(system) / f"{selector}_s{seed}"
        done = (out / AL_STATE_FILE).exists()
        if (out / RUN_CONFIG_FILE).exists():  # a cached run must be the same experiment (the stop rules may change)
            old, new = yaml.safe_load((out / RUN_CONFIG_FILE).read_text()), cfg.to_dict()
            old.pop("stop", None), new.pop("stop", None)
            if old != _common_keys(old, new):
                raise SystemExit(f"{out}: a run with other settings; delete the folder to redo it")
        state = json.loads((out / AL_STATE_FILE).read_text()) if done else None
        if state and state.get("stop_reason"):
            if self._stop_ok(state, cfg):
                return
        print(f"{system}: AL {selector} seed {seed}{' (resumed)' if done else ''}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        if not (out / "code.json").exists():  # the code this run is made with (see code_version)
            (out / "code.json").write_text(json.dumps(code_version(), indent=1) + "\n")
        if done and budget:  # the code that extends a run may differ from the code that made it: recorded
            code = json.loads((out / "code.json").read_text())
            calls = state["iterations"][-1]["oracle_calls_total"] if state else None
            code.setdefault("extensions", []).append({"from_calls": calls, "budget": budget, "target": target, **code_version()})
            (out / "code.json").write_text(json.dumps(code, indent=1) + "\n")
        start = time.perf_counter()
        ActiveLearning(cfg, progress=False).run(resume=done)
        print(f"{system}: AL {selector} seed {seed} done in {time.perf_counter() - start:.0f} s", flush=True)

    @staticmethod
    def _stop_ok(state: dict, cfg) -> bool:
        """A finished run whose stop is still valid under ``cfg`` (a raised budget resumes it)."""
        last = state["iterations"][-1]
        target = cfg.stop.target_forces_rmse
        if target is not None and any(r["valid_forces_rmse"] <= target for r in state["iterations"]):
            return True
        if state["stop_reason"] == "oracle_budget":
            return last["oracle_calls_total"] >= cfg.stop.oracle_budget
        if state["stop_reason"] == "max_iterations":
            return last["iteration"] >= cfg.stop.max_iterations
        return True

    def collect(self, system: str, selector: str, seed: int) -> dict | None:
        from ridgeline.names import AL_STATE_FILE

        path = self.folder(system) / f"{selector}_s{seed}" / AL_STATE_FILE
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        code_path = path.parent / "code.json"
        code = json.loads(code_path.read_text()) if code_path.exists() else None
        rows = state["iterations"]
        walkers = {}
        for r in rows:
            for k, v in r.items():
                if k.startswith("walkers_"):
                    walkers[k[8:]] = walkers.get(k[8:], 0) + v
        return {
            "seed": seed, "code": code, "stop_reason": state["stop_reason"], "iterations": len(rows),
            "calls": [r["oracle_calls_total"] for r in rows], "forces_rmse": [r["valid_forces_rmse"] for r in rows],
            "energy_mae": [r["valid_energy_mae"] for r in rows], "forces_sigma": [r["valid_forces_sigma"] for r in rows],
            "failed_calls": int(sum(r.get("failed", 0) for r in rows)),
            "wall_seconds": float(sum(r["seconds"] for r in rows)),
            "train_seconds": float(sum(r["train_seconds"] for r in rows)),
            "oracle_seconds": float(rows[-1]["oracle_seconds_total"]),
            "explored_frames": int(sum(r.get("explored_frames", 0) for r in rows)), "walkers": walkers,
        }


# ------------------------------------------------------------------------------ metric
def calls_to_target(calls, rmse, target: float) -> float | None:
    """Oracle calls at which the curve first reaches ``target`` (linear between the iteration
    before and that one); None if it never does."""
    previous = None
    for x, y in zip(calls, rmse):
        if y <= target:
            if previous is None:
                return float(x)
            x0, y0 = previous
            return float(x0 + (x - x0) * (y0 - target) / (y0 - y))
        previous = (x, y)
    return None


def _median(values) -> float:
    return float(np.median([np.inf if v is None else v for v in values])) if values else float("nan")


def rmse_at(calls, rmse, budget: int) -> float:
    """The learning curve's force RMSE at ``budget`` calls (interpolated; its last value if it
    stops short): the figure at equal calls, also for runs extended beyond the budget."""
    return float(np.interp(budget, calls, rmse)) if calls[-1] >= budget else float(rmse[-1])


def summarise(system: str, runs: dict, reference: dict, budget: int, looser=()) -> dict:
    target = reference["target_forces_rmse"]
    out = {}
    for selector, seeds in runs.items():
        if not seeds:
            continue
        for r in seeds:
            r["calls_to_target"] = calls_to_target(r["calls"], r["forces_rmse"], target)
        final = np.array([rmse_at(r["calls"], r["forces_rmse"], budget) for r in seeds])
        out[selector] = {
            "calls_to_target": [r["calls_to_target"] for r in seeds], "seeds": [r["seed"] for r in seeds],
            "median_calls": _median([r["calls_to_target"] for r in seeds]),
            "final_calls": [r["calls"][-1] for r in seeds],
            # a run that never reaches the target is known not to up to its last call
            "searched_calls": min(r["calls"][-1] for r in seeds),
            "final_forces_rmse_mean": float(final.mean()), "final_forces_rmse_std": float(final.std()),
            "wall_seconds_mean": float(np.mean([r["wall_seconds"] for r in seeds])),
            "train_seconds_mean": float(np.mean([r["train_seconds"] for r in seeds])),
            "oracle_seconds_mean": float(np.mean([r["oracle_seconds"] for r in seeds])),
            "looser": {},
        }
        for factor in looser:  # the same metric at looser targets
            calls = [calls_to_target(r["calls"], r["forces_rmse"], factor * reference["valid_forces_rmse"]) for r in seeds]
            out[selector]["looser"][str(factor)] = {"calls_to_target": calls, "median_calls": _median(calls)}
    if "random" in out:
        rnd = out["random"]
        for selector, s in out.items():
            s["ratio_vs_random"], s["ratio_text"] = ratio(rnd["median_calls"], s["median_calls"], rnd["searched_calls"],
                                                          s["searched_calls"])
            s["rmse_ratio_vs_random"] = rnd["final_forces_rmse_mean"] / s["final_forces_rmse_mean"]
            for factor, t in s["looser"].items():
                t["ratio_vs_random"], t["ratio_text"] = ratio(rnd["looser"][factor]["median_calls"], t["median_calls"],
                                                              rnd["searched_calls"], s["searched_calls"])
    return out


def ratio(random_calls: float, calls: float, random_searched: int, searched: int) -> tuple[float | None, str]:
    """random / selector (medians); bounds where one side never reached the target (``*_searched``:
    the calls up to which its runs were followed)."""
    if math.isfinite(random_calls) and math.isfinite(calls):
        return random_calls / calls, f"{random_calls / calls:.2f}"
    if math.isfinite(calls):
        return None, f"> {random_searched / calls:.2f}"
    if math.isfinite(random_calls):
        return None, f"< {random_calls / searched:.2f}"
    return None, "n/a"


# ------------------------------------------------------------------------------ report
def _calls_text(v, searched=None) -> str:
    if v is None or not math.isfinite(v):
        return f"> {searched}" if searched is not None else "> budget"
    return f"{v:.1f}"


def markdown(r: dict) -> str:
    c = r["common"]
    def code_text(code):
        if not code:
            return "unrecorded"
        text = f"commit {code['commit']}{' + uncommitted changes' if code.get('src_modified') else ''}"
        text += f" (active-learning sources sha1 {code['active_sources_sha1']})" if code.get("active_sources_sha1") else ""
        return text + (f"; {code['note']}" if code.get("note") else "")

    def extension_text(ext):
        if ext.get("note"):
            return f"from {ext['from_calls']} calls: {ext['note']}"
        return f"from {ext['from_calls']} calls to <= {ext['budget']}: {code_text(ext)}"

    made = list(dict.fromkeys(code_text({k: v for k, v in (code or {}).items() if k != "extensions"}) for code in r["code"]))
    extended = list(dict.fromkeys(extension_text(e) for code in r["code"] for e in (code or {}).get("extensions", [])))

    lines = ["# Active learning: oracle calls to a target test force RMSE, per selector", "",
             f"Code of the runs: {' | '.join(made)}. "
             + (f"Extensions resumed with: {' | '.join(extended)}. " if extended else "") +
             f"Machine: {r['machine']}. Seeds {', '.join(map(str, r['seeds']))}; committee of {c['committee']}, "
             f"{c['seed_frames']} seed frames, {c['per_iteration']} calls per iteration, {c['walkers']} walkers "
             f"(target T ramped to {c['temperature_ramp']}x), training {c['training']['epochs']} epochs per iteration "
             f"(batch {c['training']['batch_size']}, lr {c['training']['lr']}), warm-started. "
             f"Target = {c['target_factor']} x the test force RMSE of the same committee trained "
             f"({c['reference_epochs']} epochs, fresh) on random oracle-MD frames. "
             "Calls to target: linear interpolation on the learning curve; median over seeds "
             "(a seed that never reaches it counts as infinite). Ratio = random median / selector median.", ""]
    best = []
    for system, s in r["systems"].items():
        ref, st = s["reference"], s["settings"]
        ext = r.get("extension", {}).get(system)
        ext_text = (f"Extension: the {', '.join(ext['selectors'])} runs continued (resumed, same settings) until they reached the "
                    f"target or {ext['budget']} calls; \"calls to target\" counts those calls, \"> n\": not reached in n calls. "
                    "The RMSE columns stay at the budget (interpolated on the curve); wall, training and oracle "
                    "times include the extension. ") if ext else ""
        lines += [f"## {system} ({st['oracle']}, {st['temperature']:.0f} K, budget {st['oracle_budget']} calls)", "",
                  *([ext_text, ""] if ext else []),
                  f"Test set: {s['test']['n_frames']} oracle-MD frames. Reference: {ref['train_frames']} random "
                  f"oracle-MD frames -> test F RMSE {ref['valid_forces_rmse']:.4f} eV/Å; "
                  f"**target {ref['target_forces_rmse']:.4f} eV/Å**.", "",
                  "| selector | calls to target per seed | median | ratio random / selector | F RMSE at budget (eV/Å) | "
                  "F RMSE at budget, random / selector | wall per run (s) | training per run (s) | oracle per run (s) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, m in s["summary"].items():
            per_seed = ", ".join(_calls_text(v, n) for v, n in zip(m["calls_to_target"], m["final_calls"]))
            rmse_ratio = f"{m['rmse_ratio_vs_random']:.2f}" if "rmse_ratio_vs_random" in m else ""
            lines.append(f"| {name} | {per_seed} | {_calls_text(m['median_calls'])} | {m.get('ratio_text', '')} | "
                         f"{m['final_forces_rmse_mean']:.4f} ± {m['final_forces_rmse_std']:.4f} | {rmse_ratio} | "
                         f"{m['wall_seconds_mean']:.0f} | {m['train_seconds_mean']:.0f} | {m['oracle_seconds_mean']:.1f} |")
        selectors = {k: v for k, v in s["summary"].items() if k != "random"}
        if selectors and "random" in s["summary"]:
            name = min(selectors, key=lambda k: (selectors[k]["median_calls"], selectors[k]["final_forces_rmse_mean"]))
            b = selectors[name]
            lines += ["", f"Best selector: {name} (ratio {b['ratio_text']}); project target (>= 3x fewer calls than "
                      f"random): **{verdict(b)}**."]
            best.append(f"{system}: best {name}, calls ratio {b['ratio_text']}, RMSE-at-budget ratio "
                        f"{b['rmse_ratio_vs_random']:.2f}: {verdict(b)}")
        factors = list(next(iter(s["summary"].values()))["looser"]) if s["summary"] else []
        if factors:
            ref_rmse = ref["valid_forces_rmse"]
            lines += ["", "Looser targets (secondary, fixed before the runs): calls per seed; median; ratio random / selector.", "",
                      "| selector | " + " | ".join(f"{f}x reference = {float(f) * ref_rmse:.4f} eV/Å" for f in factors) + " |",
                      "|---|" + "---|" * len(factors)]
            for name, m in s["summary"].items():
                cells = []
                for f in factors:
                    t = m["looser"][f]
                    cells.append(f"{', '.join(_calls_text(v, n) for v, n in zip(t['calls_to_target'], m['final_calls']))}; "
                                 f"{_calls_text(t['median_calls'])}; "
                                 f"{t.get('ratio_text', '')}")
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"Total wall time of this benchmark's parts (cached ones as first measured): {r['total_seconds'] / 60:.1f} min.", ""]
    if best:
        lines += ["Summary: " + "; ".join(best) + ".", ""]
    return "\n".join(lines)


def verdict(m: dict) -> str:
    if m.get("ratio_vs_random") is not None:
        return "met" if m["ratio_vs_random"] >= 3 else "not met"
    text = m.get("ratio_text", "n/a")
    if text.startswith(">"):
        return "met (lower bound)" if float(text[1:]) >= 3 else "undecided (random never reached the target; bound below 3)"
    if text == "n/a":
        return "undecided (neither the selectors nor random reached the target within the budget)"
    return "not met"


def plot(r: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(r["systems"])
    fig, axes = plt.subplots(1, len(systems), figsize=(6 * len(systems), 4.5), squeeze=False)
    colors = {"committee": "C0", "maxvol": "C1", "mahalanobis": "C2", "random": "k"}
    for ax, system in zip(axes[0], systems):
        s = r["systems"][system]
        for name, seeds in s["runs"].items():
            if not seeds:
                continue
            color = colors.get(name, None)
            grid = np.unique(np.concatenate([r_["calls"] for r_ in seeds]))
            for run in seeds:
                ax.plot(run["calls"], run["forces_rmse"], color=color, lw=0.6, alpha=0.35)
            mean = np.mean([np.interp(grid, run["calls"], run["forces_rmse"]) for run in seeds], axis=0)
            ax.plot(grid, mean, color=color, lw=2, label=f"{name} (mean of {len(seeds)})")
        ax.axhline(s["reference"]["target_forces_rmse"], color="r", ls="--", lw=1, label="target")
        ax.set_yscale("log")
        ax.set_xlabel("oracle calls (seed + selected)")
        ax.set_ylabel("test force RMSE (eV/Å)")
        ax.set_title(f"{system} ({s['settings']['oracle']}, {s['settings']['temperature']:.0f} K)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", default="ethanol,cu")
    parser.add_argument("--selectors", default=",".join(ALL_SELECTORS))
    parser.add_argument("--seeds", default="0,1", help="AL seeds (default 2: the time budget; add 2 for a third)")
    parser.add_argument("--parts", default="test,reference,runs,report")
    parser.add_argument("--quick", action="store_true", help="a small smoke version (own cache and result files)")
    parser.add_argument("--extend", default="", help="SYSTEM=CALLS[:SELECTOR+SELECTOR],...: continue those runs (default: "
                        "--extend-selectors) of these systems until they reach the target or CALLS oracle calls (where the "
                        "budget leaves the target undecided); give the same flags to the report part")
    parser.add_argument("--extend-selectors", default="committee,random")
    args = parser.parse_args()
    extend = {}  # system -> (budget, selectors)
    for item in filter(None, args.extend.split(",")):
        system, _, rest = item.partition("=")
        calls, _, names = rest.partition(":")
        if not calls.isdigit():
            raise SystemExit(f"--extend {item!r}: expected SYSTEM=CALLS[:SELECTOR+SELECTOR], e.g. ethanol=360:committee+random")
        extend[system] = (int(calls), names.split("+") if names else [s for s in args.extend_selectors.split(",") if s])
    systems = [s for s in args.systems.split(",") if s]
    selectors = [s for s in args.selectors.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    parts = set(args.parts.split(","))
    for s in systems:
        if s not in SYSTEMS:
            raise SystemExit(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")
    for s in selectors + [n for _, names in extend.values() for n in names]:
        if s not in ALL_SELECTORS:
            raise SystemExit(f"unknown selector {s!r}; known: {', '.join(ALL_SELECTORS)}")
    for s in extend:
        if s not in systems:
            raise SystemExit(f"--extend: system {s!r} is not among --systems ({', '.join(systems)})")
    bench = Bench(args.quick)
    start = time.perf_counter()
    for system in systems:
        if "test" in parts:
            bench.test_set(system)
        if "reference" in parts:
            bench.reference(system)
    if "runs" in parts:
        for seed in seeds:  # seed-major: a cut-short benchmark still has every system and selector at the first seeds
            for system in systems:
                for selector in selectors:
                    bench.run_al(system, selector, seed)
        for seed in seeds:
            for system, (budget, names) in extend.items():
                for selector in names:
                    bench.run_al(system, selector, seed, budget=budget, target=bench.reference(system)["target_forces_rmse"])
    if "report" not in parts:
        print(f"done in {(time.perf_counter() - start) / 60:.1f} min")
        return
    result = {"machine": machine(), "code": None, "quick": args.quick, "seeds": seeds, "selectors": selectors,
              "common": bench.common, "systems": {},
              "extension": {k: {"budget": b, "selectors": names} for k, (b, names) in extend.items()}}
    total = 0.0
    for system in systems:
        test_info = bench.test_set(system)
        reference = bench.reference(system)
        runs = {sel: [r for r in (bench.collect(system, sel, seed) for seed in seeds) if r is not None] for sel in selectors}
        missing = [f"{sel} s{seed}" for sel in selectors for seed in seeds if bench.collect(system, sel, seed) is None]
        if missing:
            print(f"{system}: no run yet for {', '.join(missing)} (left out of the report)")
        budget = bench.systems[system]["oracle_budget"]
        result["systems"][system] = {
            "settings": bench.systems[system], "test": test_info, "reference": reference,
            "al_config_example": bench.al_config(system, selectors[0], seeds[0]),
            "summary": summarise(system, runs, reference, budget, bench.common["looser_target_factors"]), "runs": runs,
        }
        total += test_info["seconds"] + reference["reference_data_seconds"] + reference["train_seconds"]
        total += sum(r["wall_seconds"] for seeds_ in runs.values() for r in seeds_)
    result["total_seconds"] = total
    codes = {json.dumps(r["code"], sort_keys=True) for s_ in result["systems"].values() for seeds_ in s_["runs"].values()
             for r in seeds_}
    result["code"] = [json.loads(c) for c in sorted(codes)]  # the code version(s) the runs were made with
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{bench.stem}.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    text = markdown(result)
    (RESULTS / f"{bench.stem}.md").write_text(text)
    plot(result, RESULTS / f"{bench.stem}.png")
    print(text)
    print(f"this invocation: {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()

"""The run's summary: one row per iteration as markdown, and the learning curve (validation force
RMSE against oracle calls)."""

from __future__ import annotations

import json
from pathlib import Path

from ..files import atomic_write_bytes

COLUMNS = [  # (key, header, format)
    ("iteration", "iteration", "{}"),
    ("explored_frames", "explored frames", "{}"),
    ("explored_sigma_p95", "explored sigma_F p95 (eV/Å)", "{:.3f}"),
    ("selected", "selected", "{}"),
    ("failed", "failed calls", "{}"),
    ("oracle_calls_total", "oracle calls", "{}"),
    ("labelled_frames", "labelled frames", "{}"),
    ("valid_forces_rmse", "valid F RMSE (eV/Å)", "{:.4f}"),
    ("valid_energy_mae", "valid E MAE (meV/atom)", "{:.2f}"),
    ("valid_forces_sigma", "valid sigma_F rms (eV/Å)", "{:.4f}"),
    ("train_seconds", "train (s)", "{:.0f}"),
    ("seconds", "iteration (s)", "{:.0f}"),
]


def summary_markdown(rows: list[dict], state: dict) -> str:
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    lines = ["| " + " | ".join(h for _, h, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f.format(r[k]) if r.get(k) is not None else "" for k, _, f in cols) + " |")
    text = f"# Active learning\n\nStopped: {state.get('stop_reason')}\n\n" + "\n".join(lines) + "\n"
    if state.get("converged_exploration"):
        c = state["converged_exploration"]
        text += f"\nConverged: explored frames' sigma_F p95 {c['explored_sigma_p95']:.3f} eV/Å at iteration {c['iteration']}.\n"
    if state.get("validation"):
        v = state["validation"]
        text += f"\nValidation: {v['frames']} frames from oracle MD ({v['oracle_calls']} oracle steps, {v['oracle_seconds']:.0f} s).\n"
    return text


def learning_curve(rows: list[dict], path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [(r["oracle_calls_total"], r["valid_forces_rmse"]) for r in rows if "valid_forces_rmse" in r]
    if not pts:
        return
    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.plot(*zip(*pts), "o-")
    ax.set_xlabel("oracle calls")
    ax.set_ylabel("validation force RMSE (eV/Å)")
    ax.set_title(title or "active learning")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_summary(out, rows: list[dict], state: dict) -> None:
    out = Path(out)
    atomic_write_bytes(out / "summary.md", summary_markdown(rows, state).encode())
    atomic_write_bytes(out / "summary_rows.json", (json.dumps(rows, indent=1) + "\n").encode())
    learning_curve(rows, out / "learning_curve.png")

"""Test reports (JSON + markdown) and parity plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes
from .metrics import Predictions

COLUMNS = [
    ("n_frames", "frames", "{:d}"),
    ("energy_mae", "E MAE (meV/atom)", "{:.2f}"),
    ("energy_rmse", "E RMSE (meV/atom)", "{:.2f}"),
    ("forces_mae", "F MAE (eV/Å)", "{:.4f}"),
    ("forces_rmse", "F RMSE (eV/Å)", "{:.4f}"),
    ("stress_mae", "σ MAE (GPa)", "{:.3f}"),
]


def metrics_table(metrics: dict, title: str = "all") -> str:
    """A markdown table: one row overall, then one per config_type."""
    head = "| set | " + " | ".join(c[1] for c in COLUMNS) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 1)
    rows = [(title, metrics)] + [(f"{title} / {ct}", m) for ct, m in metrics.get("per_config_type", {}).items()]

    def cell(m, key, fmt):
        v = m.get(key)
        return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else fmt.format(v)

    lines = [head, rule] + ["| " + name + " | " + " | ".join(cell(m, k, f) for k, _, f in COLUMNS) + " |" for name, m in rows]
    return "\n".join(lines)


def write_report(reports: dict[str, dict], out_dir, header: str = "") -> None:
    """``reports`` maps a set name (valid, test) to its metrics; writes report.json and report.md."""
    out_dir = Path(out_dir)
    atomic_write_bytes(out_dir / "report.json", json.dumps(reports, indent=2).encode())
    parts = [f"# ridgeline test report\n\n{header}".rstrip() + "\n"]
    for name, metrics in reports.items():
        parts.append(f"## {name}\n\n{metrics_table(metrics, name)}\n")
        if metrics.get("per_element"):
            parts.append("| element | atoms | F MAE (eV/Å) | F RMSE (eV/Å) |\n|---|---|---|---|")
            parts += [f"| {el} | {m['n_atoms']} | {m['forces_mae']:.4f} | {m['forces_rmse']:.4f} |" for el, m in metrics["per_element"].items()]
            parts.append("")
    atomic_write_bytes(out_dir / "report.md", "\n".join(parts).encode())


def parity_plot(p: Predictions, path, title: str = "") -> None:
    """Energy (per atom) and force-component parity plots, coloured by config_type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(10, 4.6))
    frame_of_atom = p.frame_of_atom
    for ct in sorted(set(p.config_type)):
        frames = p.config_type == ct
        ax_e.scatter(p.energy_ref[frames] / p.n_atoms[frames], p.energy_pred[frames] / p.n_atoms[frames], s=12, label=ct, alpha=0.8)
        atoms = frames[frame_of_atom]
        ax_f.scatter(p.forces_ref[atoms].ravel(), p.forces_pred[atoms].ravel(), s=3, label=ct, alpha=0.5)
    for ax, what in ((ax_e, "energy (eV/atom)"), (ax_f, "force component (eV/Å)")):
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"reference {what}")
        ax.set_ylabel(f"predicted {what}")
    ax_e.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)

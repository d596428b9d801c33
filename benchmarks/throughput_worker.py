"""One throughput measurement in a fresh process:

    python throughput_worker.py {ridgeline|ridgeline-mean|mace} MODEL N_ATOMS SECONDS

prints one JSON line. Uses only ASE and the calculator's own package, so it runs in ridgeline's
environment or in the MACE benchmark environment. Memory per atom: the peak resident set during
the N-atom calls (warm-up included) above the resident set just before them, divided by the number of atoms. The
kernel's peak (VmHWM) is reset before the calls (``/proc/self/clear_refs``), so the peak of
loading the model and importing torch does not hide the calls' own; where that is not possible,
the growth of the process's peak since a warm-up call on an 8-atom cell (which reads 0 where the
calls fit in memory freed after loading).
"""

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from ase.build import bulk


def calculator(kind: str, model: str):
    if kind in ("ridgeline", "ridgeline-mean"):
        from ridgeline import Calculator

        # ridgeline-mean: an ensemble file's members' mean without the sigmas and domain scores
        return Calculator(model, uncertainty=None if kind == "ridgeline" else False)
    if kind == "mace":
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=model, device="cpu", default_dtype="float32")
    raise SystemExit(f"unknown calculator {kind}")


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak resident set of this process (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def main():
    kind, model, n_atoms, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    calc = calculator(kind, model)
    small = bulk("Si", "diamond", a=5.43, cubic=True)
    small.calc = calc
    small.get_stress()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reps = round((n_atoms / 8) ** (1 / 3))
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((reps,) * 3)
    atoms.rattle(0.02, seed=0)
    atoms.calc = calc
    reset = _reset_peak() and _status_kb("VmRSS") is not None
    if reset:  # from before the first N-atom call: its neighbour list and graph count too
        base = _status_kb("VmRSS")
    atoms.get_stress()  # warm-up
    rng = np.random.default_rng(0)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or calls < 3:
        atoms.positions += rng.normal(scale=1e-3, size=atoms.positions.shape)  # a new structure each call
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        calls += 1
    elapsed = time.perf_counter() - start
    peak = _status_kb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "calculator": kind, "n_atoms": len(atoms), "calls": calls, "seconds": elapsed,
        "atom_steps_per_s": len(atoms) * calls / elapsed, "ms_per_call": 1000 * elapsed / calls,
        "peak_rss_mb": peak / 1024, "memory_per_atom_kb": (peak - base) / len(atoms),
        "memory_method": "VmHWM reset before the calls" if reset else "ru_maxrss growth since an 8-atom call",
    }))


if __name__ == "__main__":
    main()

"""Reference data files -> validated ``Frame``s.

Labels are read by name (a ``KeyMap``) from ``atoms.info`` / ``atoms.arrays`` (extxyz) or from a row's
key-value pairs / data (ASE database), never silently from the calculator ASE attaches: ASE moves
keys literally named ``energy``/``forces``/``stress`` into a calculator, so those results are used
only when the key map asks for exactly that plain name.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import ConfigError, DataError
from ..names import CONFIG_TYPE_KEY, ENERGY_KEY, FORCES_KEY, STRESS_KEY
from .dataset import DiskFrames
from .frame import Frame, voigt_to_matrix
from .validation import as_atomic_numbers, validate_frame

QUANTITIES = ("energy", "forces", "stress")
_NOT_LABELS = {"numbers", "positions"}  # per-atom arrays every Atoms has


@dataclass
class KeyMap:
    """Names under which a file stores each reference quantity (the ``keys`` section of a
    training config)."""

    energy: str = ENERGY_KEY
    forces: str = FORCES_KEY
    stress: str = STRESS_KEY
    config_type: str = CONFIG_TYPE_KEY

    @classmethod
    def from_dict(cls, d: dict | None) -> "KeyMap":
        d = dict(d or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(valid))
        if unknown:
            raise ConfigError(f"unknown key_map key(s) {', '.join(map(repr, unknown))}; valid keys: {', '.join(valid)}")
        return cls(**{k: str(v) for k, v in d.items()})


def _as_key_map(key_map) -> KeyMap:
    if key_map is None:
        return KeyMap()
    if isinstance(key_map, KeyMap):
        return key_map
    if isinstance(key_map, dict):
        return KeyMap.from_dict(key_map)
    raise ConfigError(f"key_map must be a KeyMap or a dict, got {type(key_map).__name__}")


def _as_require(require) -> tuple[str, ...]:
    require = (require,) if isinstance(require, str) else tuple(require or ())
    unknown = [q for q in require if q not in QUANTITIES]
    if unknown:
        raise ConfigError(f"unknown required quantity {', '.join(map(repr, unknown))}; valid: {', '.join(QUANTITIES)}")
    return require


# ---------------------------------------------------------------- index selection


def _parse_index(index):
    if isinstance(index, str):
        from ase.io.formats import string2index

        try:
            return string2index(index)
        except ValueError:
            raise ConfigError(f"bad frame index {index!r}; use an int or a slice string such as ':' or '10:20'") from None
    if isinstance(index, (int, np.integer)):
        return int(index)
    if isinstance(index, slice):
        return index
    raise ConfigError(f"bad frame index {index!r}; use an int, a slice or a string such as ':'")


def _file_indices(sel, count) -> tuple[list[int] | None, int, int]:
    """How the k-th selected frame maps to its index in the file.

    Returns ``(explicit, start, step)``: with ``explicit`` None the k-th frame is ``start + k*step``
    (no need to know the file length); negative indices need ``count()`` and give an explicit list.
    """
    if isinstance(sel, int):
        if sel >= 0:
            return None, sel, 1
        return list(range(count()))[sel : sel + 1 or None], 0, 1
    step = 1 if sel.step is None else sel.step
    if step > 0 and (sel.start is None or sel.start >= 0) and (sel.stop is None or sel.stop >= 0):
        return None, sel.start or 0, step
    return list(range(count()))[sel], 0, 1


# ---------------------------------------------------------------- sources


def _calc_results(atoms) -> dict:
    return dict(getattr(atoms.calc, "results", None) or {}) if atoms.calc is not None else {}


def _iter_ase(path: Path, sel) -> Iterator[tuple]:
    import ase.io

    def count():
        return sum(1 for _ in _guarded(ase.io.iread(str(path), index=":"), path, lambda k: k))

    explicit, start, step = _file_indices(sel, count)
    to_file = (lambda k: explicit[k]) if explicit is not None else (lambda k: start + k * step)
    for k, atoms in enumerate(_guarded(ase.io.iread(str(path), index=sel), path, to_file)):
        yield to_file(k), atoms, atoms.info, atoms.arrays, _calc_results(atoms)


def _guarded(it, path, to_file):
    """Iterate ase's reader, turning whatever it raises into a DataError naming file and frame."""
    k = 0
    while True:
        try:
            atoms = next(it)
        except StopIteration:
            return
        except DataError:
            raise
        except Exception as e:  # ase raises many types (XYZError, ValueError, KeyError, ...)
            try:
                where = f"frame {to_file(k)}"
            except IndexError:
                where = f"selected frame {k}"
            raise DataError(f"{path}: cannot read {where}: {type(e).__name__}: {e}") from e
        yield atoms
        k += 1


def _iter_db(path: Path, sel) -> Iterator[tuple]:
    import ase.db

    try:
        db = ase.db.connect(str(path), type="db", create_indices=False)
        n = db.count()
    except Exception as e:
        raise DataError(f"{path}: cannot open as an ASE database: {type(e).__name__}: {e}") from e
    wanted = list(range(n))[sel] if isinstance(sel, slice) else list(range(n))[sel : sel + 1 or None]
    if isinstance(sel, int) and not wanted:
        raise DataError(f"{path}: frame {sel} out of range, the database has {n} rows")
    ascending = all(a < b for a, b in zip(wanted, wanted[1:]))
    pending = {} if not ascending else None  # rows kept only for a non-ascending selection
    wanted_set = set(wanted)
    k = 0
    try:
        for pos, row in enumerate(db.select()):
            if pos not in wanted_set:
                continue
            if pending is not None:
                pending[pos] = row
                continue
            yield _db_item(path, pos, row)
            k += 1
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{path}: cannot read row {wanted[k] if k < len(wanted) else k}: {type(e).__name__}: {e}") from e
    for pos in wanted if pending is not None else ():
        yield _db_item(path, pos, pending[pos])


def _db_item(path, pos, row):
    try:
        atoms = row.toatoms()
        data = dict(row.data)
    except Exception as e:
        raise DataError(f"{path} frame {pos}: cannot read row id {row.id}: {type(e).__name__}: {e}") from e
    scalars = {**row.key_value_pairs, **data}
    atoms.info["row_id"] = row.id
    return pos, atoms, scalars, data, _calc_results(atoms)


# ---------------------------------------------------------------- labels


def _lookup(name, plain, first: dict, second: dict, results: dict):
    for d in (first, second):
        v = d.get(name)
        if v is not None:
            return v
    if name == plain:  # ASE moved a key literally named "energy"/... into its calculator
        return results.get(plain)
    return None


def _missing(path, k, quantity, name, scalars, arrays, results) -> DataError:
    have = sorted((set(scalars) | set(arrays) | set(results)) - _NOT_LABELS - {"row_id"})
    msg = f"{path} frame {k}: missing {quantity} key {name!r}; "
    msg += f"the frame has keys: {', '.join(have)}" if have else "the frame has no label keys"
    close = difflib.get_close_matches(name, have, n=3)
    if close:
        msg += f" (did you mean {' or '.join(map(repr, close))}?)"
    return DataError(msg)


def _to_array(path, k, quantity, name, v) -> np.ndarray:
    try:
        return np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{path} frame {k}: {quantity} key {name!r} holds {v!r}, not numbers") from None


def _make_frame(path, k, atoms, scalars, arrays, results, km: KeyMap, require) -> Frame:
    energy = _lookup(km.energy, "energy", scalars, {}, results)
    forces = _lookup(km.forces, "forces", arrays, scalars, results)
    stress = _lookup(km.stress, "stress", scalars, arrays, results)
    for q, v, name in (("energy", energy, km.energy), ("forces", forces, km.forces), ("stress", stress, km.stress)):
        if v is None and q in require:
            raise _missing(path, k, q, name, scalars, arrays, results)
    if energy is not None:
        e = _to_array(path, k, "energy", km.energy, energy)
        if e.size != 1:
            raise DataError(f"{path} frame {k}: energy key {km.energy!r} holds shape {e.shape}, expected one number")
        energy = float(e.reshape(-1)[0])
    if forces is not None:
        forces = _to_array(path, k, "forces", km.forces, forces)
    if stress is not None:
        stress = _to_array(path, k, "stress", km.stress, stress)
        if stress.size in (6, 9):
            stress = voigt_to_matrix(stress)  # a wrong size is left as is for validation to report
    config_type = scalars.get(km.config_type, "Default")
    frame = Frame(
        numbers=np.asarray(atoms.numbers, dtype=np.int64),
        positions=np.asarray(atoms.positions, dtype=np.float64),
        cell=np.asarray(atoms.cell.array, dtype=np.float64),
        pbc=np.asarray(atoms.pbc, dtype=bool),
        energy=energy,
        forces=forces,
        stress=stress,
        config_type=str(config_type),
        source=f"{path}:{k}",
    )
    if "row_id" in atoms.info:
        frame.info["row_id"] = atoms.info["row_id"]
    return frame


# ---------------------------------------------------------------- public


def iter_frames(
    path, key_map=None, index=":", require=("energy", "forces"), min_distance=0.5, elements=None
) -> Iterator[Frame]:
    """Stream validated frames from an extxyz file (or any ase.io format) or an ASE ``.db`` database.

    ``index`` selects frames like ase (``":"``, ``"10:20"``, ``-1``). ``require``: quantities whose absence
    is an error; others absent stay ``None``. See ``validate_frame`` for ``min_distance``/``elements``.
    """
    km = _as_key_map(key_map)
    require = _as_require(require)
    elements = as_atomic_numbers(elements)
    sel = _parse_index(index)
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file")
    if p.is_dir():
        raise DataError(f"{path}: is a directory, not a data file")
    if p.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    items = _iter_db(p, sel) if p.suffix.lower() == ".db" else _iter_ase(p, sel)
    # checks above run at call time; parsing and validation run lazily as frames are consumed
    return _validated(path, index, items, km, require, min_distance, elements)


def _validated(path, index, items, km, require, min_distance, elements) -> Iterator[Frame]:
    n = 0
    for k, atoms, scalars, arrays, results in items:
        frame = _make_frame(path, k, atoms, scalars, arrays, results, km, require)
        yield validate_frame(frame, min_distance=min_distance, elements=elements)
        n += 1
    if n == 0:
        raise DataError(f"{path}: no frames (index {index!r})")


def read_frames(path, key_map=None, index=":", require=("energy", "forces"), min_distance=0.5, elements=None) -> list[Frame]:
    """``list(iter_frames(...))``: all selected frames in memory."""
    return list(iter_frames(path, key_map, index, require, min_distance, elements))


def load_frames(path, key_map=None, require=(), elements=None, min_distance=0.5):
    """Validated frames from whatever a path holds: a data file (anything ``read_frames`` reads:
    extxyz, ASE database, ...), read into memory, or a directory converted by ``ridgeline
    convert``, memory-mapped as ``DiskFrames``.

    ``require`` and ``elements`` are checked on both; ``key_map`` and ``min_distance`` apply to
    data files only (a converted dataset was read and validated with them when it was written).
    """
    require = _as_require(require)
    if Path(path).is_dir():
        _as_key_map(key_map)
        numbers = as_atomic_numbers(elements)
        return DiskFrames(path).check(require, None if numbers is None else sorted(numbers))
    return read_frames(path, key_map, require=require, min_distance=min_distance, elements=elements)

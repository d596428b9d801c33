"""The i-PI server as a child process: started on an ``input.xml``, its output in ``ipi.log``, asked
to stop with SIGTERM (i-PI's soft exit: it closes its sockets and writes its files) and killed if
it does not, its failure told with the end of its log."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ...errors import ConfigError
from .client import IPIError
from .inputs import INPUT_FILE

LOG_FILE = "ipi.log"
STOP_WAIT_S = 15.0  # seconds a soft exit may take before the process is killed
_ERROR_LINE = re.compile(r"^(\w+(Error|Exception)|ERROR|\s*!\s*E\s*!|.*@SOFTEXIT)")


def ipi_executable() -> str:
    """i-PI's ``i-pi`` script beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "i-pi"
    found = str(beside) if beside.is_file() else shutil.which("i-pi")
    if not found:
        raise ConfigError("i-PI is not installed (no i-pi script beside this Python or on PATH): pip install ipi")
    return found


class IPIServer:
    """``IPIServer(folder)`` runs ``i-pi input.xml`` in ``folder``; use as a context manager (or
    call :meth:`stop`) so that the process never outlives the caller."""

    def __init__(self, folder, input_file: str = INPUT_FILE):
        self.folder = Path(folder)
        self.log_path = self.folder / LOG_FILE
        command = [sys.executable, ipi_executable(), input_file]
        # i-PI's arrays are small: one thread, so that it does not compete with the client's torch
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(command, cwd=self.folder, stdout=self._log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env)
        except BaseException:
            self._log.close()
            raise

    def __enter__(self) -> "IPIServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def dead(self) -> str | None:
        """None while i-PI runs; once it has exited, its status and the end of its log."""
        code = self.process.poll()
        return None if code is None else f"exit status {code}; {self.log_tail()}"

    def log_tail(self, lines: int = 6) -> str:
        """The error line of i-PI's log if it has one, else its last lines, with the log's path."""
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        errors = [line.strip() for line in text if _ERROR_LINE.match(line) and "Exiting cleanly" not in line]
        shown = errors[-2:] if errors else [line.strip() for line in text[-lines:] if line.strip()]
        return f"{' / '.join(shown) or 'its log is empty'} (log: {self.log_path})"

    def wait(self, timeout: float) -> int:
        """i-PI's exit status, waiting up to ``timeout`` s (then stopping it: :class:`IPIError`)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise IPIError(f"i-PI did not exit {timeout:g} s after the client's session ended; stopped. "
                           f"{self.log_tail()}") from None

    def stop(self) -> None:
        """Soft exit (SIGTERM), then SIGKILL after :data:`STOP_WAIT_S`; closes the log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


__all__ = ["IPIServer", "LOG_FILE", "ipi_executable"]

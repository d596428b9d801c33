"""Any ASE calculator (ridgeline's ``simulate.calculator.Calculator``, EMT, ...) as an i-PI client:
i-PI sends positions and cell, the client answers energy, forces and virial, over a UNIX or INET
socket. The protocol is ASE's :class:`ase.calculators.socketio.SocketClient`; this module adds the
wait for the server, the errors a user can act on, the end of a session, and the uncertainty
record.

A UNIX socket named ``address`` is the file ``/tmp/ipi_<address>`` (i-PI's and ASE's convention).
The client waits up to ``connect_timeout`` seconds for a server to listen, then raises
:class:`IPIError` naming the socket. The session ends when i-PI sends EXIT or closes the socket
(its run finished, it was stopped, or its process died): the client returns a
:class:`ClientResult` saying so, and never raises for it.

With a calculator that gives ``forces_sigma`` and/or ``out_of_domain`` (a ridgeline ensemble or
calibrated model file) the client records, per force call, the largest force sigma and the number of
atoms out of the model's domain (:class:`UncertaintyRecord`). One call is one bead's structure:
i-PI sends the beads of a step one after another, so a step is ``nbeads`` calls.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ...errors import ConfigError, RidgelineError
from ...files import atomic_write_bytes

DEFAULT_PORT = 31415


class IPIError(RidgelineError):
    """i-PI cannot be reached, or it stopped with an error (the message names the socket or holds
    the end of its log)."""


def socket_path(address: str) -> str:
    """The file of the UNIX socket i-PI binds for ``address`` (its ``sockets_prefix`` default)."""
    from ase.calculators.socketio import actualunixsocketname

    return actualunixsocketname(address)


def describe(address: str, mode: str, port: int) -> str:
    return f"UNIX socket {socket_path(address)}" if mode == "unix" else f"INET socket {address}:{port}"


@dataclass
class UncertaintyRecord:
    """Per force call: the largest force sigma (eV/Å; NaN where the calculator gave none) and the
    number of atoms flagged out of the domain."""

    max_forces_sigma: list = field(default_factory=list)
    atoms_out_of_domain: list = field(default_factory=list)

    @staticmethod
    def available(results: dict) -> bool:
        return "forces_sigma" in results or "out_of_domain" in results

    def add(self, results: dict) -> None:
        sigma = results.get("forces_sigma")
        self.max_forces_sigma.append(float(np.max(sigma)) if sigma is not None else float("nan"))
        self.atoms_out_of_domain.append(int(np.count_nonzero(results.get("out_of_domain", ()))))

    def summary(self) -> dict:
        sigma = np.asarray(self.max_forces_sigma, dtype=float)
        flagged = np.flatnonzero(np.asarray(self.atoms_out_of_domain) > 0)
        return {"calls": len(sigma),
                "max_forces_sigma": float(np.nanmax(sigma)) if np.isfinite(sigma).any() else None,
                "mean_max_forces_sigma": float(np.nanmean(sigma)) if np.isfinite(sigma).any() else None,
                "calls_out_of_domain": int(len(flagged)),
                "first_call_out_of_domain": int(flagged[0]) if len(flagged) else None}

    def write(self, path) -> None:
        """The summary and the per-call lists as one JSON file, written whole."""
        data = {**self.summary(), "max_forces_sigma_per_call": [None if np.isnan(s) else s for s in self.max_forces_sigma],
                "atoms_out_of_domain_per_call": self.atoms_out_of_domain}
        atomic_write_bytes(path, (json.dumps(data) + "\n").encode())


@dataclass
class ClientResult:
    calls: int  # force calls answered (one bead's structure each)
    reason: str  # why the session ended
    wall_s: float  # from the connection to the end
    uncertainty: UncertaintyRecord | None = None


def connect(address: str, mode: str = "unix", port: int = DEFAULT_PORT, connect_timeout: float = 60.0,
            alive: Callable[[], str | None] | None = None, timeout: float | None = None):
    """ASE's ``SocketClient`` connected to i-PI, retried until ``connect_timeout`` s have passed.
    ``alive`` (optional) returns a message when the server has died, which ends the wait at once."""
    from ase.calculators.socketio import SocketClient

    deadline = time.monotonic() + connect_timeout
    where = describe(address, mode, port)
    while True:
        try:
            if mode == "unix":
                return SocketClient(unixsocket=address, timeout=timeout)
            return SocketClient(host=address, port=port, timeout=timeout)
        except (FileNotFoundError, ConnectionRefusedError) as err:
            refused = isinstance(err, ConnectionRefusedError)
        except socket.gaierror as err:
            raise IPIError(f"{where}: unknown host ({err})") from None
        except PermissionError:
            raise IPIError(f"{where}: permission denied") from None
        dead = alive() if alive is not None else None
        if dead:
            raise IPIError(f"i-PI stopped before it listened on {where}: {dead}")
        if time.monotonic() >= deadline:
            what = ("connection refused: nobody listens there" if refused or mode == "inet" else
                    "the socket does not exist: no i-PI server runs with this address")
            raise IPIError(f"no i-PI server at {where} after {connect_timeout:g} s ({what})")
        time.sleep(0.05)


def run_client(atoms, calculator, address: str, mode: str = "unix", port: int = DEFAULT_PORT,
               connect_timeout: float = 60.0, stress: bool = False, uncertainty: bool | None = None,
               uncertainty_file=None, alive: Callable[[], str | None] | None = None,
               timeout: float | None = None) -> ClientResult:
    """Serve i-PI's force requests with ``calculator`` until i-PI ends the session (module
    docstring). ``atoms``: the structure i-PI runs (its species; positions and cell come from
    i-PI). ``stress``: send the virial (-V stress; needs a periodic cell), else a zero virial (NVT
    needs none). ``uncertainty``: True records force sigmas and domain flags (an error if the
    calculator gives none), None records them if it gives them, False never; ``uncertainty_file``:
    where the record goes (JSON, written at the end however the session ends). ``timeout``: seconds
    to wait for each message of i-PI (None: no limit)."""
    if mode not in ("unix", "inet"):
        raise ConfigError(f"socket mode must be 'unix' or 'inet', got {mode!r}")
    from ase.calculators.socketio import SocketClosed

    atoms = atoms.copy()
    atoms.calc = calculator
    if stress and not atoms.pbc.all():
        raise ConfigError("stress=True sends the virial, which needs a structure periodic in all three directions")
    client = connect(address, mode, port, connect_timeout, alive, timeout)
    start, calls, record, reason = time.monotonic(), 0, None, "i-PI ended the session (EXIT or closed socket)"
    try:
        for _ in client.irun(atoms, use_stress=stress):
            calls += 1
            if uncertainty is not False:
                results = calculator.results
                if record is None:
                    if UncertaintyRecord.available(results):
                        record = UncertaintyRecord()
                    elif uncertainty:
                        raise ConfigError("uncertainty=True: the calculator gives no forces_sigma nor out_of_domain "
                                          "(an ensemble or a model file calibrated by `ridgeline uq calibrate` does)")
                    else:
                        uncertainty = False
                if record is not None:
                    record.add(results)
    except (SocketClosed, BrokenPipeError, ConnectionResetError) as err:
        reason = f"i-PI went away mid-exchange ({type(err).__name__})"
    except TimeoutError:
        raise IPIError(f"{describe(address, mode, port)}: no message from i-PI in {timeout:g} s") from None
    finally:
        client.close()
        if record is not None and uncertainty_file is not None:
            record.write(Path(uncertainty_file))
    return ClientResult(calls, reason, time.monotonic() - start, record)


__all__ = ["ClientResult", "DEFAULT_PORT", "IPIError", "UncertaintyRecord", "connect", "run_client", "socket_path"]

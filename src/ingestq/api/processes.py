"""``serve --workers N``: N server processes, each with a listening socket of its own.

uvicorn's own supervisor binds one socket and every process accepts from it;
whichever wakes first takes all the connections waiting. Twenty clients that
connect at once were split 20/0 or 19/1 in about a third of the runs measured,
and the one busy process then made the tail (docs/api.md, Performance). Here the
parent binds N sockets to the same port with ``SO_REUSEPORT``, and Linux spreads
new connections over them evenly by their addresses. The parent keeps every
socket open: a process that dies leaves its socket, and the connections waiting
on it, to its replacement, so none is refused while it restarts. Elsewhere
(``SO_REUSEPORT`` does not spread connections on macOS or the BSDs) the processes
share one socket, as uvicorn's do.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from typing import Any

import uvicorn

from ingestq.errors import IngestqError

#: What uvicorn's server exits with when it could not start (the app would not
#: load, the socket would not listen): restarting would fail the same way.
STARTUP_FAILURE = 3
#: A process not serving this long after it was started is taken for stuck.
STARTUP_TIMEOUT_S = 60.0
#: One socket's process dying this many times within ``CRASH_WINDOW_S`` stops
#: the server: it would only die again.
MAX_CRASHES = 5
CRASH_WINDOW_S = 60.0
#: How long the processes have to finish their requests and exit once asked to
#: stop, before they are killed.
STOP_WAIT_S = 10.0
#: Whether the kernel spreads connections over ``SO_REUSEPORT`` sockets (Linux).
SPREADS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_spawn = multiprocessing.get_context("spawn")


class ServeError(IngestqError):
    """A server process could not start, or kept dying."""


def listeners(host: str, port: int, count: int) -> list[socket.socket]:
    """A listening socket on ``host:port`` for each of ``count`` processes: one each
    where the kernel spreads connections over them (:data:`SPREADS`), else one shared."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = (host.strip("[]"), port)
    out: list[socket.socket] = []
    try:
        # Linux lets any process of ours join a group of SO_REUSEPORT sockets: a
        # second serve on the same port would silently take half the traffic. A
        # plain socket cannot join, so binding one first finds the port in use.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
        for _ in range(count if SPREADS else 1):
            sock = socket.socket(family, socket.SOCK_STREAM)
            out.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if SPREADS:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(2048)
    except OSError as exc:
        for sock in out:
            sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return out if SPREADS else out * count


class _Server(uvicorn.Server):
    """uvicorn's server, which says when it has started serving."""

    def __init__(self, config: uvicorn.Config, ready: Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()


def _child(sock: socket.socket, options: dict[str, Any], ready: Event) -> None:
    """One server process: uvicorn on its socket (runs in the spawned child)."""
    # A session of its own: Ctrl-C and a hang-up reach the parent alone, which
    # stops every process with SIGTERM (a graceful stop for uvicorn).
    os.setsid()
    _stop_with(multiprocessing.parent_process())
    _Server(uvicorn.Config(**options), ready).run(sockets=[sock])


def _stop_with(parent: Any) -> None:
    """Stop gracefully if the parent dies (killed, out of memory), rather than serve
    on as an orphan that holds the port."""
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@dataclass
class _Slot:
    """One socket and the process serving it."""

    sock: socket.socket
    process: SpawnProcess | None = None
    ready: Event | None = None
    started_at: float = 0.0
    crashes: list[float] = field(default_factory=list)


@dataclass
class Supervisor:
    """Runs one process per socket and restarts any that dies, until told to stop."""

    sockets: list[socket.socket]
    options: dict[str, Any]
    say: Callable[[str], None] = print
    slots: list[_Slot] = field(default_factory=list)
    # Set by the signal handler, read by the loop: a handler may run between any two
    # bytecodes, so it must take no lock (threading.Event.set would).
    signalled: list[int] = field(default_factory=list)

    @property
    def processes(self) -> list[SpawnProcess]:
        return [slot.process for slot in self.slots if slot.process is not None]

    def run(self, ready: Callable[[], None] = lambda: None) -> None:
        """Serve until SIGINT, SIGTERM or SIGHUP, then stop every process (each
        finishing its requests first) and return; ``ready`` is called once all
        serve. :class:`ServeError` if a process cannot start or keeps dying."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            for sock in self.sockets:
                self.slots.append(_Slot(sock))
                self._start(self.slots[-1])
            told = False
            while not self.signalled:
                self._check()
                if not told and all(s.ready and s.ready.is_set() for s in self.slots):
                    told = True
                    ready()
                time.sleep(0.1)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.signalled.append(signum)

    def _start(self, slot: _Slot) -> None:
        slot.ready = _spawn.Event()
        slot.process = _spawn.Process(target=_child, args=(slot.sock, self.options, slot.ready))
        slot.started_at = time.monotonic()
        slot.process.start()

    def _check(self) -> None:
        """Restart a process that died; stop on one that cannot start."""
        for slot in self.slots:
            process, ready = slot.process, slot.ready
            assert process is not None and ready is not None
            serving = ready.is_set()
            if process.is_alive():
                if not serving and time.monotonic() - slot.started_at > STARTUP_TIMEOUT_S:
                    raise ServeError(
                        f"a server process did not start within {STARTUP_TIMEOUT_S:g} s"
                    )
                continue
            process.join()
            if self.signalled:
                return  # stopping: a process that ended on the same signal is no crash
            # Ending before it served, on its own (not killed by a signal): the app or
            # its socket is broken, and a restart would end the same way.
            code = process.exitcode
            if code == STARTUP_FAILURE or (not serving and code is not None and code >= 0):
                raise ServeError(
                    f"a server process could not start (exit code {code}; see the lines above)"
                )
            self._restart(slot, code)

    def _restart(self, slot: _Slot, code: int | None) -> None:
        now = time.monotonic()
        slot.crashes = [t for t in slot.crashes if now - t < CRASH_WINDOW_S] + [now]
        how = f"by signal {-code}" if code is not None and code < 0 else f"with code {code}"
        if len(slot.crashes) >= MAX_CRASHES:
            raise ServeError(
                f"a server process died {len(slot.crashes)} times within"
                f" {CRASH_WINDOW_S:g} s (the last {how}); stopping"
            )
        self.say(f"a server process ended {how}; starting another")
        self._start(slot)

    def _stop_all(self) -> None:
        for process in self.processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sock in self.sockets:
            sock.close()


def run_processes(
    host: str,
    port: int,
    count: int,
    options: dict[str, Any],
    ready: Callable[[], None],
    say: Callable[[str], None],
) -> None:
    """Serve ``options`` (uvicorn's, an app factory's import string) from ``count``
    processes on ``host:port``; ``ready`` is called once they all serve, ``say``
    with a line for each process that dies and is replaced."""
    Supervisor(listeners(host, port, count), options, say).run(ready)

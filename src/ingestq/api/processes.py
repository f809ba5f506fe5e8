"""``serve --workers N``: N server processes, each with a listening socket of its own.

uvicorn's own supervisor binds one socket and every process accepts from it;
whichever wakes first takes all the connections waiting. Twenty clients that
connect at once were split 20/0 or 19/1 in about a third of the runs measured,
and the one busy process then made the tail (docs/api.md, Performance). Here the
parent binds N sockets to the same port with ``SO_REUSEPORT``, and the kernel
spreads new connections over them evenly by their addresses. The parent keeps
every socket open: a process that dies leaves its socket, and the connections
waiting on it, to its replacement, so none is refused while it restarts.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from typing import Any

from ingestq.errors import IngestqError

#: What uvicorn's server exits with when it could not start (the app would not
#: load, the socket would not listen): restarting would fail the same way.
STARTUP_FAILURE = 3
#: A process that dies this many times within ``CRASH_WINDOW_S`` stops the server.
MAX_CRASHES = 5
CRASH_WINDOW_S = 60.0
#: How long a process has to finish its requests once asked to stop (uvicorn's
#: graceful shutdown), and then to exit, before it is killed.
GRACE_S = 3.0
STOP_WAIT_S = 10.0

# Sockets travel to spawned children as descriptors (multiprocessing's reducer).
multiprocessing.allow_connection_pickling()
_spawn = multiprocessing.get_context("spawn")


class ServeError(IngestqError):
    """A server process could not start, or kept dying."""


def listeners(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address, the kernel spreading connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = (host.strip("[]"), port)
    out: list[socket.socket] = []
    try:
        # The kernel lets any process of ours join a group of SO_REUSEPORT sockets:
        # a second serve on the same port would silently take half the traffic. A
        # plain socket cannot join, so binding one first finds the port in use.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            out.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(2048)
    except OSError as exc:
        for sock in out:
            sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return out


def _child(sock: socket.socket, options: dict[str, Any]) -> None:
    """One server process: uvicorn on its own socket (runs in the spawned child).
    uvicorn's own handlers make SIGINT and SIGTERM a graceful stop."""
    import uvicorn

    # uvicorn raises the signal that stopped it again once it has; the parent is
    # stopping every process anyway, so a Ctrl-C ends this one quietly.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(uvicorn.Config(**options)).run(sockets=[sock])


@dataclass
class Supervisor:
    """Runs one process per socket and restarts any that dies, until told to stop."""

    sockets: list[socket.socket]
    options: dict[str, Any]
    processes: list[SpawnProcess] = field(default_factory=list)
    crashes: list[float] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def _start(self, sock: socket.socket) -> SpawnProcess:
        process = _spawn.Process(target=_child, args=(sock, self.options), daemon=False)
        process.start()
        return process

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop every process (each finishing its
        requests first) and return; :class:`ServeError` if a process cannot run."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            self.processes = [self._start(sock) for sock in self.sockets]
            while not self.stopping.wait(0.2):
                self._restart_dead()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping.set()

    def _restart_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive() or self.stopping.is_set():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                raise ServeError("a server process could not start (see the lines above)")
            now = time.monotonic()
            self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW_S] + [now]
            if len(self.crashes) >= MAX_CRASHES:
                raise ServeError(
                    f"server processes died {len(self.crashes)} times within"
                    f" {CRASH_WINDOW_S:g} s (last exit code {process.exitcode}); stopping"
                )
            self.processes[index] = self._start(self.sockets[index])

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


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_processes(
    host: str, port: int, count: int, options: dict[str, Any], ready: Callable[[], None]
) -> None:
    """Serve ``options`` (uvicorn's, an app factory's import string) from ``count``
    processes on ``host:port``; ``ready`` is called once the sockets listen."""
    sockets = listeners(host, port, count)
    ready()
    Supervisor(sockets, options).run()

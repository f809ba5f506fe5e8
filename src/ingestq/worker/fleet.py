"""Many workers, many hosts: a worker's name, which mixes of backends are safe, and
saying once a minute (not forty times a second) that a server is unreachable.

A worker is named ``host:pid``, the name its job leases carry. What is safe:

- the state on a server (PostgreSQL) is shared by every worker that names it;
  then the queue and the vectors must be shared too as soon as a second host
  joins: a queue or a Chroma embedded in one host's home would be seen by that
  host alone. A worker refuses to start beside such a mix, in one line.
- the state embedded in a home (SQLite) belongs to one host: its home may sit
  on a network drive, but a worker refuses to start where a worker on another
  host used the same home within a lease (the lock file says who and when).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from ingestq.config import Settings
from ingestq.errors import ConfigError, QueueError, StateUnavailableError, StoreUnavailableError
from ingestq.masking import mask
from ingestq.state import workers
from ingestq.state.db import Database

log = logging.getLogger(__name__)

#: At most one "unreachable" line per server per this many seconds.
SAY_EVERY_S = 60.0
#: The errors that mean a server is out of reach, not that a document is bad.
UNREACHABLE = (StateUnavailableError, StoreUnavailableError, QueueError)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_here(owners: list[str]) -> list[str]:
    """The owners among ``owners`` that ran on this host and whose process is gone.

    Their leases need not run out: a worker killed here and started again
    takes its jobs back at once, as on an embedded home. (A recycled pid could
    hide a dead owner; its lease then expires as on any other host.)
    """
    host = socket.gethostname()
    dead = []
    for owner in owners:
        there, _, pid = owner.rpartition(":")
        if there != host or not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.append(owner)
        except PermissionError:  # alive, and someone else's
            pass
    return dead


def describe(settings: Settings) -> str:
    """Where the state, the queue and the vectors are, credentials masked: for the log."""
    state = mask(settings.database_url) if settings.database_url else str(settings.state_db)
    setup = setup_of(settings)
    queue, vectors = setup["queue"], setup["vectors"]
    return f"home {settings.home}, state {state}, queue {queue}, vectors {vectors}"


def setup_of(settings: Settings) -> dict[str, str]:
    """Where this worker's queue and vectors are: the same strings on every host that
    shares them, a host's own name where they are embedded."""
    host = socket.gethostname()
    queue = mask(settings.queue_url) + "#" + settings.queue_name if settings.queue_url else ""
    vectors = (
        f"{mask(settings.chroma_url)}#{settings.chroma_tenant}/{settings.chroma_database}"
        if settings.chroma_url
        else ""
    )
    return {
        "queue": queue or f"embedded on {host} ({settings.queue_db})",
        "vectors": vectors or f"embedded on {host} ({settings.chroma_dir})",
    }


def join(db: Database, settings: Settings, owner: str) -> None:
    """Register this worker with the shared state, or refuse an unsafe mix (ConfigError)."""
    mine = setup_of(settings)
    host = socket.gethostname()
    for other in workers.alive(db, settings.lease_s):
        if other.owner == owner:
            continue
        theirs = json.loads(other.setup)
        for part, variable in (("queue", "INGESTQ_QUEUE_URL"), ("vectors", "INGESTQ_CHROMA_URL")):
            embedded = mine[part].startswith("embedded") or theirs[part].startswith("embedded")
            if embedded and (other.host != host or mine[part] != theirs[part]):
                raise ConfigError(
                    f"the state is shared with worker {other.owner}, but the {part} are not"
                    f" ({mine[part]} here, {theirs[part]} there): set {variable} on every"
                    " worker so that all of them use one"
                )
    workers.register(db, owner, host, os.getpid(), json.dumps(mine, sort_keys=True))


class Throttled:
    """Logs "X is unreachable" at most once a minute per X, and "X is back" once."""

    def __init__(self) -> None:
        self._said: dict[str, float] = {}
        self._lock = threading.Lock()

    def failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            last = self._said.get(what)
            if last is not None and time.monotonic() - last < SAY_EVERY_S:
                return
            self._said[what] = time.monotonic()
        log.warning("%s: %s; retrying (said at most once a minute)", what, exc)

    def ok(self, what: str) -> None:
        with self._lock:
            if self._said.pop(what, None) is not None:
                log.warning("%s: reachable again", what)


def is_unreachable(exc: BaseException) -> bool:
    return isinstance(exc, UNREACHABLE)

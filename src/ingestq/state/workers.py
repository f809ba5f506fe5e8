"""Workers sharing one state database: who runs where, and who does the chores.

Every worker registers itself (``host:pid``, the same name its job leases
carry) with where its queue and vectors are, and renews that as it runs; so a
worker can tell, at start, whether it would be unsafe beside the others (two
hosts each writing vectors into a Chroma of their own would split the store).

Periodic work that every worker could do (the recovery pass: lost leases, lost
messages, stray vectors) is done by one at a time: a lease row names the
worker that holds it until when. It is taken in one conditional write, so two
workers racing for it cannot both win; one that dies simply lets it expire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingestq.state.db import Database
from ingestq.times import ago, from_now, now


@dataclass(frozen=True)
class WorkerInfo:
    owner: str  # host:pid
    host: str
    pid: int
    setup: str
    started_at: str
    seen_at: str


def register(db: Database, owner: str, host: str, pid: int, setup: str) -> None:
    """Record a starting worker (replacing a dead one's row under the same name)."""
    stamp = now()
    db.execute(
        "INSERT INTO workers (owner, host, pid, setup, started_at, seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE SET host = excluded.host,"
        " pid = excluded.pid, setup = excluded.setup, started_at = excluded.started_at,"
        " seen_at = excluded.seen_at",
        (owner, host, pid, setup, stamp, stamp),
    )


def seen(db: Database, owner: str) -> None:
    """Renew a running worker's presence."""
    db.execute("UPDATE workers SET seen_at = ? WHERE owner = ?", (now(), owner))


def unregister(db: Database, owner: str) -> None:
    """Forget a worker that stopped cleanly; it also gives up any lease it held."""
    with db.transaction():
        db.execute("DELETE FROM workers WHERE owner = ?", (owner,))
        db.execute("DELETE FROM leases WHERE owner = ?", (owner,))


def forget_gone(db: Database, silent_s: float) -> int:
    """Forget workers not seen for ``silent_s`` seconds (killed ones never unregister),
    and any lease they still name; how many were forgotten."""
    horizon = ago(silent_s)
    with db.transaction():
        db.execute(
            "DELETE FROM leases WHERE owner IN (SELECT owner FROM workers WHERE seen_at < ?)",
            (horizon,),
        )
        return db.execute("DELETE FROM workers WHERE seen_at < ?", (horizon,))


def alive(db: Database, within_s: float) -> list[WorkerInfo]:
    """Workers seen in the last ``within_s`` seconds, oldest first."""
    rows = db.fetchall(
        "SELECT owner, host, pid, setup, started_at, seen_at FROM workers"
        " WHERE seen_at >= ? ORDER BY started_at, owner",
        (ago(within_s),),
    )
    return [WorkerInfo(**r) for r in rows]


def take_lease(
    db: Database, name: str, owner: str, seconds: float, dead: Sequence[str] = ()
) -> bool:
    """Hold the lease ``name`` for ``seconds`` if it is free, expired, ours already,
    or held by one of the ``dead``."""
    stamp, until = now(), from_now(seconds)
    holders = f" OR owner IN ({', '.join('?' * len(dead))})" if dead else ""
    with db.transaction():
        db.execute(
            "INSERT INTO leases (name, owner, until_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO NOTHING",
            (name, owner, until),
        )
        taken = db.execute(
            "UPDATE leases SET owner = ?, until_at = ? WHERE name = ?"
            f" AND (owner = ? OR until_at < ?{holders})",
            (owner, until, name, owner, stamp, *dead),
        )
    return taken > 0


def lease_holders(db: Database) -> list[str]:
    """Every worker that holds a lease now or did."""
    return [r["owner"] for r in db.fetchall("SELECT DISTINCT owner FROM leases")]

"""The SQLite job queue's storage with a bulk write: many messages, one transaction.

Huey's ``SqliteStorage`` commits (and syncs to the disk) each message on its own,
about 4 ms apiece here: a sync of 50,000 new files spent minutes enqueueing.
:func:`bulk_sqlite_storage` adds :meth:`enqueue_many`, which writes the rows
Huey's own ``enqueue`` writes (same statement, columns and values) for a whole
batch in one transaction. It lives here because every SQL statement of ingestq
does, the queue file's included; the queue layer receives it from its caller.

Its connections commit as ``state.db``'s do, with ``synchronous=NORMAL``: in WAL
mode a commit then waits for no disk sync, and a power cut may lose the last
commits but never corrupts the file. Huey's default (``FULL``) syncs every
message, which serialised a server's uploads behind the disk (20 at once waited
80 ms each for the queue alone). The sync buys nothing here: the state database,
which records the job before its message is written, is itself ``NORMAL``, and
recovery re-enqueues every waiting job the queue does not hold.

Huey is not imported here: the caller passes the base class it imported (the
queue imports huey with the Redis and PostgreSQL clients hidden, to start fast).
"""

from __future__ import annotations

import threading
from typing import Any

#: Huey 3.5's own statement for one message (``SqliteStorage.enqueue``).
INSERT_TASK = "insert into task (queue, data, priority) values (?, ?, ?)"

_made: dict[type[Any], type[Any]] = {}
_made_lock = threading.Lock()


def bulk_sqlite_storage(base: type[Any]) -> type[Any]:
    """``base`` (Huey's ``SqliteStorage``) with ``enqueue_many(datas)``; made once per base."""
    with _made_lock:
        made = _made.get(base)
        if made is None:
            made = _made[base] = _subclass(base)
        return made


def _subclass(base: type[Any]) -> type[Any]:
    class BulkSqliteStorage(base):  # type: ignore[misc]
        """Huey's SQLite storage, plus a batch of messages in one transaction, and
        commits that do not wait for the disk (see the module's docstring)."""

        def _create_connection(self) -> Any:
            conn = super()._create_connection()
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        def enqueue_many(self, datas: list[bytes]) -> None:
            """Insert ``datas`` (serialized messages, priority 0) in one transaction.

            Under Huey's lock and ``begin exclusive``, as its ``enqueue``: all are
            committed, and synced, or none is.
            """
            if not datas:
                return
            rows = [(self.name, self.to_blob(data), 0) for data in datas]
            with self.db(commit=True) as cursor:
                cursor.executemany(INSERT_TASK, rows)

    return BulkSqliteStorage

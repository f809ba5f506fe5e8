"""The state layer: jobs, their history, versions and callbacks, in one database.

Every SQL statement of ingestq lives in this package. Everything else holds a
:class:`~ingestq.state.db.Database` from :func:`open_state` and calls the
functions of :mod:`jobs`, :mod:`lifecycle`, :mod:`events`, :mod:`versions`,
:mod:`outbox`, :mod:`recovery`, :mod:`metrics` and :mod:`retention` (and the blob
store on PostgreSQL those of :mod:`blobdata`). The SQLite job queue's batch write,
Huey's own insert, is :mod:`queue_storage`'s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ingestq.config import Settings
from ingestq.home import prepare_home
from ingestq.state.db import Database, Params, Row, SqliteDatabase, waiting_at_most

#: Handles kept open by :func:`shared_state`, by the database they reach.
_shared: dict[tuple[str | None, str], Database] = {}
_shared_lock = threading.Lock()


def _key(settings: Settings) -> tuple[str | None, str]:
    return settings.database_url, str(settings.state_db)


def open_state(settings: Settings, connections: int = 4) -> Database:
    """The state database of ``settings``: PostgreSQL at ``INGESTQ_DATABASE_URL``, else
    ``state.db`` under the home. ``connections`` bounds a server pool: as many as the
    process has threads that use the database at once.

    Inside :func:`shared_state` for the same database, the shared handle, lent:
    its ``close`` leaves it open."""
    with _shared_lock:
        shared = _shared.get(_key(settings))
    if shared is not None:
        return _Borrowed(shared)
    if settings.database_url:
        from ingestq.state.postgres import PostgresDatabase  # imports psycopg

        return PostgresDatabase(settings.database_url, connections)
    prepare_home(settings)
    return SqliteDatabase(settings.state_db)


@contextmanager
def shared_state(settings: Settings, connections: int = 8) -> Iterator[Database]:
    """One handle on the state database for the whole process while this lasts.

    A long-lived process that serves many short requests (``ingestq serve``) would
    otherwise open the database for each: a connection, its pragmas and schema
    check on SQLite, a whole connection pool on PostgreSQL, several times a request.
    """
    db = open_state(settings, connections)
    with _shared_lock:
        _shared[_key(settings)] = db
    try:
        yield db
    finally:
        with _shared_lock:
            _shared.pop(_key(settings), None)
        db.close()


class _Borrowed:
    """A shared :class:`Database`, lent: everything but ``close`` goes to it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.dialect = db.dialect

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._db.executemany(sql, rows)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return self._db.fetchall(sql, params)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return self._db.fetchone(sql, params)

    def transaction(self) -> AbstractContextManager[None]:
        return self._db.transaction()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)  # what a backend adds to the protocol

    def close(self) -> None:
        pass  # the lender closes it


__all__ = ["Database", "open_state", "shared_state", "waiting_at_most"]

"""The state layer: jobs, their history, versions and callbacks, in one database.

Every SQL statement of ingestq lives in this package. Everything else holds a
:class:`~ingestq.state.db.Database` from :func:`open_state` and calls the
functions of :mod:`jobs`, :mod:`lifecycle`, :mod:`events`, :mod:`versions`,
:mod:`outbox`, :mod:`recovery`, :mod:`metrics` and :mod:`retention`.
"""

from __future__ import annotations

from ingestq.config import Settings
from ingestq.home import prepare_home
from ingestq.state.db import Database, SqliteDatabase


def open_state(settings: Settings, connections: int = 4) -> Database:
    """The state database of ``settings``: PostgreSQL at ``INGESTQ_DATABASE_URL``, else
    ``state.db`` under the home. ``connections`` bounds a server pool: as many as the
    process has threads that use the database at once."""
    if settings.database_url:
        from ingestq.state.postgres import PostgresDatabase  # imports psycopg

        return PostgresDatabase(settings.database_url, connections)
    prepare_home(settings)
    return SqliteDatabase(settings.state_db)


__all__ = ["Database", "open_state"]

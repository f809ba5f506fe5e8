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


def open_state(settings: Settings) -> Database:
    """The state database of ``settings``: ``state.db`` under the home."""
    prepare_home(settings)
    return SqliteDatabase(settings.state_db)


__all__ = ["Database", "open_state"]

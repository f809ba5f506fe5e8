"""The state database on PostgreSQL, through psycopg 3 and its connection pool.

The statements are the SQLite ones: ``?`` placeholders become ``%s`` here, and
every text column is declared ``COLLATE "C"`` (see :mod:`pg_schema`), so text
sorts and compares by bytes as in SQLite, whatever the database's locale.

Transactions keep SQLite's guarantee too. SQLite runs one writing transaction
at a time (``BEGIN IMMEDIATE``), and the state layer's read-then-write
transactions (a claim, a sync, a dedupe at submit) were written for that. So a
transaction here first takes one transaction-scoped advisory lock, per schema:
writers queue on it as they would on SQLite's lock, while single statements
(heartbeats, reads) run beside them. Writes are short, so the ceiling is high:
see docs/servers.md for the measured figures.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ingestq.errors import ConfigError, StateError, StateUnavailableError, UnreachableError
from ingestq.masking import mask, scrub
from ingestq.state.db import Params, Row
from ingestq.state.pg_schema import MIGRATIONS

#: Seconds to wait for a connection: a server that takes longer is down for us.
CONNECT_TIMEOUT_S = 10


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """A statement written for SQLite, for psycopg: ``?`` is ``%s``, a literal ``%`` is ``%%``."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDatabase:
    """A :class:`~ingestq.state.db.Database` on PostgreSQL, shared by a process's threads."""

    dialect = "postgresql"

    def __init__(self, url: str, max_connections: int = 4) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self.where = mask(url)
        with self._translated(connecting=True):
            schema = _prepare(url)
        # One lock per schema: deployments sharing a database do not queue on each other.
        self._writer_key = f"ingestq.writer.{schema}"
        self._local = threading.local()
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(2, max_connections),
            kwargs={"autocommit": True, "row_factory": _dict_row(), "connect_timeout": 5},
            # A connection the server dropped (a restart, pg_terminate_backend)
            # is found and replaced when it is borrowed, not when a statement fails.
            check=ConnectionPool.check_connection,
            timeout=CONNECT_TIMEOUT_S,
            open=False,
            name="ingestq-state",
        )
        with self._translated(connecting=True):
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)

    @contextmanager
    def _translated(self, connecting: bool = False) -> Iterator[None]:
        """psycopg's errors as ours, with the URL's password masked."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            yield
        except (ConfigError, StateError):
            raise
        except (psycopg.OperationalError, PoolTimeout) as exc:
            reason = _reason(exc, self.url)
            if connecting:
                raise UnreachableError(
                    f"cannot use the state database at {self.where}: {reason}"
                ) from None
            raise StateUnavailableError(f"the state database is unreachable: {reason}") from None
        except psycopg.Error as exc:
            raise StateError(f"the state database failed: {_reason(exc, self.url)}") from None

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        pinned = getattr(self._local, "conn", None)
        if pinned is not None:
            yield pinned
            return
        with self._translated(), self._pool.connection() as conn:
            yield conn

    # -- the protocol -----------------------------------------------------------
    def execute(self, sql: str, params: Params = ()) -> int:
        with self._connection() as conn, self._translated():
            return int(conn.execute(translate(sql), params).rowcount)

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with self._connection() as conn, self._translated(), conn.cursor() as cursor:
            cursor.executemany(translate(sql), list(rows))

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self._connection() as conn, self._translated():
            return list(conn.execute(translate(sql), params).fetchall())

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with self._connection() as conn, self._translated():
            row: Row | None = conn.execute(translate(sql), params).fetchone()
            return row

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One writer at a time, as on SQLite (see the module's docstring)."""
        if getattr(self._local, "conn", None) is not None:
            yield  # already inside one: join it
            return
        with self._connection() as conn, self._translated(), conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._writer_key,))
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def close(self) -> None:
        self._pool.close()


def _dict_row() -> Any:
    from psycopg.rows import dict_row

    return dict_row


def _reason(exc: BaseException, url: str) -> str:
    """The driver's message on one line, with any password masked."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return scrub(text, url)[:300]


def _prepare(url: str) -> str:
    """Check the server and bring its schema up to date; return the schema's name.

    Migrations run under a session advisory lock, so workers starting together
    apply each one once; a schema newer than this ingestq is refused.
    """
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()
        if schema is None or schema[0] is None:
            raise ConfigError(
                f"the state database at {mask(url)} has no schema to use: create it, or fix"
                " the search_path the URL sets"
            )
        name = str(schema[0])
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"ingestq.migrate.{name}",))
        try:
            _migrate(conn, url)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"ingestq.migrate.{name}",))
    return name


def _migrate(conn: Any, url: str) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS ingestq_schema (version BIGINT NOT NULL)")
    row = conn.execute("SELECT version FROM ingestq_schema").fetchone()
    if row is None:
        conn.execute("INSERT INTO ingestq_schema (version) VALUES (0)")
    done = int(row[0]) if row else 0
    if done > len(MIGRATIONS):
        raise ConfigError(
            f"the state database at {mask(url)} was written by a newer ingestq (schema"
            f" {done}, this one knows {len(MIGRATIONS)}); upgrade ingestq"
        )
    for number, statements in enumerate(MIGRATIONS[done:], start=done + 1):
        with conn.transaction():
            for statement in statements:
                conn.execute(statement)
            conn.execute("UPDATE ingestq_schema SET version = %s", (number,))

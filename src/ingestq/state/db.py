"""Connections to the state database: the seam every SQL statement goes through.

The state database is the source of truth for every job. The queue only
carries job ids; if the two disagree, the state database wins (see
:mod:`ingestq.state.recovery`).

Code outside :mod:`ingestq.state` holds a :class:`Database` but never writes
SQL: it calls the functions of the state modules, which do. Statements use
``?`` placeholders and rows come back as dicts, read by column name, so the
same statement serves every backend that speaks this protocol.

A :class:`Database` is safe to share between threads. Each statement borrows a
connection from a small pool and gives it back; a transaction keeps its
connection for its whole length, and statements the same thread runs inside
it join it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from ingestq.errors import StateBusyError, StateError, WriterBusy
from ingestq.home import make_private
from ingestq.state.migrations import MIGRATIONS

Row = dict[str, Any]
Params = Sequence[Any]

BUSY_TIMEOUT_S = 30.0


class Database(Protocol):
    """A handle on the state database, shared by every thread of a process."""

    #: "sqlite" or "postgresql": the few statements that differ look at it.
    dialect: str

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return how many rows it changed."""
        ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement once per row of parameters."""
        ...

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of a query."""
        ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of a query, or None."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """All of it lands, or none of it; statements inside join it."""
        ...

    def close(self) -> None:
        """Close every connection; the handle is unusable afterwards."""
        ...


def fetchval(db: Database, sql: str, params: Params = ()) -> Any:
    """The first column of the first row, or None."""
    row = db.fetchone(sql, params)
    return next(iter(row.values())) if row else None


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


class SqliteDatabase:
    """``state.db`` under the home: WAL, so readers never block the writer, and a
    generous busy timeout, so an ``ingestq add`` run while the worker writes waits
    its turn instead of failing with "database is locked"."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.resolve()  # the key of this process's writer lock
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # the connection of the thread's open transaction
        self._closed = False
        # Open one now: a corrupt or too new file is refused here, not mid-command.
        self._idle.append(self._open())

    # -- connections ------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves, so every transaction is
        # explicit and short.
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = _dict_row
        make_private(self.path)  # its WAL and shared-memory files take its mode
        try:
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            version = conn.execute("PRAGMA user_version").fetchone()["user_version"]
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StateError(f"{self.path} cannot be used: {exc}") from exc
        if version > len(MIGRATIONS):
            conn.close()
            raise StateError(
                f"{self.path} was written by a newer ingestq (schema {version}, this one "
                f"knows {len(MIGRATIONS)}); upgrade ingestq"
            )
        if version < len(MIGRATIONS):
            _migrate(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        pinned: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if pinned is not None:
            yield pinned
            return
        with self._lock:
            if self._closed:
                raise StateError("the state database handle is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            with _translated():
                yield conn
        finally:
            with self._lock:
                if self._closed:
                    conn.close()
                else:
                    self._idle.append(conn)

    # -- the protocol -----------------------------------------------------------
    def execute(self, sql: str, params: Params = ()) -> int:
        with self._connection() as conn:
            return conn.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with self._connection() as conn:
            conn.executemany(sql, rows)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        with self._connection() as conn:
            return list(conn.execute(sql, params).fetchall())

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        with self._connection() as conn:
            row: Row | None = conn.execute(sql, params).fetchone()
            return row

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` takes the write lock up front, so two writers queue on
        the busy timeout rather than failing mid-transaction on a lock upgrade."""
        if getattr(self._local, "conn", None) is not None:
            yield  # already inside one: join it
            return
        with _writing(self._file), self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            self._local.conn = conn
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            finally:
                self._local.conn = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _Turn:
    """The right to write one database file: a lock for the threads of this process,
    then an ``flock`` on a file beside the database for the processes."""

    def __init__(self, path: Path) -> None:
        self.threads = threading.Lock()
        self.path = path.with_name(path.name + "-writer")
        self.fd: int | None = None
        self.pid = 0  # the process that opened ``fd``: a fork must open its own
        self.holder: int | None = None  # the thread holding the turn (it is re-entrant)
        self.depth = 0
        self.locked = False  # whether the holder holds the flock too

    def _lock_file(self, wait: bool = True) -> bool | None:
        """Take the processes' turn; False where the file system offers none (a
        read-only home, a network file system without locks): SQLite's own locking
        alone then, as before. None if another process holds it and ``wait`` is false."""
        # A forked child shares its parent's open file, and with it the parent's
        # flock: it would take a turn the parent holds. It opens its own.
        if self.fd is None or self.pid != os.getpid():
            try:
                self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                self.fd = None
                return False
            self.pid = os.getpid()
        try:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    return None
                fcntl.flock(self.fd, fcntl.LOCK_EX)  # another process's transaction: short
        except OSError:
            return False
        return True

    def acquire(self, file: Path) -> None:
        me = threading.get_ident()
        if self.holder == me:
            self.depth += 1
            return
        patience: float | None = getattr(_patience, "seconds", None)
        if patience is None:
            self._acquire_waiting(file)
        else:
            self._acquire_within(file, patience)
        self.holder, self.depth = me, 1

    def _acquire_waiting(self, file: Path) -> None:
        """Take the turn, waiting up to the busy timeout for this process's threads
        and as long as it takes for another process's transaction."""
        if not self.threads.acquire(timeout=BUSY_TIMEOUT_S):
            raise StateBusyError(f"the state database is busy: {file} stayed locked")
        try:
            self.locked = bool(self._lock_file())
        except BaseException:
            self.threads.release()
            raise

    def _acquire_within(self, file: Path, seconds: float) -> None:
        """Take the turn within ``seconds``, or raise :class:`WriterBusy`."""
        deadline = time.monotonic() + seconds
        if not self.threads.acquire(timeout=seconds):
            raise WriterBusy(f"another writer holds {file}")
        try:
            # flock has no timeout: try, and try again until the deadline.
            while (taken := self._lock_file(wait=False)) is None:
                if time.monotonic() >= deadline:
                    raise WriterBusy(f"another process writes {file}")
                time.sleep(0.0002)
        except BaseException:
            self.threads.release()
            raise
        self.locked = taken

    def release(self) -> None:
        self.depth -= 1
        if self.depth:
            return
        self.holder = None
        if self.locked and self.fd is not None:
            self.locked = False
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.threads.release()


#: How long this thread will wait for a write turn, where it set a limit.
_patience = threading.local()


@contextmanager
def waiting_at_most(seconds: float) -> Iterator[None]:
    """Within this block, a write transaction of this thread on SQLite that cannot
    take its turn within ``seconds`` raises :class:`WriterBusy` before it starts.

    For work on an event loop, which must not stall behind a long transaction of
    another process (an ``add`` of thousands of files writes them in one). Reads
    never wait in WAL mode; a write outside a transaction is not bounded.
    """
    before = getattr(_patience, "seconds", None)
    _patience.seconds = seconds
    try:
        yield
    finally:
        _patience.seconds = before


#: One turn per database file, for the writers of this process.
_turns: dict[Path, _Turn] = {}
_turns_lock = threading.Lock()


@contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Hold the turn to write ``path``, among this process's threads and other processes.

    SQLite makes a writer that finds the file locked sleep and retry (1, 2, 5 ...
    up to 100 ms at a time), and the retries are unfair: with 20 server threads
    writing at once, one waited over a second for a lock held 3 ms at a time.
    Threads of one process queue on a lock instead, and the processes that share
    the file (``serve --workers N``, a worker, an ``add``) on an ``flock`` of a file
    beside it, which wakes a waiter as soon as it is free. With 20 upload clients
    on two server processes, transactions that waited in SQLite's handler for up
    to 55 ms (p99) then waited in the kernel. Only a process that does not take
    the turn (another SQLite client) is left to SQLite's busy timeout.
    """
    with _turns_lock:
        turn = _turns.setdefault(path, _Turn(path))
    turn.acquire(path)
    try:
        yield
    finally:
        turn.release()


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the database in WAL mode (it stays so), waiting out a process that holds a lock.

    Switching needs the database to itself, and SQLite answers "database is
    locked" at once instead of waiting, as when a worker and an `add` open a
    new home together; so wait here, as long as any lock is waited for.
    """
    if conn.execute("PRAGMA journal_mode").fetchone()["journal_mode"] == "wal":
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def _translated() -> Iterator[None]:
    """sqlite3's errors as ours: nothing outside the state layer sees sqlite3."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise StateBusyError(f"the state database is busy: {exc}") from exc
        raise StateError(f"the state database failed: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise StateError(f"the state database failed: {exc}") from exc


def _migrate(conn: sqlite3.Connection) -> None:
    # Imported here: sqlite-utils pulls in numpy, which the fast paths never need.
    import sqlite_utils

    conn.row_factory = None  # sqlite-utils reads rows by position
    db = sqlite_utils.Database(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated first.
        done = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, migration in enumerate(MIGRATIONS[done:], start=done + 1):
            migration(db)
            conn.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.row_factory = _dict_row
    conn.execute("COMMIT")

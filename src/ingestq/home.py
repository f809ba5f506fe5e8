"""The home directory: created private to its owner, and kept that way.

``INGESTQ_HOME`` holds every document added and every chunk's text, so, as ssh
and gpg do with theirs, ingestq makes it readable by its owner only: the
directory 0700 and its databases 0600. A home made looser (by an older ingestq,
or by hand) is tightened at first use, and that is said once.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

from ingestq.config import Settings
from ingestq.errors import StateError

log = logging.getLogger("ingestq")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

_prepared: set[Path] = set()
_lock = threading.Lock()


def prepare_home(settings: Settings) -> None:
    """Create the home if needed, private; tighten it (once per process) if it is not."""
    home = settings.home
    with _lock:
        if home in _prepared:
            return
        _check_not_truncated(settings)
        fresh = not home.exists()
        home.parent.mkdir(parents=True, exist_ok=True)
        home.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        tightened = [p for p in _known(settings) if _tighten(p)]
        if tightened and not fresh:
            log.warning(
                "made %s private to its owner (it held %d path(s) others could read)",
                home,
                len(tightened),
            )
        _prepared.add(home)


def _check_not_truncated(settings: Settings) -> None:
    """An empty state.db beside a store full of chunks is a lost state, not a new home.

    Taken for new, it would start afresh while the old chunks stayed searchable
    with nothing to account for them.
    """
    state, store = settings.state_db, settings.chroma_dir / "chroma.sqlite3"
    if _size(state) == 0 and (_size(store) or 0) > 0:
        raise StateError(
            f"{state} is empty, but {settings.chroma_dir} holds chunks: the state database"
            " was lost; restore it from a backup, or move the home aside to start afresh"
        )


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def make_private(path: Path) -> None:
    """Make a file the home just gained (a new database) readable by its owner only."""
    _tighten(path)


def _known(settings: Settings) -> list[Path]:
    home = settings.home
    names = ("state.db", "state.db-wal", "state.db-shm", "queue.db", "queue.db-wal",
             "queue.db-shm", "worker.lock")  # fmt: skip
    return [
        home,
        *(home / name for name in names),
        settings.blobs_dir,
        settings.chroma_dir,
        settings.chroma_dir / "chroma.sqlite3",
    ]


def _tighten(path: Path) -> bool:
    """Take group and other permissions off ``path``; True if there were any."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return False
    os.chmod(path, PRIVATE_DIR if stat.S_ISDIR(mode) else PRIVATE_FILE)
    return True

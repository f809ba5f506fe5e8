"""Settings, read once from the environment.

Everything ingestq writes lives under one directory, ``INGESTQ_HOME``. The other
``INGESTQ_*`` variables tune limits. :func:`load_settings` validates them so a typo
fails with a clear message instead of a traceback deep in the worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ingestq.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_COLLECTION = "default"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration for one process."""

    home: Path
    max_file_mb: float = 100.0
    model: str = DEFAULT_MODEL
    job_timeout_s: float = 300.0
    embed_batch_size: int = 64
    shutdown_grace_s: float = 30.0
    poll_interval_s: float = 0.25
    lease_s: float = 60.0

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"

    @property
    def queue_db(self) -> Path:
        return self.home / "queue.db"

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def worker_lock(self) -> Path:
        return self.home / "worker.lock"

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


def default_home() -> Path:
    # platformdirs is small and imports in milliseconds, unlike the heavy stack.
    import platformdirs

    return Path(platformdirs.user_data_dir("ingestq", appauthor=False))


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    home_raw = env.get("INGESTQ_HOME")
    home = Path(home_raw).expanduser() if home_raw else default_home()
    return Settings(
        home=home.resolve(),
        max_file_mb=_number(env, "INGESTQ_MAX_FILE_MB", 100.0, minimum=0.001),
        model=env.get("INGESTQ_MODEL") or DEFAULT_MODEL,
        job_timeout_s=_number(env, "INGESTQ_JOB_TIMEOUT", 300.0, minimum=0.1),
        embed_batch_size=int(_number(env, "INGESTQ_EMBED_BATCH", 64, minimum=1)),
        shutdown_grace_s=_number(env, "INGESTQ_SHUTDOWN_GRACE", 30.0),
        poll_interval_s=_number(env, "INGESTQ_POLL_INTERVAL", 0.25, minimum=0.01),
    )

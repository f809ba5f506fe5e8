"""Settings, read once from the environment.

Everything ingestq writes lives under one directory, ``INGESTQ_HOME``. The other
``INGESTQ_*`` variables tune limits. :func:`load_settings` validates them so a typo
fails with a clear message instead of a traceback deep in the worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    # Reliability.
    max_retries: int = 3
    retry_backoff_s: float = 15.0
    lease_s: float = 60.0
    heartbeat_s: float = 5.0
    recovery_interval_s: float = 15.0
    # Scraping.
    max_download_mb: float = 20.0
    host_delay_s: float = 1.0
    ignore_robots: bool = False
    allow_private_networks: bool = False
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    fetch_timeout_s: float = 120.0
    # An OpenAI-compatible LLM, for topics and `ask` (the client reads OPENAI_BASE_URL/_API_KEY).
    llm_model: str | None = None
    # Callbacks.
    callback_url: str | None = None  # the default for --callback
    signing_key: str | None = field(default=None, repr=False)  # never in a log line

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

    @property
    def max_download_bytes(self) -> int:
        return int(self.max_download_mb * 1024 * 1024)


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


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def _embedder(env: Mapping[str, str]) -> str:
    """The embedder's name: ``openai:<model>``, or a local model (``local:`` dropped)."""
    spec = env.get("INGESTQ_EMBEDDER") or ""
    if not spec:
        return env.get("INGESTQ_MODEL") or DEFAULT_MODEL
    kind, sep, name = spec.partition(":")
    if not sep or kind not in ("local", "openai") or (kind == "openai" and not name):
        raise ConfigError(
            f"INGESTQ_EMBEDDER={spec!r}: use local:<model name or path> or openai:<model>"
        )
    return f"openai:{name}" if kind == "openai" else name or DEFAULT_MODEL


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    home_raw = env.get("INGESTQ_HOME")
    home = Path(home_raw).expanduser() if home_raw else default_home()
    return Settings(
        home=home.resolve(),
        max_file_mb=_number(env, "INGESTQ_MAX_FILE_MB", 100.0, minimum=0.001),
        model=_embedder(env),
        job_timeout_s=_number(env, "INGESTQ_JOB_TIMEOUT", 300.0, minimum=0.1),
        embed_batch_size=int(_number(env, "INGESTQ_EMBED_BATCH", 64, minimum=1)),
        shutdown_grace_s=_number(env, "INGESTQ_SHUTDOWN_GRACE", 30.0),
        poll_interval_s=_number(env, "INGESTQ_POLL_INTERVAL", 0.25, minimum=0.01),
        max_retries=int(_number(env, "INGESTQ_MAX_RETRIES", 3)),
        retry_backoff_s=_number(env, "INGESTQ_RETRY_BACKOFF", 15.0),
        lease_s=_number(env, "INGESTQ_LEASE", 60.0, minimum=1),
        heartbeat_s=_number(env, "INGESTQ_HEARTBEAT", 5.0, minimum=0.1),
        recovery_interval_s=_number(env, "INGESTQ_RECOVERY_INTERVAL", 15.0, minimum=0.1),
        max_download_mb=_number(env, "INGESTQ_MAX_DOWNLOAD_MB", 20.0, minimum=0.001),
        host_delay_s=_number(env, "INGESTQ_HOST_DELAY", 1.0),
        ignore_robots=_flag(env, "INGESTQ_IGNORE_ROBOTS"),
        allow_private_networks=_flag(env, "INGESTQ_ALLOW_PRIVATE_NETWORKS"),
        connect_timeout_s=_number(env, "INGESTQ_CONNECT_TIMEOUT", 10.0, minimum=0.1),
        read_timeout_s=_number(env, "INGESTQ_READ_TIMEOUT", 30.0, minimum=0.1),
        fetch_timeout_s=_number(env, "INGESTQ_FETCH_TIMEOUT", 120.0, minimum=0.1),
        callback_url=env.get("INGESTQ_CALLBACK_URL") or None,
        llm_model=env.get("INGESTQ_LLM_MODEL") or None,
        signing_key=env.get("INGESTQ_SIGNING_KEY") or None,
    )

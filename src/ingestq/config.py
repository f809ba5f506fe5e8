"""Settings, read once from the environment.

By default everything ingestq writes lives under one directory, ``INGESTQ_HOME``.
Three URLs move its parts onto servers, each on its own: the state (and the
stored copies of documents) to PostgreSQL, the queue to Redis, the vectors to a
Chroma server. The other ``INGESTQ_*`` variables tune limits.
:func:`load_settings` validates them so a typo fails with a clear message
instead of a traceback deep in the worker.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingestq.errors import ConfigError
from ingestq.masking import mask

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_COLLECTION = "default"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration for one process."""

    home: Path
    max_file_mb: float = 100.0
    model: str = DEFAULT_MODEL
    #: How a local model runs: "onnx" (exported once, no torch), "torch", or "auto".
    embed_backend: str = "auto"
    #: Where ONNX exports of local models are kept (default: models/ under the home).
    models_root: Path | None = None
    job_timeout_s: float = 300.0
    embed_batch_size: int = 64
    #: Whether INGESTQ_EMBED_BATCH was set: if not, a GPU takes a larger batch.
    embed_batch_set: bool = False
    #: Where a local model runs: "auto", "cpu", "cuda", "cuda:N" or "mps" (see embed/devices.py).
    device: str = "auto"
    #: "fp32", "fp16", or "auto" (fp16 on CUDA, fp32 elsewhere).
    precision: str = "auto"
    #: Threads one embedding call may use; 0: the runtime's choice (every core).
    embed_threads: int = 0
    shutdown_grace_s: float = 30.0
    #: The address space a parser process may take (see readers/sandbox.py).
    parse_memory_mb: int = 1500
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
    # Servers (None: embedded under the home). URLs may hold passwords: not in repr.
    database_url: str | None = field(default=None, repr=False)
    queue_url: str | None = field(default=None, repr=False)
    #: The queue's name on Redis (its keys' prefix), so deployments can share one.
    queue_name: str = "ingestq"
    chroma_url: str | None = None
    chroma_token: str | None = field(default=None, repr=False)
    #: The header the token travels in: "Authorization" (as a Bearer token) or "X-Chroma-Token".
    chroma_token_header: str = "Authorization"
    chroma_tenant: str = "default_tenant"
    chroma_database: str = "default_database"
    #: How long a vector store call keeps retrying while the Chroma server is out of reach.
    chroma_retry_s: float = 60.0
    # The HTTP API (`ingestq serve`): requests per minute and token, by kind.
    api_submit_per_min: int = 60
    api_search_per_min: int = 120

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
    def models_dir(self) -> Path:
        return self.models_root or self.home / "models"

    @property
    def worker_lock(self) -> Path:
        return self.home / "worker.lock"

    @property
    def shared_state(self) -> bool:
        """Whether the state is on a server, where many workers on many hosts share it."""
        return self.database_url is not None

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


def _number(
    env: Mapping[str, str], name: str, default: float, *, minimum: float = 0, maximum: float
) -> float:
    """A finite number between ``minimum`` and ``maximum``: an absurd value is a typo."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g}, got {raw!r}")
    return value


def _integer(
    env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int
) -> int:
    value = _number(env, name, default, minimum=minimum, maximum=maximum)
    if value != int(value):
        raise ConfigError(f"{name} must be a whole number, got {env.get(name)!r}")
    return int(value)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def device_setting(raw: str, name: str = "INGESTQ_DEVICE") -> str:
    """A device setting, checked for its spelling only (whether it is there is the embedder's)."""
    value = raw.strip().lower() or "auto"
    kind, sep, index = value.partition(":")
    if value in ("auto", "cpu", "cuda", "mps") or (kind == "cuda" and sep and index.isdigit()):
        return value
    raise ConfigError(f"{name} must be auto, cpu, cuda, cuda:N or mps, got {raw!r}")


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


_SCHEMES = {
    "INGESTQ_DATABASE_URL": ("postgresql", "postgres"),
    "INGESTQ_QUEUE_URL": ("redis", "rediss", "unix"),
    "INGESTQ_CHROMA_URL": ("http", "https"),
}


def _server_url(env: Mapping[str, str], name: str) -> str | None:
    """A server's URL, checked for its scheme, host and port; never shown with its password."""
    from urllib.parse import urlsplit

    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    schemes = _SCHEMES[name]
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(f"{name}={mask(raw)!r} is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in schemes:
        raise ConfigError(
            f"{name}={mask(raw)!r}: the URL must start with "
            + " or ".join(f"{s}://" for s in schemes)
        )
    if not parts.hostname and parts.scheme != "unix" and not parts.path:
        raise ConfigError(f"{name}={mask(raw)!r}: the URL names no host")
    return raw


def _name(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    if not all(c.isalnum() or c in "-_." for c in raw) or len(raw) > 63:
        raise ConfigError(f"{name} must be letters, digits, '-', '_' or '.', got {raw!r}")
    return raw


def _servers(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings that put the state, the queue and the vectors on servers."""
    return {
        "database_url": _server_url(env, "INGESTQ_DATABASE_URL"),
        "queue_url": _server_url(env, "INGESTQ_QUEUE_URL"),
        "queue_name": _name(env, "INGESTQ_QUEUE_NAME", "ingestq"),
        "chroma_url": _server_url(env, "INGESTQ_CHROMA_URL"),
        "chroma_token": _token(env, "INGESTQ_CHROMA_TOKEN"),
        "chroma_token_header": _token_header(env),
        "chroma_tenant": _name(env, "INGESTQ_CHROMA_TENANT", "default_tenant"),
        "chroma_database": _name(env, "INGESTQ_CHROMA_DATABASE", "default_database"),
        "chroma_retry_s": _number(env, "INGESTQ_CHROMA_RETRY", 60.0, maximum=86400.0),
    }


def _token(env: Mapping[str, str], name: str) -> str | None:
    """A token fit for an HTTP header (printable ASCII, no spaces); never echoed back."""
    raw = (env.get(name) or "").strip()
    if raw and not all(33 <= ord(c) <= 126 for c in raw):
        raise ConfigError(f"{name} must be printable ASCII without spaces (value not shown)")
    return raw or None


_TOKEN_HEADERS = {"authorization": "Authorization", "x-chroma-token": "X-Chroma-Token"}


def _token_header(env: Mapping[str, str]) -> str:
    raw = (env.get("INGESTQ_CHROMA_TOKEN_HEADER") or "Authorization").strip()
    if raw.lower() not in _TOKEN_HEADERS:
        raise ConfigError(
            f"INGESTQ_CHROMA_TOKEN_HEADER must be Authorization or X-Chroma-Token, got {raw!r}"
        )
    return _TOKEN_HEADERS[raw.lower()]


def _api(env: Mapping[str, str]) -> dict[str, Any]:
    """The HTTP API's rate limits: requests per minute and token."""
    return {
        "api_submit_per_min": _integer(
            env, "INGESTQ_API_SUBMIT_PER_MIN", 60, minimum=1, maximum=1_000_000
        ),
        "api_search_per_min": _integer(
            env, "INGESTQ_API_SEARCH_PER_MIN", 120, minimum=1, maximum=1_000_000
        ),
    }


def _device(env: Mapping[str, str]) -> dict[str, Any]:
    """Where a local model runs, in what precision, and whether its batch was set."""
    return {
        "device": device_setting(env.get("INGESTQ_DEVICE") or ""),
        "precision": _choice(env, "INGESTQ_PRECISION", ("auto", "fp32", "fp16")),
        "embed_batch_set": bool((env.get("INGESTQ_EMBED_BATCH") or "").strip()),
    }


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    home_raw = env.get("INGESTQ_HOME")
    home = Path(home_raw).expanduser() if home_raw else default_home()
    day, week = 86400.0, 604800.0
    settings = Settings(
        home=home.resolve(),
        max_file_mb=_number(env, "INGESTQ_MAX_FILE_MB", 100.0, minimum=0.001, maximum=1e6),
        model=_embedder(env),
        embed_backend=_choice(env, "INGESTQ_EMBED_BACKEND", ("auto", "onnx", "torch")),
        models_root=Path(env["INGESTQ_MODELS_DIR"]).expanduser().resolve()
        if env.get("INGESTQ_MODELS_DIR")
        else None,
        job_timeout_s=_number(env, "INGESTQ_JOB_TIMEOUT", 300.0, minimum=0.1, maximum=week),
        embed_batch_size=_integer(env, "INGESTQ_EMBED_BATCH", 64, minimum=1, maximum=65536),
        embed_threads=_integer(env, "INGESTQ_EMBED_THREADS", 0, minimum=0, maximum=1024),
        shutdown_grace_s=_number(env, "INGESTQ_SHUTDOWN_GRACE", 30.0, maximum=day),
        parse_memory_mb=_integer(
            env, "INGESTQ_PARSE_MEMORY_MB", 1500, minimum=256, maximum=1048576
        ),
        poll_interval_s=_number(env, "INGESTQ_POLL_INTERVAL", 0.25, minimum=0.01, maximum=3600),
        max_retries=_integer(env, "INGESTQ_MAX_RETRIES", 3, maximum=100),
        retry_backoff_s=_number(env, "INGESTQ_RETRY_BACKOFF", 15.0, maximum=day),
        lease_s=_number(env, "INGESTQ_LEASE", 60.0, minimum=1, maximum=day),
        heartbeat_s=_number(env, "INGESTQ_HEARTBEAT", 5.0, minimum=0.1, maximum=3600),
        recovery_interval_s=_number(
            env, "INGESTQ_RECOVERY_INTERVAL", 15.0, minimum=0.1, maximum=day
        ),
        max_download_mb=_number(
            env, "INGESTQ_MAX_DOWNLOAD_MB", 20.0, minimum=0.001, maximum=102400
        ),
        host_delay_s=_number(env, "INGESTQ_HOST_DELAY", 1.0, maximum=3600),
        ignore_robots=_flag(env, "INGESTQ_IGNORE_ROBOTS"),
        allow_private_networks=_flag(env, "INGESTQ_ALLOW_PRIVATE_NETWORKS"),
        connect_timeout_s=_number(env, "INGESTQ_CONNECT_TIMEOUT", 10.0, minimum=0.1, maximum=day),
        read_timeout_s=_number(env, "INGESTQ_READ_TIMEOUT", 30.0, minimum=0.1, maximum=day),
        fetch_timeout_s=_number(env, "INGESTQ_FETCH_TIMEOUT", 120.0, minimum=0.1, maximum=day),
        callback_url=env.get("INGESTQ_CALLBACK_URL") or None,
        llm_model=env.get("INGESTQ_LLM_MODEL") or None,
        signing_key=env.get("INGESTQ_SIGNING_KEY") or None,
        **_api(env),
        **_servers(env),
        **_device(env),
    )
    if settings.heartbeat_s >= settings.lease_s:
        raise ConfigError(
            f"INGESTQ_HEARTBEAT ({settings.heartbeat_s:g} s) must be shorter than"
            f" INGESTQ_LEASE ({settings.lease_s:g} s), or every lease would expire"
        )
    return settings

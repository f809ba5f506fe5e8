"""The one exception tree of ingestq.

Every error that can reach a user derives from :class:`IngestqError` and carries
the process exit code the CLI should use. The CLI catches them in one place
(:func:`ingestq.cli.main`); the core raises them and never prints.

Errors raised while processing a job are :class:`JobError`s: they say whether a
retry could help (``transient``) and become the job's one-line ``error``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class IngestqError(Exception):
    """Base class: a failure with a message fit for the user."""

    exit_code: int = EXIT_FAILURE


class UsageError(IngestqError):
    """The user asked for something malformed: a bad path, option or value.

    The core does not know how a parameter is spelled where the user gave it
    (``--chunk-tokens`` on the command line, ``chunk_tokens`` in JSON), so a
    message names it as ``{chunk_tokens}``, its Python name, and lists it in
    ``params``. :meth:`worded` fills the names in; ``str()`` uses them as they are.
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, params: tuple[str, ...] = ()) -> None:
        self.template = message
        self.params = params
        super().__init__(self.worded())

    def worded(self, names: Mapping[str, str] | None = None) -> str:
        """The message with each ``{param}`` spelled as ``names`` says (default: as is)."""
        if not self.params:
            return self.template
        spelled = {p: (names or {}).get(p, p) for p in self.params}
        pattern = "|".join(re.escape("{" + p + "}") for p in self.params)
        return re.sub(pattern, lambda m: spelled[m[0][1:-1]], self.template)


class ConfigError(UsageError):
    """An ``INGESTQ_*`` environment variable holds a value we cannot use."""


class UnreachableError(ConfigError):
    """A server the configuration names cannot be reached, or refuses our credentials."""


class StateError(IngestqError):
    """The state database cannot be used: corrupt, from a newer ingestq, or unwritable."""


class StateBusyError(StateError):
    """The state database stayed locked (or unreachable) past its timeout: worth a retry."""


class WriterBusy(StateBusyError):
    """Another writer held the state database, and the caller would not wait for it
    (see :func:`ingestq.state.waiting_at_most`): nothing was written."""


class StateUnavailableError(StateBusyError):
    """The connection to the state database's server broke: worth a retry once it is back."""


class QueueError(IngestqError):
    """The job queue cannot be used: corrupt, unreachable, or unwritable."""


class StoreError(IngestqError):
    """The vector store cannot be used: corrupt, unreachable, or unwritable."""


class StoreUnavailableError(StoreError):
    """The vector store's server did not answer, even after retries: worth a retry later."""


class StoreUnreachableError(UnreachableError, StoreUnavailableError):
    """The vector store's server did not answer when first opened.

    At the command line a setup problem (exit 2, like every unreachable server);
    inside a worker's job a passing outage: the job is handed back, not failed.
    """


class NotFoundError(IngestqError):
    """A job id (or prefix) matched nothing."""


class ConflictError(StateError):
    """The thing exists but is in no state for what was asked (remove a processing job)."""


class AuthError(IngestqError):
    """An API request without a valid token (missing, unknown or revoked)."""


class TooLargeError(UsageError):
    """An upload over ``INGESTQ_MAX_FILE_MB``."""


class NotPDFError(UsageError):
    """An upload that is not a PDF (it does not start with ``%PDF-``)."""


class RateLimitedError(IngestqError):
    """Too many API requests of a kind from one token; ``retry_after`` seconds to wait."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WorkerRunningError(IngestqError):
    """Another worker already owns this home."""


class ModelMismatchError(ConfigError):
    """A collection was built with a different embedding model than the one configured."""


class NoLLMError(UsageError):
    """A command needs an LLM and none is configured."""


class LLMError(IngestqError):
    """The configured LLM endpoint failed or answered nonsense."""


class Interrupted(IngestqError):
    """The user pressed Ctrl-C."""

    exit_code = EXIT_INTERRUPTED


class JobError(IngestqError):
    """A job failed. ``transient`` says whether another attempt could succeed."""

    transient: bool = False


class PermanentJobError(JobError):
    """Retrying will not help: the input itself is the problem."""


class TransientJobError(JobError):
    """A passing failure (network, lock, rate limit): worth another attempt.

    ``retry_after`` is the server's own word on when to come back, in seconds.
    """

    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EncryptedPDFError(PermanentJobError):
    """The PDF needs a password we do not have."""


class UnreadablePDFError(PermanentJobError):
    """The PDF is corrupt or not a PDF at all."""


class NoTextError(PermanentJobError):
    """The document has no extractable text (image-only or scanned)."""


class BlobMissingError(PermanentJobError):
    """The stored copy of an added file is gone."""


class JobTimeoutError(PermanentJobError):
    """An attempt ran past ``INGESTQ_JOB_TIMEOUT``."""


class JobInterrupted(JobError):
    """The worker is shutting down; the job goes back to the queue untouched."""

    transient = True


class JobHalted(JobInterrupted):
    """The worker stopped at once (a second signal): the job is left as it is, for recovery."""


class JobCancelled(JobError):
    """The job was cancelled while it ran; its vectors are removed."""


class BlockedURLError(PermanentJobError):
    """A URL the worker refuses to fetch: private network (SSRF) or robots.txt."""

"""Sending the callbacks in the outbox: POST, sign, record, retry later.

The rows were written with their jobs' ends (:mod:`ingestq.state.outbox`);
this sends the due ones under the scraper's network rules (no private
addresses, the checked address pinned) and records every attempt. Bodies are
signed when ``INGESTQ_SIGNING_KEY`` is set (see :mod:`ingestq.webhooks`).
"""

from __future__ import annotations

import logging

from ingestq.errors import JobError
from ingestq.readers.fetch import Fetcher
from ingestq.state import outbox
from ingestq.state.db import Database
from ingestq.webhooks import HEADER, sign

log = logging.getLogger(__name__)


#: How long a claimed callback stays this worker's to send: longer than any send.
HOLD_S = 120.0


def deliver_due(db: Database, fetcher: Fetcher, signing_key: str | None) -> int:
    """Send every callback that is due and not taken by another worker; return how many."""
    sent = 0
    for callback in outbox.due(db):
        if not outbox.claim(db, callback, HOLD_S):
            continue  # another worker sharing the state took it
        error = _send(fetcher, callback.url, callback.body, signing_key)
        note = outbox.record_attempt(db, callback, error)
        (log.warning if error else log.info)("callback for job %s: %s", callback.job_id, note)
        sent += 1
    return sent


def _send(fetcher: Fetcher, url: str, body: bytes, signing_key: str | None) -> str:
    """POST one callback; "" on a 2xx answer, else why it failed."""
    headers = {"Content-Type": "application/json"}
    if signing_key:
        headers[HEADER] = sign(body, signing_key)
    try:
        status, reason = fetcher.post(url, body, headers)
    except JobError as exc:
        return str(exc)
    except Exception as exc:  # a callback must never take the worker down
        log.exception("callback to %s failed unexpectedly", url)
        return f"{type(exc).__name__}: {exc}"
    return "" if 200 <= status < 300 else f"HTTP {status} {reason}".strip()

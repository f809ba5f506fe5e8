"""``ingestq serve`` holds one state-database handle (state.shared_state) and one
job-queue handle (queue.shared_queue) for its life."""

from __future__ import annotations

from typing import Any

import pytest

from ingestq.config import load_settings
from ingestq.errors import StateError
from ingestq.queue import open_queue, shared_queue
from ingestq.state import open_state, shared_state
from ingestq.state.jobs import list_jobs


def test_open_state_lends_the_shared_handle_while_it_lasts(backend: Any) -> None:
    settings = load_settings()
    with shared_state(settings) as shared:
        lent = open_state(settings)
        assert lent is not shared
        lent.close()  # a borrower's close leaves the handle open
        assert list_jobs(shared, limit=1) == []
        again = open_state(settings)
        assert list_jobs(again, limit=1) == []
        with again.transaction():
            again.execute("SELECT 1")
    with pytest.raises(StateError):
        list_jobs(shared, limit=1)  # closed with the context
    own = open_state(settings)  # afterwards a handle of its own again
    try:
        assert list_jobs(own, limit=1) == []
    finally:
        own.close()


def test_open_queue_lends_the_shared_queue_while_it_lasts(backend: Any) -> None:
    settings = load_settings()
    with shared_queue(settings) as shared:
        assert open_queue(settings) is shared
        open_queue(settings).enqueue(["J1", "J2"])
        assert shared.pending_job_ids() == {"J1", "J2"}
    own = open_queue(settings)  # afterwards a handle of its own again
    assert own is not shared
    assert own.pending_job_ids() == {"J1", "J2"}

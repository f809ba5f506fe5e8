"""Rate limits per token, one bucket for submissions and one for search and ask.

Past a limit, 429 with ``Retry-After``: the whole seconds until one request is
allowed. The buckets are shared by every server process on the same state
database and survive a restart (see :mod:`ingestq.ops.limits`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ingestq.api.auth import Credentials, principal
from ingestq.ops import limits
from ingestq.ops.tokens import Principal

# Each takes the credentials, not the principal as a dependency of its own: FastAPI
# runs every plain-function dependency in its thread pool, and one hop to a thread
# instead of two is a measurable part of a small request on two cores.


def submitter(request: Request, credentials: Credentials) -> Principal:
    """The principal of a submission, counted against its submission limit."""
    who = principal(request, credentials)
    settings = request.app.state.config.settings
    limits.take(settings, "submit", who.key, settings.api_submit_per_min, "submission")
    return who


def _search(request: Request, credentials: Credentials) -> Principal:
    who = principal(request, credentials)
    settings = request.app.state.config.settings
    limits.take(settings, "search", who.key, settings.api_search_per_min, "search")
    return who


#: The principal of a submission, counted against its submission limit.
Submitter = Annotated[Principal, Depends(submitter)]
#: The principal of a search or ask, counted against its search limit.
Searcher = Annotated[Principal, Depends(_search)]

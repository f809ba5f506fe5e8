"""Reading what was ingested: search, ask (streamed), and the collections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import iterate_in_threadpool, run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ingestq.api import sse
from ingestq.api.auth import Who
from ingestq.api.limits import Searcher
from ingestq.config import Settings
from ingestq.errors import IngestqError, NotFoundError
from ingestq.ops.ask import Answer, ask
from ingestq.ops.inventory import CollectionInfo, list_collections
from ingestq.ops.owners import shown_collection, stored_collection
from ingestq.ops.search import MODES, fresh_vectors, search

router = APIRouter(prefix="/v1", tags=["search"])


@router.get("/search", summary="Search the chunks")
def get_search(
    request: Request,
    who: Searcher,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for.")],
    k: Annotated[int, Query(ge=1, le=100)] = 5,
    collection: Annotated[str, Query(max_length=512)] = "default",
    mode: Annotated[str, Query(pattern="^(" + "|".join(MODES) + ")$")] = "hybrid",
) -> dict[str, Any]:
    """`{"results": [...]}` with the objects of `search --json`, best first."""
    settings = request.app.state.config.settings
    name = stored_collection(who, collection)
    try:
        with fresh_vectors(settings):
            hits = search(settings, q, k=k, collection=name, mode=mode)
    except NotFoundError:
        raise NotFoundError(f"collection {collection!r} has nothing indexed yet") from None
    return {"results": [h.to_dict(q) for h in hits]}


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    k: int = Field(default=6, ge=1, le=50)
    collection: str = Field(default="default", max_length=512)


@router.post(
    "/ask",
    summary="Ask the documents (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "The answer, streamed."},
        501: {"description": "No LLM is configured."},
    },
)
async def post_ask(request: Request, body: AskIn, who: Searcher) -> StreamingResponse:
    """Server-Sent Events: `answer` events with the text as it comes, then `sources`
    (the cited labels, or all retrieved if none was cited, and the hits), then `end`.
    A failure midway is an `error` event. Without an LLM: 501."""
    settings = request.app.state.config.settings
    name = stored_collection(who, body.collection)
    try:
        answer = await run_in_threadpool(_retrieve, settings, body, name)
    except NotFoundError:
        raise NotFoundError(f"collection {body.collection!r} has nothing indexed yet") from None
    return sse.stream(request, _answer_events(answer, body.question))


def _retrieve(settings: Settings, body: AskIn, collection: str) -> Answer:
    with fresh_vectors(settings):
        return ask(settings, body.question, k=body.k, collection=collection)


async def _answer_events(answer: Answer, question: str) -> AsyncIterator[str]:
    from ingestq.api.errors import error_body, status_of

    try:
        async for part in iterate_in_threadpool(answer.stream()):
            yield sse.event("answer", {"text": part})
    except IngestqError as exc:
        yield sse.event("error", error_body(status_of(exc)[1], str(exc)))
        return
    hits = [h.to_dict(question) for h in answer.hits]
    yield sse.event("sources", {"sources": answer.cited() or answer.labels, "hits": hits})
    yield sse.event("end", {})


def _collections(settings: Settings) -> list[CollectionInfo]:
    with fresh_vectors(settings):
        return list_collections(settings)


@router.get("/collections", summary="The collections")
async def get_collections(request: Request, who: Who) -> dict[str, Any]:
    """`{"collections": [...]}` with the objects of `collections --json`."""
    settings = request.app.state.config.settings
    found = await run_in_threadpool(_collections, settings)
    out = []
    for c in found:
        name = shown_collection(who, c.name)
        if name is not None:
            out.append(c.__dict__ | {"name": name})
    return {"collections": out}

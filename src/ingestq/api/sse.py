"""Server-Sent Events: the ``text/event-stream`` framing, and a response that ends
when the client goes away."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

#: A comment this often keeps proxies from closing an idle stream.
KEEPALIVE_S = 15.0


def wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def event(name: str, data: Any) -> str:
    """One event: its name and its data as one line of JSON."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def stream(request: Request, events: AsyncIterator[str]) -> StreamingResponse:
    """A streaming response of ``events`` that stops once the client disconnects."""

    async def guarded() -> AsyncIterator[str]:
        async for item in events:
            if await request.is_disconnected():
                return
            yield item

    return StreamingResponse(
        guarded(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

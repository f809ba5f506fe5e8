"""Operations: ``/healthz`` (alive), ``/readyz`` (backends answer), ``/metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from ingestq.api.auth import Admin
from ingestq.ops.health import readiness
from ingestq.ops.stats import Counters, counters

router = APIRouter(tags=["operations"])

#: Upper bounds of the stage-duration histogram's buckets, in seconds.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The backends answer", responses={503: {"description": "Not"}})
async def readyz(request: Request) -> JSONResponse:
    """200 when the state database, the queue and the vector store answer; else 503
    naming each that does not."""
    found = await run_in_threadpool(readiness, request.app.state.config.settings)
    down = {name: why for name, why in found.items() if why}
    if down:
        names = ", ".join(down)
        body = {
            "error": {"code": "not_ready", "message": f"not reachable: {names}"},
            "checks": {n: why or "ok" for n, why in found.items()},
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "checks": dict.fromkeys(found, "ok")})


@router.get("/metrics", summary="Prometheus metrics (admin)", response_class=PlainTextResponse)
async def metrics(request: Request, who: Admin) -> PlainTextResponse:
    found = await run_in_threadpool(counters, request.app.state.config.settings)
    return PlainTextResponse(render(found), media_type=PROMETHEUS)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")[:200]


def _head(name: str, kind: str, text: str) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]


def render(c: Counters) -> str:
    """The counters in Prometheus's text format."""
    lines = _head("ingestq_jobs", "gauge", "Jobs on record, by state.")
    lines += [f'ingestq_jobs{{state="{s}"}} {n}' for s, n in c.states.items()]
    name = "ingestq_stage_duration_seconds"
    lines += _head(name, "histogram", "Seconds completed attempts spent in each stage.")
    for stage, spans in sorted(c.stage_seconds.items()):
        label = f'stage="{_label(stage)}"'
        for bound in BUCKETS:
            count = sum(1 for s in spans if s <= bound)
            lines.append(f'{name}_bucket{{{label},le="{bound:g}"}} {count}')
        lines.append(f'{name}_bucket{{{label},le="+Inf"}} {len(spans)}')
        lines.append(f"{name}_sum{{{label}}} {sum(spans):.6f}")
        lines.append(f"{name}_count{{{label}}} {len(spans)}")
    lines += _head("ingestq_chunks_embedded_total", "counter", "Chunks the model embedded.")
    lines.append(f"ingestq_chunks_embedded_total {c.chunks_embedded}")
    lines += _head("ingestq_retries_total", "counter", "Retries scheduled.")
    lines.append(f"ingestq_retries_total {c.retries}")
    lines += _head("ingestq_failures", "gauge", "Failed jobs, by reason (the 20 most common).")
    lines += [f'ingestq_failures{{reason="{_label(r)}"}} {n}' for r, n in c.failures]
    lines += _head("ingestq_queue_depth", "gauge", "Jobs waiting for a worker.")
    lines.append(f"ingestq_queue_depth {c.queue_depth}")
    return "\n".join(lines) + "\n"

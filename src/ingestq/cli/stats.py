"""``ingestq stats``."""

from __future__ import annotations

from typing import Annotated

import typer

from ingestq.cli import render
from ingestq.cli.app import app
from ingestq.cli.options import Json
from ingestq.config import load_settings


@app.command()
def stats(
    since: Annotated[
        str,
        typer.Option(
            "--since",
            metavar="DURATION",
            help="Only the last while: 30m, 24h, 7d; or all, for every job on record.",
        ),
    ] = "24h",
    as_json: Json = False,
) -> None:
    """Jobs per state, stage durations, throughput, retries and top failure reasons.

    Stage durations are the median and 95th percentile of each stage's time
    (fetching, parsing, embedding, indexing) per attempt; throughput is over
    the completed jobs' own running time. By default over the jobs that changed
    in the last 24 hours: on a long history, every attempt's stage times take
    seconds to gather.

    Example: ingestq stats --since 24h
    """
    from ingestq.ops.stats import stats as compute

    s = compute(load_settings(), None if since == "all" else since)
    if as_json:
        render.print_json(
            s.__dict__ | {"failures": [{"reason": r, "count": n} for r, n in s.failures]}
        )
        return
    render.out.print("  ".join(f"{render.state(k)} {n}" for k, n in s.states.items()))
    t = render.table("stage", "median", "p95", "count")
    for stage, v in s.stages.items():
        t.add_row(stage, f"{v['median_s']:.2f} s", f"{v['p95_s']:.2f} s", str(int(v["count"])))
    render.out.print(t)
    rate = (
        f"{s.chunks_per_s:.1f} chunks/s, {s.pages_per_s:.1f} pages/s"
        if s.chunks_per_s
        else "no completed jobs"
    )
    render.out.print(f"throughput: {rate}; retries: {s.retries}")
    for reason, n in s.failures:
        render.out.print(f"  {n:>5}  {render.text(reason)}")

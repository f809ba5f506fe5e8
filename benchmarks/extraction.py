"""Main-text extraction quality on a public article-extraction benchmark.

    .venv/bin/python benchmarks/extraction.py --data DIR

DIR holds the benchmark in the layout of the Zyte (Scrapinghub)
article-extraction-benchmark: ``ground-truth.json`` ({id: {"articleBody": ...}})
and ``html/<id>.html.gz``. No copy of it is reachable from our machines, so the
data is not in this repository; point --data at a local copy.

Scores ingestq's extractor and a plain selectolax baseline (boilerplate tags
stripped, body text kept) with the benchmark's own measure: precision and
recall over shingles of four word tokens, per page, averaged over pages, and
F1 from the two averages. Also reports the median extraction time per page.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

_WORD = re.compile(r"\w+")
SHINGLE = 4


def shingles(text: str, n: int = SHINGLE) -> Counter[tuple[str, ...]]:
    words = _WORD.findall(text or "")
    return Counter(
        tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)) if words[i : i + n]
    )


def page_scores(truth: str, predicted: str) -> tuple[float, float, float]:
    """(tp, fp, fn) over shingles, normalised so every page weighs the same."""
    want, got = shingles(truth), shingles(predicted)
    tp = sum((want & got).values())
    fp = sum((got - want).values())
    fn = sum((want - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def f1_score(pages: list[tuple[float, float, float]]) -> dict[str, float]:
    def precision(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fp == 0 else tp / (tp + fp))

    def recall(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fn == 0 else tp / (tp + fn))

    p = statistics.mean(precision(*s) for s in pages if s[0] + s[1] > 0)
    r = statistics.mean(recall(*s) for s in pages if s[0] + s[2] > 0)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def ingestq_text(html: bytes) -> str:
    from ingestq.readers.webpage import parse

    return parse(html, "text/html", None, "https://example.org/").text


def selectolax_text(html: bytes) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for tag in ("script", "style", "nav", "header", "footer", "aside", "form", "noscript"):
        for node in tree.css(tag):
            node.decompose()
    body = tree.body
    return body.text(separator="\n") if body is not None else ""


def evaluate(data: Path, extract: Callable[[bytes], str]) -> dict[str, float]:
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    scores, times = [], []
    for key, record in sorted(truth.items()):
        html = gzip.decompress((data / "html" / f"{key}.html.gz").read_bytes())
        start = time.perf_counter()
        text = extract(html)
        times.append(time.perf_counter() - start)
        scores.append(page_scores(record.get("articleBody", ""), text))
    return f1_score(scores) | {"pages": len(scores), "median_ms": statistics.median(times) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with ground-truth.json and html/*.html.gz"
    )
    args = parser.parse_args()
    if not (args.data / "ground-truth.json").is_file():
        sys.exit(f"no ground-truth.json in {args.data}: see this script's docstring")
    results = {
        "ingestq (trafilatura)": evaluate(args.data, ingestq_text),
        "selectolax baseline": evaluate(args.data, selectolax_text),
    }
    for name, r in results.items():
        print(
            f"{name:<22} F1={r['f1']:.3f} precision={r['precision']:.3f} "
            f"recall={r['recall']:.3f} median {r['median_ms']:.1f} ms/page "
            f"over {r['pages']:.0f} pages"
        )
    out = Path(__file__).parent / "results" / "extraction.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

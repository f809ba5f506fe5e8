"""Figure 7: the worker's peak RSS does not grow with the document.

Builds a 100-page and a 1,000-page PDF by concatenating corpus PDFs with pypdf,
ingests each with ``worker --burst`` in a fresh home, and samples the worker's
peak RSS. Baseline: a process that only loads the model.

The homes share one models directory: a worker's first start exports the model to
ONNX (PyTorch and the tracer in memory besides the rest), every later start only
loads the export. That first start is reported apart; the figure is the steady one.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import GEOTOPO, IQ, fresh_env


def build_pdf(pages: int, out: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    source = PdfReader(GEOTOPO)
    writer = PdfWriter()
    while len(writer.pages) < pages:
        for page in source.pages[: pages - len(writer.pages)]:
            writer.add_page(page)
    with out.open("wb") as fh:
        writer.write(fh)
    return out


def peak_rss_mb(cmd: list[str], env: dict[str, str]) -> float:
    """The process's peak RSS (``VmHWM``), sampled from /proc while it runs.

    Not ``wait4``'s ``ru_maxrss``: Linux carries that across ``execve``, so a
    child forked from this benchmark (which holds a model itself) would report
    this process's size.
    """
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = Path(f"/proc/{proc.pid}/status")
    peak_kb = 0
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kb = max(peak_kb, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.05)
    if proc.wait() != 0:
        raise RuntimeError(f"{cmd} exited {proc.returncode}")
    return peak_kb / 1024


def worker_peak(pdf: Path, models: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = fresh_env(Path(tmp) / "home") | {"INGESTQ_MODELS_DIR": str(models)}
        subprocess.run([IQ, "add", str(pdf)], env=env, check=True, capture_output=True)
        return peak_rss_mb([IQ, "worker", "--burst"], env)


def bench_memory(runs: int, small: int = 100, large: int = 1000) -> dict[str, Any]:
    model_only = [
        sys.executable,
        "-c",
        "from ingestq.embed.local import SentenceTransformerEmbedder as E; E()",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        env = fresh_env(Path(tmp) / "home")
        small_pdf = build_pdf(small, Path(tmp) / f"{small}.pdf")
        large_pdf = build_pdf(large, Path(tmp) / f"{large}.pdf")
        base = statistics.median(peak_rss_mb(model_only, env) for _ in range(runs))
        models = Path(tmp) / "models"
        first_mb = worker_peak(small_pdf, models)  # the ONNX export made here
        small_mb = statistics.median(worker_peak(small_pdf, models) for _ in range(runs))
        large_mb = statistics.median(worker_peak(large_pdf, models) for _ in range(runs))
    return {
        "model_only_mb": base,
        "first_start_mb": first_mb,
        "small_pages": small,
        "small_mb": small_mb,
        "large_pages": large,
        "large_mb": large_mb,
        "growth": large_mb / small_mb - 1,
        "goal_growth": 0.20,
        "runs": runs,
    }

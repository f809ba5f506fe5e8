"""What every benchmark module shares: paths, subprocess timing, job timestamps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "sample-files"
GEOTOPO = CORPUS / "009-pdflatex-geotopo" / "GeoTopo-komprimiert.pdf"
ONE_PDF = CORPUS / "004-pdflatex-4-pages" / "pdflatex-4-pages.pdf"
BIN = Path(sys.executable).parent
IQ = str(BIN / "ingestq")


def fresh_env(home: Path) -> dict[str, str]:
    return {**os.environ, "INGESTQ_HOME": str(home), "HF_HUB_OFFLINE": "1"}


def settings_for(env: dict[str, str]) -> Any:
    """ingestq's settings as a process run with ``env`` would load them; this
    process's own environment is left as it was, for the benchmarks after."""
    from ingestq.config import load_settings

    saved = dict(os.environ)
    try:
        os.environ.update(env)
        return load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def stop(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """Ask ``proc`` to end (SIGTERM); kill it if it has not within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def iq_json(env: dict[str, str], *args: str) -> Any:
    out = subprocess.run(
        [IQ, *args, "--json"], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def corpus_pdfs() -> list[Path]:
    """Every PDF of the corpus (tests/corpus): text, scanned, encrypted and broken alike."""
    return sorted(CORPUS.rglob("*.pdf"))

"""The extraction benchmark's scorer and runner, on a tiny data set made here."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from webserver import ARTICLE

sys.path.insert(0, str(ROOT / "benchmarks"))
from extraction import f1_score, page_scores


def test_identical_text_scores_one_and_disjoint_text_zero() -> None:
    text = "the quick brown fox jumps over the lazy dog again and again"
    assert page_scores(text, text) == (1.0, 0.0, 0.0)
    assert page_scores(text, "completely different words in this other sentence here")[0] == 0
    assert f1_score([page_scores(text, text)])["f1"] == 1.0


def test_extra_text_costs_precision_and_missing_text_costs_recall() -> None:
    truth = " ".join(f"w{i}" for i in range(100))
    extra = f1_score([page_scores(truth, truth + " " + " ".join(f"x{i}" for i in range(100)))])
    assert extra["recall"] == 1.0 and 0.4 < extra["precision"] < 0.6
    half = f1_score([page_scores(truth, " ".join(f"w{i}" for i in range(50)))])
    assert half["precision"] == 1.0 and 0.4 < half["recall"] < 0.6


def test_the_runner_scores_ingestq_above_the_baseline(tmp_path: Path) -> None:
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "a.html.gz").write_bytes(gzip.compress(ARTICLE.encode()))
    body = (
        "Installing Widgets Widgets are installed with the widget command. The installer "
        "checks your system first, then unpacks the bundled wheels, because everything "
        "ships inside the package and nothing is downloaded while you wait."
    )
    (tmp_path / "ground-truth.json").write_text(json.dumps({"a": {"articleBody": body}}))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "extraction.py"), "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    ours = float(lines[0].split("F1=")[1].split()[0])
    base = float(lines[1].split("F1=")[1].split()[0])
    assert ours > base

"""examples/cron/nightly.sh, run as cron would: quiet when all is well, one line when not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BROKEN, FOUR_PAGES, ROOT, TRIVIAL, corpus
from webserver import Server

SCRIPT = ROOT / "examples" / "cron" / "nightly.sh"


def nightly(home: Path, docs: Path, urls: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "INGESTQ": str(Path(sys.executable).parent / "ingestq"),
        "INGESTQ_HOME": str(home),
        "DOCS_DIR": str(docs),
        "URL_LIST": str(urls),
        "INGESTQ_ALLOW_PRIVATE_NETWORKS": "1",
        "INGESTQ_HOST_DELAY": "0",
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.e2e
def test_nightly_script_logs_quietly_then_alerts_on_failure(
    tmp_path: Path, home: Path, server: Server
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(corpus(TRIVIAL), docs / "a.pdf")
    shutil.copy(corpus(FOUR_PAGES), docs / "b.pdf")
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# nightly pages\n{server.url('/docs/notes.txt')}\n\n")

    first = nightly(home, docs, urls)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout == "", "cron mails any output: a good night prints nothing"
    [log] = (home / "logs").glob("nightly-*.log")
    text = log.read_text()
    assert "synced: 2 added" in text and "burst done: 3 jobs ran (3 completed)" in text
    assert text.rstrip().endswith("ok")

    shutil.copy(corpus(BROKEN), docs / "c.pdf")
    second = nightly(home, docs, urls)
    assert second.returncode == 1
    [line] = second.stdout.splitlines()
    assert line.startswith("ingestq nightly: ") and "failed in the last 24h" in line
    assert str(log) in line
    text = log.read_text()
    assert "synced: 1 added, 0 changed, 2 unchanged, 0 removed" in text
    assert "cannot be read" in text  # the failure's error is in the log

    missing = nightly(home, tmp_path / "unmounted", urls)
    assert missing.returncode == 1 and "ingestq add exited 2" in missing.stdout

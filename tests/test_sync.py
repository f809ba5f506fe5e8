"""`ingestq add DIR --sync`: a collection that mirrors a directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import FOUR_PAGES, MULTICOLUMN, TRIVIAL, corpus, iq, run_cli, store_records

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("backend")]


def sync(directory: Path, *extra: str) -> Any:
    proc = run_cli("add", str(directory), "--sync", "--json", *extra)
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else None), proc


def burst() -> None:
    assert iq("worker", "--burst").returncode == 0


def store_sources(home: Path) -> set[str]:
    return {r["metadata"]["source"] for r in store_records()}


def test_sync_adds_changes_skips_and_removes(tmp_path: Path, home: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, src in (("a.pdf", TRIVIAL), ("b.pdf", FOUR_PAGES), ("c.pdf", MULTICOLUMN)):
        shutil.copy(corpus(src), docs / name)
    code, first, _ = sync(docs)
    assert code == 0 and (first["added"], first["removed"]) == (3, 0)
    burst()
    assert store_sources(home) == {str(docs / n) for n in ("a.pdf", "b.pdf", "c.pdf")}

    (docs / "c.pdf").unlink()
    shutil.copy(corpus(MULTICOLUMN), docs / "b.pdf")  # b changes
    code, plan, _ = sync(docs, "--dry-run")
    assert code == 0 and plan["dry_run"] is True
    assert (plan["added"], plan["changed"], plan["unchanged"], plan["removed"]) == (0, 1, 1, 1)
    assert plan["plan"]["removed"] == [str(docs / "c.pdf")] and plan["jobs"] == []
    burst()
    assert str(docs / "c.pdf") in store_sources(home), "a dry run changes nothing"

    code, done, _ = sync(docs)
    assert code == 0 and (done["changed"], done["unchanged"], done["removed"]) == (1, 1, 1)
    burst()
    assert store_sources(home) == {str(docs / "a.pdf"), str(docs / "b.pdf")}
    text = run_cli("add", str(docs), "--sync", check=True).stdout
    assert "synced: 0 added, 0 changed, 2 unchanged, 0 removed" in text


def test_an_empty_or_missing_directory_removes_nothing(tmp_path: Path, home: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(corpus(TRIVIAL), docs / "a.pdf")
    sync(docs)
    burst()
    (docs / "a.pdf").unlink()
    code, _, proc = sync(docs)
    assert code == 2 and "--allow-empty" in proc.stderr
    code, _, proc = sync(tmp_path / "unmounted")
    assert code == 2 and "nothing was removed" in proc.stderr
    burst()
    assert store_sources(home) == {str(docs / "a.pdf")}
    code, done, _ = sync(docs, "--allow-empty")
    assert code == 0 and done["removed"] == 1
    burst()
    assert store_sources(home) == set()


def test_sync_flags_need_one_directory(tmp_path: Path) -> None:
    assert run_cli("add", str(tmp_path), "--dry-run").returncode == 2
    assert run_cli("add", str(tmp_path), str(tmp_path), "--sync").returncode == 2

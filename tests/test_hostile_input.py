"""Hostile input from the file system, the command line and the environment: each is
refused (or skipped) in one line, loses no data, and stops nothing else."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from conftest import FOUR_PAGES, MULTICOLUMN, TRIVIAL, corpus, iq, run_cli, state
from hostile import bombs
from hostile.server import serve
from ingestq.config import load_settings
from ingestq.ops.submit import add_paths
from ingestq.ops.sync import sync_directory
from ingestq.state.db import fetchval


def one_line_error(proc: Any, code: int, logs: bool = False) -> str:
    """The single line a refused command printed; fails on a traceback or more lines.

    With ``logs``, lines of the worker's own log may come before it.
    """
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    if logs:
        lines = [ln for ln in lines if not ln[:4].isdigit()]  # log lines start with the date
    assert len(lines) == 1, proc.stderr
    return str(lines[0])


def jobs() -> list[dict[str, Any]]:
    return json.loads(run_cli("status", "--json", "--limit", "1000", check=True).stdout)  # type: ignore[no-any-return]


# -- the file system ------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_skipped_in_one_line(tmp_path: Path, home: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(corpus(TRIVIAL), docs / "good.pdf")
    shutil.copy(corpus(FOUR_PAGES), os.fsdecode(bytes(docs) + b"/caf\xe9.pdf"))
    proc = run_cli("add", str(docs), "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    [warning] = proc.stderr.strip().splitlines()
    assert "caf\\xe9.pdf" in warning and "not valid UTF-8" in warning
    [queued] = json.loads(proc.stdout)
    assert queued["source"].endswith("good.pdf")
    blobs = [p for p in (home / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1, "the bad name's file was never copied into the store"
    synced = run_cli("add", str(docs), "--sync", "--json")
    assert synced.returncode == 0 and "not valid UTF-8" in synced.stderr
    assert json.loads(synced.stdout)["skipped"] == [warning.removeprefix("warning: ")]


def test_symlink_loops_are_walked_once(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "a" / "deeper").mkdir(parents=True)
    (docs / "b").mkdir()
    shutil.copy(corpus(TRIVIAL), docs / "a" / "one.pdf")
    shutil.copy(corpus(FOUR_PAGES), docs / "a" / "deeper" / "two.pdf")
    (docs / "a" / "deeper" / "up").symlink_to(docs)  # a loop
    (docs / "b" / "to-a").symlink_to(docs / "a")  # and another
    (docs / "a" / "to-b").symlink_to(docs / "b")
    proc = run_cli("add", f"{docs}/**/*.pdf", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    names = sorted(Path(j["source"]).name for j in json.loads(proc.stdout))
    assert names == ["one.pdf", "two.pdf"], "each file once, however many ways lead to it"
    again = run_cli("add", str(docs), "--json", timeout=60)
    assert again.returncode == 0 and len(json.loads(again.stdout)) == 2


def test_sync_twice_before_the_worker_queues_nothing_new(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, name in enumerate((TRIVIAL, FOUR_PAGES, MULTICOLUMN)):
        shutil.copy(corpus(name), docs / f"{i}.pdf")
    first = json.loads(run_cli("add", str(docs), "--sync", "--json", check=True).stdout)
    second = json.loads(run_cli("add", str(docs), "--sync", "--json", check=True).stdout)
    assert first["added"] == 3 and len(jobs()) == 3
    assert all(j.get("duplicate_of") for j in second["jobs"])
    # One file changed meanwhile: that one, and only that one, is queued again.
    shutil.copy(corpus(TRIVIAL), docs / "1.pdf")
    third = json.loads(run_cli("add", str(docs), "--sync", "--json", check=True).stdout)
    assert [j for j in third["jobs"] if not j.get("duplicate_of")] and len(jobs()) == 4


def test_a_link_out_of_the_directory_is_synced_as_itself(tmp_path: Path) -> None:
    docs, elsewhere = tmp_path / "docs", tmp_path / "elsewhere"
    docs.mkdir()
    elsewhere.mkdir()
    shutil.copy(corpus(TRIVIAL), elsewhere / "outside.pdf")
    (docs / "linked.pdf").symlink_to(elsewhere / "outside.pdf")
    first = json.loads(iq("add", str(docs), "--sync", "--json", check=True).stdout)
    assert first["plan"]["added"] == [str(docs.resolve() / "linked.pdf")]
    assert iq("worker", "--burst").returncode == 0
    again = json.loads(iq("add", str(docs), "--sync", "--json", check=True).stdout)
    assert again["added"] == 0 and again["unchanged"] == 1, "not 'added' on every run"
    (docs / "linked.pdf").unlink()
    shutil.copy(corpus(FOUR_PAGES), docs / "other.pdf")  # the directory is not empty
    gone = json.loads(iq("add", str(docs), "--sync", "--json", check=True).stdout)
    assert gone["removed"] == 1 and gone["plan"]["removed"] == [str(docs.resolve() / "linked.pdf")]


def test_files_that_vanish_during_a_sync_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingestq.ops.sync as sync

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        shutil.copy(corpus(TRIVIAL), docs / f"{i}.pdf")
        (docs / f"{i}.pdf").write_bytes((docs / f"{i}.pdf").read_bytes() + b"%%%d" % i)
    look_at = sync._digest

    def deleted_while_read(path: str, *args: Any) -> Any:
        if Path(path).name == "1.pdf":
            Path(path).unlink()  # someone deletes it between the listing and the read
        return look_at(path, *args)

    monkeypatch.setattr(sync, "_digest", deleted_while_read)
    result = sync_directory(load_settings(), str(docs))
    assert [Path(p).name for p in result.added] == ["0.pdf", "2.pdf"]
    [skipped] = result.skipped
    assert "1.pdf" in skipped and "cannot be read" in skipped


def test_a_hundred_simultaneous_adds_of_one_file_make_one_job(tmp_path: Path) -> None:
    settings = load_settings()
    add_paths(settings, [str(corpus(FOUR_PAGES))])  # the home exists: the race is the insert
    pdf = tmp_path / "same.pdf"
    shutil.copy(corpus(TRIVIAL), pdf)
    start = threading.Barrier(100)
    ids: list[str] = []

    def add() -> None:
        start.wait()
        ids.extend(s.job.id for s in add_paths(settings, [str(pdf)]).submitted)

    threads = [threading.Thread(target=add) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 100 and len(set(ids)) == 1
    count = fetchval(state(), "SELECT count(*) FROM jobs WHERE source = ?", (str(pdf),))
    assert count == 1


# -- the command line and the environment ----------------------------------------------


def test_an_overlap_of_half_the_chunk_or_more_is_refused() -> None:
    proc = run_cli("add", str(corpus(TRIVIAL)), "--chunk-tokens", "512", "--chunk-overlap", "256")
    line = one_line_error(proc, 2)
    assert "--chunk-overlap must be less than half of --chunk-tokens" in line


@pytest.mark.parametrize("name", ["ünïcødé", "ab²c", "1.2.3.4", "a..b", "-ab"])
def test_collection_names_chroma_refuses_are_refused_at_add(name: str) -> None:
    line = one_line_error(run_cli("add", str(corpus(TRIVIAL)), "--collection", name), 2)
    assert "invalid collection name" in line
    assert jobs() == []


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["add", "PDF", "--delay", "nan"], {}),
        (["add", "PDF", "--delay", "1e20"], {}),
        (["add", "PDF", "--at", "9999-12-31T23:59:59-14:00"], {}),
        (["status", "--since", "nan"], {}),
        (["status", "--since", "inf"], {}),
        (["add", "PDF"], {"INGESTQ_MAX_FILE_MB": "inf"}),
        (["status"], {"INGESTQ_JOB_TIMEOUT": "nan"}),
        (["status"], {"INGESTQ_EMBED_BATCH": "1e30"}),
        (["status"], {"INGESTQ_EMBED_BATCH": "2.5"}),
        (["status"], {"INGESTQ_HEARTBEAT": "120"}),
    ],
)
def test_odd_numbers_are_one_line_and_exit_2(args: list[str], env: dict[str, str]) -> None:
    args = [str(corpus(TRIVIAL)) if a == "PDF" else a for a in args]
    one_line_error(run_cli(*args, env=env), 2)
    assert jobs() == []


def test_a_garbage_vector_store_is_one_line_for_search_and_the_worker(home: Path) -> None:
    run_cli("add", str(corpus(TRIVIAL)), check=True)
    (home / "chroma").mkdir(mode=0o700)
    (home / "chroma" / "chroma.sqlite3").write_bytes(b"not a database, not at all" * 200)
    (home / "chroma" / "chroma.sqlite3").chmod(0o600)
    for args in (["search", "anything"], ["worker", "--burst"]):
        line = one_line_error(run_cli(*args), 1, logs=True)
        assert "the vector store" in line and "cannot be used" in line
    assert [j["state"] for j in jobs()] == ["queued"], "the job waits for a usable store"


def test_a_corrupt_queue_is_blamed_on_the_queue(home: Path) -> None:
    run_cli("status", check=True)
    (home / "queue.db").write_bytes(b"garbage, not a queue" * 500)
    (home / "queue.db").chmod(0o600)
    line = one_line_error(run_cli("add", str(corpus(TRIVIAL))), 1)
    assert "the job queue" in line and "queue.db" in line and "state database" not in line


def test_an_emptied_state_database_beside_old_chunks_is_refused(home: Path) -> None:
    (home / "chroma").mkdir(parents=True)
    (home / "chroma" / "chroma.sqlite3").write_bytes(b"\0" * 4096)
    (home / "state.db").write_bytes(b"")
    line = one_line_error(run_cli("status"), 1)
    assert "state database was lost" in line


# -- what people see -------------------------------------------------------------------

EVIL = "\x1b[2J\x1b]52;c;aGFja2Vk\x07"  # clear the screen; write "hacked" to the clipboard


def test_terminal_escapes_are_shown_not_obeyed(tmp_path: Path) -> None:
    pdf = tmp_path / f"name{EVIL}.pdf"
    pdf.write_bytes(bombs.pdf_with_text("Plain text of a page.", title=f"Title {EVIL}"))
    not_a_pdf = tmp_path / f"notes{EVIL}.pdf"
    not_a_pdf.write_text("plain text")
    outputs = [run_cli("add", str(pdf), check=True).stdout]
    [job] = jobs()
    outputs += [
        run_cli("status", check=True).stdout,
        run_cli("status", job["id"], check=True).stdout,
        run_cli("add", str(not_a_pdf)).stderr,  # an error naming the file
    ]
    assert iq("worker", "--burst").returncode == 0
    outputs.append(run_cli("status", job["id"], check=True).stdout)  # the title is in now
    for shown in outputs:
        assert "\x1b" not in shown and "\x07" not in shown
        assert "\\x1b[2J" in shown, shown
    assert "Title \\x1b[2J" in outputs[-1]
    with serve() as hostile:
        env = {"INGESTQ_ALLOW_PRIVATE_NETWORKS": "1"}
        extracted = run_cli("extract", hostile.url("/evil-title.html"), env=env, check=True)
    assert "\x1b" not in extracted.stdout and "Title \\x1b[2J" in extracted.stdout
    # JSON keeps the exact value; JSON escapes control characters itself.
    assert EVIL in json.loads(run_cli("status", job["id"], "--json").stdout)[0]["source"]


# -- who can read the store -------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_home_is_private(home: Path) -> None:
    run_cli("add", str(corpus(TRIVIAL)), check=True)
    assert iq("worker", "--burst").returncode == 0
    assert mode(home) == 0o700
    for name in ("state.db", "queue.db", "chroma/chroma.sqlite3"):
        assert mode(home / name) == 0o600, name
    assert all(mode(p) & 0o077 == 0 for p in (home / "blobs").rglob("*") if p.is_file())


def test_an_open_home_is_made_private_and_said_once(home: Path) -> None:
    run_cli("add", str(corpus(TRIVIAL)), check=True)
    home.chmod(0o755)
    (home / "state.db").chmod(0o644)
    (home / "queue.db").chmod(0o666)
    first = run_cli("status", check=True)
    assert "made" in first.stderr and "private" in first.stderr
    assert mode(home) == 0o700 and mode(home / "state.db") == mode(home / "queue.db") == 0o600
    assert run_cli("status", check=True).stderr == "", "said once: nothing to say now"

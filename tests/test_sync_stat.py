"""`add DIR --sync` reads only what changed: each file's stat is remembered with its hash.

Whether a file was read is seen from outside, in the real process: the JSON's
``hashed`` count, and the bytes the process's read calls returned (``rchar`` in
``/proc/self/io``, page cache included), written by the process as it exits.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import FOUR_PAGES, MULTICOLUMN, TRIVIAL, corpus, run_cli, wait_until

# Each test runs twice: on an embedded home, then on the servers (see conftest).
pytestmark = pytest.mark.usefixtures("backend")

#: Run before ingestq: at exit, the process writes its /proc/self/io to $IQ_IO_OUT.
REPORT_IO = (
    "import atexit, os\n"
    "def _io():\n"
    "    with open('/proc/self/io') as src, open(os.environ['IQ_IO_OUT'], 'w') as out:\n"
    "        out.write(src.read())\n"
    "atexit.register(_io)\n"
)
PADDING = 16 * 1024 * 1024  # bytes added to each file, so reading one shows in rchar


def sync(directory: Path, *extra: str) -> dict[str, Any]:
    proc = run_cli("add", str(directory), "--sync", "--json", *extra, check=True)
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def sync_reading(directory: Path, tmp_path: Path, *extra: str) -> tuple[dict[str, Any], int]:
    """A sync, and how many bytes its process's read calls returned."""
    io_out = tmp_path / "io.txt"
    proc = run_cli(
        "add",
        str(directory),
        "--sync",
        "--json",
        *extra,
        fault=REPORT_IO,
        env={"IQ_IO_OUT": str(io_out)},
        check=True,
    )
    io = dict(line.split(": ") for line in io_out.read_text().splitlines())
    return json.loads(proc.stdout), int(io["rchar"])


def settle(*paths: Path) -> None:
    """Wait until the files' last change is over a second old: past the racy window."""
    newest = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in paths)
    wait_until(lambda: time.time_ns() > newest + 1_200_000_000, 5, "the clock to move on")


def make_docs(tmp_path: Path, pad: int = 0) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n, src in enumerate((TRIVIAL, FOUR_PAGES, MULTICOLUMN)):
        data = corpus(src).read_bytes()
        # Bytes after %%EOF, different in each file: a reader ignores them.
        (docs / f"{n}.pdf").write_bytes(data + (b"%% pad %d\n" % n) * (pad // 10))
    settle(*docs.iterdir())
    return docs


def test_an_unchanged_sync_reads_no_file(tmp_path: Path, home: Path) -> None:
    docs = make_docs(tmp_path, pad=PADDING)
    total = sum(p.stat().st_size for p in docs.iterdir())
    first = sync(docs)
    assert (first["added"], first["hashed"], len(first["jobs"])) == (3, 3, 3)
    settle(*docs.iterdir())  # the first sync's records must be out of the racy window too
    again, read = sync_reading(docs, tmp_path)
    assert (again["unchanged"], again["hashed"], again["jobs"]) == (3, 0, [])
    assert read < PADDING, f"an unchanged sync read {read} bytes, as much as a whole file"
    paranoid, read_all = sync_reading(docs, tmp_path, "--checksum")
    assert (paranoid["unchanged"], paranoid["hashed"], paranoid["jobs"]) == (3, 3, [])
    assert read_all - read >= total


def test_same_size_and_restored_mtime_is_caught_by_the_ctime(tmp_path: Path, home: Path) -> None:
    # Restoring the mtime (touch -d) cannot restore the change time: the file is read.
    docs = make_docs(tmp_path)
    target = docs / "1.pdf"
    sync(docs)
    settle(*docs.iterdir())
    before = target.stat()
    data = bytearray(target.read_bytes())
    data[-20:-10] = b"0123456789"
    target.write_bytes(bytes(data))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    settle(target)  # out of the racy window: only the stat can tell
    plan = sync(docs)
    # No worker ran: the file is no document yet, so its new bytes are "added" anew.
    assert (plan["added"], plan["unchanged"], plan["hashed"]) == (1, 2, 1)
    assert [j["source"] for j in plan["jobs"]] == [str(target)]
    assert sync(docs)["hashed"] == 0
    paranoid = sync(docs, "--checksum")
    assert (paranoid["hashed"], paranoid["unchanged"], paranoid["jobs"]) == (3, 3, [])


def test_a_file_changed_within_the_second_of_a_sync_is_read_again(
    tmp_path: Path, home: Path
) -> None:
    docs = make_docs(tmp_path)
    fresh = docs / "0.pdf"
    # Stamped later than the syncs begin (a clock ahead, or a write while the sync
    # ran): its stat could stay the same through another write, so it is not trusted.
    later = time.time_ns() + 15_000_000_000
    os.utime(fresh, ns=(later, later))
    sync(docs)
    second = sync(docs)
    assert (second["hashed"], second["unchanged"], second["jobs"]) == (1, 3, [])
    wait_until(lambda: time.time_ns() > later + 1_200_000_000, 30, "the clock to pass it")
    # The record the second sync wrote is from before that time: read once more...
    assert sync(docs)["hashed"] == 1
    # ...and the record written now, well after it, is trusted.
    assert sync(docs)["hashed"] == 0


def test_a_file_replaced_by_a_rename_is_read_again(tmp_path: Path, home: Path) -> None:
    docs = make_docs(tmp_path)
    target = docs / "2.pdf"
    sync(docs)
    before = target.stat()
    copy = tmp_path / "copy.pdf"
    shutil.copy2(target, copy)  # same bytes, same size and mtime, another inode
    os.replace(copy, target)
    assert target.stat().st_ino != before.st_ino
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    settle(*docs.iterdir())
    plan = sync(docs)
    assert (plan["hashed"], plan["unchanged"], plan["jobs"]) == (1, 3, [])
    # Other bytes under the old name, size and mtime: changed.
    other = tmp_path / "other.pdf"
    data = bytearray(target.read_bytes())
    data[-20:-10] = b"abcdefghij"
    other.write_bytes(bytes(data))
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, target)
    plan = sync(docs)
    assert (plan["hashed"], plan["added"], plan["plan"]["added"]) == (1, 1, [str(target)])


def test_a_second_sync_before_the_worker_queues_nothing_and_reads_nothing(
    tmp_path: Path, home: Path
) -> None:
    docs = make_docs(tmp_path)
    first = sync(docs)
    settle(*docs.iterdir())
    again = sync(docs)
    assert (again["unchanged"], again["hashed"], again["jobs"]) == (3, 0, [])
    (docs / "0.pdf").unlink()
    gone = sync(docs)
    assert gone["removed"] == 0, "a file never ingested has no chunks to remove"
    assert {j["source"] for j in first["jobs"]} >= {str(docs / "1.pdf"), str(docs / "2.pdf")}

"""The command line as a user runs it: real processes, exit codes, output shapes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import FOUR_PAGES, GEOTOPO, ROOT, TRIVIAL, corpus
from ingestq.cli.reference import command_names, help_text

COMMANDS = command_names()  # every registered command, not a hand-kept list


def test_the_commands_are_all_there() -> None:
    assert {"add", "scrape", "worker", "status", "watch", "search", "ask", "extract"} <= set(
        COMMANDS
    )
    assert len(COMMANDS) == len(set(COMMANDS)) == 24  # tokens: a group and its three


def test_python_dash_m_and_help_list_every_command(cli: Any) -> None:
    proc = cli("--help", check=True)
    for command in COMMANDS:
        assert command.split()[0] in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_an_example(command: str) -> None:
    out = help_text(*command.split())
    assert "Example: ingestq " + command in " ".join(out.split())


def test_the_command_reference_is_up_to_date() -> None:
    # docs/commands.md is generated from the commands' --help: `scripts/docs` rewrites it.
    proc = subprocess.run(
        [str(ROOT / "scripts" / "docs"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "ingestq"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "add" in proc.stdout


def test_add_prints_a_table_and_json(cli: Any, tmp_path: Path) -> None:
    proc = cli("add", str(corpus(TRIVIAL)), check=True)
    assert "minimal-document.pdf" in proc.stdout and "queued" in proc.stdout
    proc = cli("add", str(corpus(FOUR_PAGES)), "--json", check=True)
    [entry] = json.loads(proc.stdout)
    assert set(entry) == {"id", "source", "state"} and entry["state"] == "queued"
    again = json.loads(cli("add", str(corpus(FOUR_PAGES)), "--json", check=True).stdout)
    assert again == [entry | {"duplicate_of": entry["id"]}]


def test_add_exit_codes(cli: Any, tmp_path: Path) -> None:
    text = tmp_path / "notes.pdf"
    text.write_text("plain text with a pdf name")
    none_valid = cli("add", str(text), str(tmp_path / "missing.pdf"))
    assert none_valid.returncode == 2
    assert "Traceback" not in none_valid.stderr
    assert "not a PDF" in none_valid.stderr and "no such file" in none_valid.stderr
    some_valid = cli("add", str(text), str(corpus(TRIVIAL)), "--json")
    assert some_valid.returncode == 1
    assert len(json.loads(some_valid.stdout)) == 1
    assert some_valid.stderr.count("\n") == 1  # one clear line per bad path
    usage = cli("add")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["add", "x.pdf", "--collection", "a b"],
        ["add", "x.pdf", "--chunk-tokens", "3"],
        ["status", "--state", "weird"],
        ["status", "--limit", "0"],
        ["search", " "],
        ["worker", "--concurrency", "0"],
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(cli: Any, args: list[str]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip()


def test_bad_environment_is_a_clear_error(cli: Any) -> None:
    proc = cli("add", str(corpus(TRIVIAL)), env={"INGESTQ_MAX_FILE_MB": "lots"})
    assert proc.returncode == 2
    assert "INGESTQ_MAX_FILE_MB must be a number" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_status_json_fields_and_detail(cli: Any) -> None:
    [entry] = json.loads(cli("add", str(corpus(TRIVIAL)), "--json", check=True).stdout)
    [job] = json.loads(cli("status", "--json", check=True).stdout)
    required = {
        "id",
        "kind",
        "source",
        "collection",
        "state",
        "stage",
        "progress",
        "attempts",
        "error",
        "vector_count",
        "topics",
        "queued_at",
        "started_at",
        "completed_at",
    }
    assert required <= set(job)
    assert (job["id"], job["kind"], job["state"], job["topics"]) == (
        entry["id"],
        "pdf",
        "queued",
        [],
    )
    assert job["queued_at"].endswith("Z")
    [detail] = json.loads(cli("status", entry["id"][:22], "--json", check=True).stdout)
    assert detail["id"] == entry["id"]
    assert [e["event"] for e in detail["events"]] == ["queued"]
    table = cli("status", entry["id"], check=True).stdout
    assert entry["id"] in table and "content_hash" in table
    assert json.loads(cli("status", "--state", "failed", "--json", check=True).stdout) == []


def test_status_of_an_unknown_job(cli: Any) -> None:
    proc = cli("status", "01NOPE")
    assert proc.returncode == 1 and "no job matches" in proc.stderr


def test_status_on_an_empty_home(cli: Any) -> None:
    assert "no jobs" in cli("status", check=True).stdout
    assert json.loads(cli("status", "--json", check=True).stdout) == []


def test_search_before_anything_is_ingested(cli: Any) -> None:
    proc = cli("search", "anything")
    assert proc.returncode == 1 and "nothing has been ingested" in proc.stderr


def test_extract_text_and_json(cli: Any) -> None:
    out = cli("extract", str(corpus(FOUR_PAGES)), check=True).stdout
    assert out.count("── page") == 4
    doc = json.loads(cli("extract", str(corpus(GEOTOPO)), "--json", check=True).stdout)
    assert doc["title"] == "Geometrie und Topologie"
    assert [p["page"] for p in doc["pages"]] == list(range(1, 118))
    assert "ﬁ" not in json.dumps(doc, ensure_ascii=False)  # ligatures normalised


def test_extract_errors(cli: Any, tmp_path: Path) -> None:
    assert cli("extract", str(tmp_path / "none.pdf")).returncode == 2
    proc = cli(
        "extract", str(corpus("005-libreoffice-writer-password/libreoffice-writer-password.pdf"))
    )
    assert proc.returncode == 1 and "encrypted" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_home_is_created_on_first_use_and_holds_everything(cli: Any, home: Path) -> None:
    assert not home.exists()
    cli("add", str(corpus(TRIVIAL)), check=True)
    assert (home / "state.db").is_file() and (home / "queue.db").is_file()
    assert any((home / "blobs").rglob("*"))


def test_add_does_not_import_the_heavy_stack(cli: Any, tmp_path: Path, home: Path) -> None:
    # The first command of a home runs the migrations, which use sqlite-utils
    # (and so numpy); every later `add` must not load any of it, nor the
    # server backends' clients.
    cli("status", check=True)
    pdf = tmp_path / "a.pdf"
    shutil.copy(corpus(TRIVIAL), pdf)
    code = (
        "import sys; from ingestq.cli import main\n"
        "try:\n    main(['add', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'chromadb', 'transformers',"
        " 'numpy', 'pypdf', 'psycopg', 'psycopg_pool', 'redis', 'fastapi', 'starlette',"
        " 'uvicorn', 'python_multipart') if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(pdf)], capture_output=True, text=True, timeout=60
    )
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_search_refuses_a_collection_built_with_another_model(cli: Any, home: Path) -> None:
    from ingestq.config import load_settings
    from ingestq.store import open_vector_store

    open_vector_store(load_settings()).ensure_collection("default", "another-model", 768)
    proc = cli("search", "anything")
    assert proc.returncode == 2
    assert "another-model" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("search", "anything", "--collection", "nope")
    assert proc.returncode == 1 and "does not exist" in proc.stderr


def test_status_since_filters_on_the_last_change(cli: Any, home: Path) -> None:
    import sqlite3

    [old] = json.loads(cli("add", str(corpus(TRIVIAL)), "--json", check=True).stdout)
    [new] = json.loads(cli("add", str(corpus(FOUR_PAGES)), "--json", check=True).stdout)
    with sqlite3.connect(home / "state.db") as conn:
        conn.execute(
            "UPDATE jobs SET updated_at = '2000-01-01T00:00:00.000Z' WHERE id = ?", (old["id"],)
        )
    recent = json.loads(cli("status", "--since", "24h", "--json", check=True).stdout)
    assert [j["id"] for j in recent] == [new["id"]]
    assert len(json.loads(cli("status", "--json", check=True).stdout)) == 2
    bad = cli("status", "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_a_state_database_from_a_newer_ingestq_is_refused(cli: Any, home: Path) -> None:
    import sqlite3

    cli("status", check=True)
    with sqlite3.connect(home / "state.db") as conn:
        conn.execute("PRAGMA user_version = 999")
    proc = cli("status")
    assert proc.returncode == 1 and "newer ingestq" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_corrupt_state_database_is_a_clear_error(cli: Any, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "state.db").write_bytes(b"this is not a database, just text" * 100)
    proc = cli("add", str(corpus(TRIVIAL)))
    assert proc.returncode == 1 and "cannot be used" in proc.stderr
    assert "Traceback" not in proc.stderr

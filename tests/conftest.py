"""Shared fixtures. Every test gets its own INGESTQ_HOME under tmp_path."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "sample-files"


def corpus(relative: str) -> Path:
    path = CORPUS / relative
    assert path.is_file(), f"test corpus file missing: {path}"
    return path


TRIVIAL = "001-trivial/minimal-document.pdf"
FOUR_PAGES = "004-pdflatex-4-pages/pdflatex-4-pages.pdf"
GEOTOPO = "009-pdflatex-geotopo/GeoTopo-komprimiert.pdf"
MULTICOLUMN = "026-latex-multicolumn/multicolumn.pdf"
ENCRYPTED = "005-libreoffice-writer-password/libreoffice-writer-password.pdf"
IMAGE_ONLY = "019-grayscale-image/grayscale-image.pdf"
BROKEN = "017-unreadable-meta-data/unreadablemetadata.pdf"
GOOGLE_DOC = "011-google-doc-document/google-doc-document.pdf"
CRAZY_ONES = "021-pdfa/crazyones-pdfa.pdf"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX exports of the model, shared by every home of the session: made once."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> Path:
    """Point ingestq at a fresh home, offline, with short grace periods."""
    path = tmp_path / "home"
    monkeypatch.setenv("INGESTQ_HOME", str(path))
    monkeypatch.setenv("INGESTQ_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    for name in ("INGESTQ_MAX_FILE_MB", "INGESTQ_MODEL", "INGESTQ_JOB_TIMEOUT",
                 "INGESTQ_EMBED_BACKEND"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture(scope="session")
def embedder() -> Any:
    """The real packaged model, loaded once for the whole session.

    ``make_embedder`` keeps one per process, so in-process workers and the CLI
    run in this process (``iq``) use this same one.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ingestq.config import DEFAULT_MODEL
    from ingestq.embed import make_embedder

    return make_embedder(DEFAULT_MODEL)


@pytest.fixture(autouse=True)
def _close_chroma() -> Iterator[None]:
    """Chroma keeps every client it opened for the process's life: close this test's."""
    yield
    if "chromadb" in sys.modules:
        from chromadb.api.shared_system_client import SharedSystemClient

        for system in list(SharedSystemClient._identifier_to_system.values()):
            system.stop()
        SharedSystemClient.clear_system_cache()


@dataclass
class Ran:
    """How a command run by ``iq`` ended, as ``subprocess.run`` would say it."""

    returncode: int
    stdout: str
    stderr: str


def iq(*args: str, env: dict[str, str] | None = None, check: bool = False) -> Ran:
    """Run ``ingestq ARGS`` through the real CLI, in this process.

    The same entry point, output and exit code as a new process, but it shares
    the session's loaded model: use it for workers that need no process of their
    own. Signals and crashes need ``run_cli`` or ``worker_proc``.
    """
    from ingestq.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    ran = Ran(code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"ingestq {' '.join(args)} exited {code}:\n{ran.stdout}\n{ran.stderr}")
    return ran


def state() -> Any:
    """The state database of the test's home (the caller closes it, or lets it go)."""
    from ingestq.config import load_settings
    from ingestq.state import open_state

    return open_state(load_settings())


def get_job(job_id: str) -> Any:
    """The job as the state database has it now."""
    from ingestq.state.jobs import get_job as find

    db = state()
    try:
        return find(db, job_id)
    finally:
        db.close()


def run_burst(embedder: Any, settings: Any = None) -> Any:
    """Run every due job in this process with the session's model, as ``worker --burst`` would."""
    from ingestq.config import load_settings
    from ingestq.worker.worker import Worker, WorkerOptions

    worker = Worker(settings or load_settings(), embedder)
    worker.run(WorkerOptions(burst=True))
    return worker


def store_records(
    where: dict[str, Any] | None = None, collection: str = "default"
) -> list[dict[str, Any]]:
    """Every chunk the vector store holds whose metadata has the values ``where`` gives."""
    from ingestq.config import load_settings
    from ingestq.store import open_vector_store

    records = open_vector_store(load_settings()).records(collection)
    return [r for r in records if all(r["metadata"].get(k) == v for k, v in (where or {}).items())]


def stored(job_id: str, collection: str = "default") -> dict[str, list[Any]]:
    """A job's chunks as the vector store holds them: ids, documents and metadatas."""
    records = store_records({"job_id": job_id}, collection)
    return {
        "ids": [r["id"] for r in records],
        "documents": [r["text"] for r in records],
        "metadatas": [r["metadata"] for r in records],
    }


def run_cli(
    *args: str,
    check: bool = False,
    timeout: float = 120,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    fault: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ingestq`` as a user would, in a real process (after ``fault``, if any)."""
    proc = subprocess.run(
        with_fault(fault, *args) if fault else [sys.executable, "-m", "ingestq", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"ingestq {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def cli() -> Any:
    return run_cli


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def server() -> Iterator[Any]:
    """A real HTTP server on 127.0.0.1 (see webserver.py), friendly and hostile pages alike."""
    from webserver import serve  # imported here: webserver imports this module

    with serve() as srv:
        yield srv


class WorkerProcess(subprocess.Popen[str]):
    """A worker process whose log goes to a file (a pipe nobody reads would fill and block it)."""

    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 300) -> None:
        """Until the worker has loaded and, on shared state, registered itself."""
        wait_until(lambda: "ready:" in self.log(), timeout, "the worker to be ready")


#: A "fault" that only watches: at exit the process writes its peak resident memory
#: (VmHWM, which exec resets, unlike wait4's ru_maxrss) to stderr as "PEAK-RSS-KB n".
MEASURE_PEAK = """
import atexit, re, sys
def _peak():
    status = open("/proc/self/status").read()
    sys.stderr.write("PEAK-RSS-KB " + re.search(r"VmHWM:\\s+(\\d+)", status).group(1) + "\\n")
atexit.register(_peak)
"""


def peak_rss_mb(stderr: str) -> float:
    """The peak memory a process run with ``MEASURE_PEAK`` reported, in MB."""
    [line] = [ln for ln in stderr.splitlines() if ln.startswith("PEAK-RSS-KB ")]
    return int(line.split()[1]) / 1024


def with_fault(fault: str, *args: str) -> list[str]:
    """A command line running ``ingestq ARGS`` after ``fault``, Python code that breaks
    something on purpose (the fault is the test's; the product has no fault hooks)."""
    code = f"import sys\n{fault}\nfrom ingestq.cli import main\nmain(sys.argv[1:])\n"
    return [sys.executable, "-c", code, *args]


@pytest.fixture
def worker_proc(home: Path, tmp_path: Path) -> Iterator[Any]:
    """Start ``ingestq worker`` processes; kill any still running at teardown."""
    procs: list[WorkerProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, fault: str = "") -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(procs)}.log"
        command = (
            with_fault(fault, "worker", *args)
            if fault
            else [sys.executable, "-m", "ingestq", "worker", *args]
        )
        with log_path.open("w") as log:
            proc = WorkerProcess(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        proc.log_path = log_path
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


# -- servers: PostgreSQL, Redis and a Chroma server ---------------------------
#
# The machine runs PostgreSQL (127.0.0.1:5432, trust auth, database "test") and
# Redis (127.0.0.1:6379) before every session. A test run makes its own
# database, and a Redis key prefix per test; the Chroma server is started here.

PG_ADMIN_URL = os.environ.get("INGESTQ_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("INGESTQ_TEST_REDIS", "redis://127.0.0.1:6379/0")


@dataclass
class Servers:
    """The servers of this test run, and how to make a fresh corner of each."""

    run: str  # a name unique to this run: the database's, and the prefix of everything
    pg_base: str  # a URL of the run's own database
    redis_url: str
    chroma_url: str
    chroma_port: int
    chroma_path: Path
    chroma_proc: subprocess.Popen[bytes] | None = None
    count: int = 0

    def env(self, name: str) -> dict[str, str]:
        """The INGESTQ_* variables that put ``name``'s state, queue and vectors on the servers."""
        return {
            "INGESTQ_DATABASE_URL": f"{self.pg_base}?options=-csearch_path%3D{name}",
            "INGESTQ_QUEUE_URL": self.redis_url,
            "INGESTQ_QUEUE_NAME": f"{self.run}_{name}",
            "INGESTQ_CHROMA_URL": self.chroma_url,
            "INGESTQ_CHROMA_DATABASE": f"{self.run}_{name}",
        }

    def fresh(self) -> str:
        """A new schema in the run's database; its name."""
        import psycopg

        self.count += 1
        name = f"t{self.count}"
        with psycopg.connect(self.pg_base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return name

    def drop(self, name: str) -> None:
        import psycopg
        import redis

        with psycopg.connect(self.pg_base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(f"huey.*.{self.run}_{name}*"))
        if keys:
            client.delete(*keys)

    def start_chroma(self) -> None:
        """Start (or restart) the Chroma server on its port and wait until it answers."""
        import httpx

        log = (self.chroma_path.parent / "chroma.log").open("ab")
        chroma = str(Path(sys.executable).parent / "chroma")
        args = ["run", "--path", str(self.chroma_path), "--port", str(self.chroma_port)]
        self.chroma_proc = subprocess.Popen(
            [chroma, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.chroma_url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("the Chroma server did not start")

    def stop_chroma(self) -> None:
        if self.chroma_proc is not None and self.chroma_proc.poll() is None:
            self.chroma_proc.terminate()
            try:
                self.chroma_proc.wait(15)
            except subprocess.TimeoutExpired:
                self.chroma_proc.kill()
                self.chroma_proc.wait(15)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """This run's database on PostgreSQL, its Redis prefix, and a Chroma server of its own."""
    import secrets

    import psycopg

    run = f"iqt_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {run}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{run}"
    port = free_port()
    found = Servers(
        run=run,
        pg_base=base,
        redis_url=REDIS_URL,
        chroma_url=f"http://127.0.0.1:{port}",
        chroma_port=port,
        chroma_path=tmp_path_factory.mktemp("chroma-server") / "data",
    )
    found.start_chroma()
    try:
        yield found
    finally:
        found.stop_chroma()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {run} WITH (FORCE)")


@pytest.fixture(params=["embedded", "servers"])
def backend(
    request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Run the test twice: everything under the home, then on the servers.

    Modules of the behavioural suite use it for every test (``pytestmark``).
    """
    if request.param == "embedded":
        yield "embedded"
        return
    found: Servers = request.getfixturevalue("servers")
    name = found.fresh()
    for key, value in found.env(name).items():
        monkeypatch.setenv(key, value)
    try:
        yield "servers"
    finally:
        found.drop(name)


def on_servers() -> bool:
    """Whether the running test has its state on the servers (see ``backend``)."""
    return bool(os.environ.get("INGESTQ_DATABASE_URL"))

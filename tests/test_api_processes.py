"""``serve --workers N``: a listening socket per process, spread connections, restarts,
and a port already taken (see :mod:`ingestq.api.processes`)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from apiserver import start_server
from conftest import free_port, iq, run_cli
from ingestq.api.processes import ServeError, Supervisor, listeners


def _servers(pid: int) -> list[int]:
    """The server processes under ``serve`` (its children that run uvicorn)."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(int(child))
        except FileNotFoundError:
            pass  # ended meanwhile
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (an orphan that ended may linger as a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _tcp_to(port: int, state: str) -> set[str]:
    """The socket inodes of this host's TCP sockets on local ``port`` in ``state``
    (``01`` established, ``0A`` listening)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.add(fields[9])
    return inodes


def _open_connections(url: str, count: int) -> list[socket.socket]:
    """``count`` keep-alive connections, each answered once (so each is accepted)."""
    host, port = url.removeprefix("http://").split(":")
    out = []
    for _ in range(count):
        conn = socket.create_connection((host, int(port)), timeout=30)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 200"), "no answer"
        out.append(conn)
    return out


def test_the_kernel_spreads_connections_over_the_sockets() -> None:
    port = free_port()
    socks = listeners("127.0.0.1", port, 2)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    try:
        accepted = []
        for sock in socks:
            sock.setblocking(False)
            count = 0
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                conn.close()
                count += 1
            accepted.append(count)
        # By the connections' addresses: 20 to one socket has odds of 2 in a million.
        assert sum(accepted) == 20 and min(accepted) >= 1, accepted
    finally:
        for s in clients + socks:
            s.close()


def test_each_server_process_takes_connections(tmp_path: Path) -> None:
    with start_server(tmp_path, "--workers", "2") as api:
        servers = _servers(api.proc.pid)
        assert len(servers) == 2, servers
        port = int(api.url.rsplit(":", 1)[1])
        # A listening socket each (uvicorn's supervisor shares one), both kept open
        # by the parent too.
        listening = _tcp_to(port, "0A")
        own = [_socket_inodes(pid) & listening for pid in servers]
        assert [len(x) for x in own] == [1, 1] and own[0] != own[1], own
        assert _socket_inodes(api.proc.pid) & listening == own[0] | own[1]
        conns = _open_connections(api.url, 20)
        try:
            live = _tcp_to(port, "01")
            held = [len(_socket_inodes(pid) & live) for pid in servers]
            assert sum(held) == 20 and min(held) >= 1, held
        finally:
            for conn in conns:
                conn.close()


def test_a_server_process_that_dies_is_replaced(tmp_path: Path) -> None:
    with start_server(tmp_path, "--workers", "2") as api:
        deadline = time.monotonic() + 30
        while "serving on" not in api.log():  # printed once both processes serve
            assert time.monotonic() < deadline, api.log()
            time.sleep(0.05)
        before = _servers(api.proc.pid)
        os.kill(before[0], signal.SIGKILL)
        # (A request it had accepted as it died would be lost: wait until it is gone.)
        deadline = time.monotonic() + 10
        while _running(before[0]):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        # The dead process's socket stays open in the parent: connections that land
        # on it wait for the replacement instead of being refused.
        for _ in range(20):
            with httpx.Client(timeout=60) as client:  # a new connection each time
                assert client.get(api.url + "/healthz").status_code == 200
        deadline = time.monotonic() + 30
        while len(after := _servers(api.proc.pid)) != 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(after) == 2 and before[0] not in after, (before, after)
        assert api.proc.poll() is None
    assert "a server process ended by signal 9; starting another" in api.log()


def test_a_taken_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = iq("serve", "--workers", "2", "--port", str(port))
    assert ran.returncode == 1
    last = ran.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot listen on 127.0.0.1:{port}"), ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_second_serve_cannot_join_the_port_and_a_signal_stops_all(
    tmp_path: Path, sig: signal.Signals
) -> None:
    with start_server(tmp_path, "--workers", "2") as api:
        port = api.url.rsplit(":", 1)[1]
        # SO_REUSEPORT would let a second server of ours join the first silently.
        # (In a process of its own, with a timeout: were the probe broken, this
        # serve would join the port and serve on.)
        ran = run_cli("serve", "--workers", "2", "--port", port, timeout=60)
        assert ran.returncode == 1 and "cannot listen" in ran.stderr, ran.stderr
        servers = _servers(api.proc.pid)
        # Ctrl-C reaches the whole process group; kill reaches the parent alone.
        if sig == signal.SIGINT:
            os.killpg(api.proc.pid, sig)
        else:
            api.proc.send_signal(sig)
        assert api.proc.wait(30) == 0, api.log()
        assert not any(Path(f"/proc/{p}").exists() for p in servers)
        assert "Traceback" not in api.log(), api.log()


def test_processes_that_cannot_start_stop_the_server() -> None:
    # An app that cannot load: each process exits at start, and restarting it again
    # and again would only hide that; the supervisor stops with an error instead.
    port = free_port()
    options = {"app": "ingestq_no_such_module:app", "factory": True, "log_level": "critical"}
    supervisor = Supervisor(listeners("127.0.0.1", port, 2), options)
    started = time.monotonic()
    with pytest.raises(ServeError, match="could not start"):
        supervisor.run()
    assert time.monotonic() - started < 60
    assert not any(p.is_alive() for p in supervisor.processes)
    # The sockets are closed: the port is free again.
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))


def test_a_process_killed_while_it_starts_is_replaced(tmp_path: Path) -> None:
    # Killed by a signal before it served (the OOM killer, an operator): not a broken
    # app, so it is started again rather than stopping the server.
    with start_server(tmp_path, "--workers", "2") as api:
        servers = _servers(api.proc.pid)
        for pid in servers:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(after := _servers(api.proc.pid)) != 2 or set(after) & set(servers):
            assert time.monotonic() < deadline and api.proc.poll() is None, api.log()
            time.sleep(0.2)
        with httpx.Client(timeout=60) as client:
            assert client.get(api.url + "/healthz").status_code == 200


def test_server_processes_stop_when_serve_is_killed(tmp_path: Path) -> None:
    with start_server(tmp_path, "--workers", "2") as api:
        servers = _servers(api.proc.pid)
        api.proc.kill()  # no chance to stop them: each notices on its own
        api.proc.wait(10)
        deadline = time.monotonic() + 30
        while any(_running(p) for p in servers):
            assert time.monotonic() < deadline, "a server process outlived serve"
            time.sleep(0.2)

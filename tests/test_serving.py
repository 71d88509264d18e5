"""gunicorn as production runs it (gunicorn.conf.py): one listening socket that the workers
share, a second server on the same port refused, a log that says where it listens, and a
USR2 upgrade that hands the socket to a new master without a refused request.

Real processes on loopback: the bench's AppServer starts gunicorn with the project's
configuration on a free port, with its own temporary database and keys.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from bench.common import BIN, ROOT, AppServer

LISTEN = "0A"  # the TCP state in /proc/net/tcp


def listening_sockets(port: int) -> list[str]:
    """The inodes of the IPv4 sockets listening on `port`."""
    inodes = []
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == LISTEN:
                inodes.append(fields[9])
    return inodes


def status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        return response.status


def test_workers_share_one_socket_and_a_second_server_is_refused():
    with AppServer(gunicorn_args=["--workers", "2"]) as server:
        assert len(set(listening_sockets(server.port))) == 1
        # gunicorn's own line names the address (it was empty with a socket per worker)
        assert f"Listening at: http://127.0.0.1:{server.port} (" in server.log_tail()

        second = subprocess.run(
            [
                str(BIN / "gunicorn"),
                "-c",
                str(ROOT / "gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{server.port}",
                "--workers",
                "1",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "Connection in use" in second.stderr + second.stdout
        # The first server is untouched: still its socket, still serving.
        assert len(set(listening_sockets(server.port))) == 1
        assert status(server.url + "/manifest.webmanifest") == 200


def wait_for(check, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_usr2_upgrade_hands_the_socket_to_a_new_master():
    """gunicorn's documented binary upgrade: USR2 starts a new master on the same socket,
    then TERM retires the old one; the site answers throughout."""
    server = AppServer(gunicorn_args=["--workers", "1"])
    pidfile = server.tmp / "gunicorn.pid"
    server.gunicorn_args += ["--pid", str(pidfile)]
    with server:
        old = server.proc.pid
        new = None
        try:
            os.kill(old, signal.SIGUSR2)
            # the new master writes its pid beside the old one's until it is promoted
            new = wait_for(lambda: read_pid(Path(f"{pidfile}.2")))
            wait_for(lambda: server.log_tail().count("Booting worker") >= 2)
            assert status(server.url + "/manifest.webmanifest") == 200
            os.kill(old, signal.SIGTERM)
            server.proc.wait(timeout=30)
            assert is_running(new)
            assert len(set(listening_sockets(server.port))) == 1
            assert status(server.url + "/manifest.webmanifest") == 200
        finally:
            if new and is_running(new):
                os.kill(new, signal.SIGTERM)
                wait_for(lambda: not is_running(new))


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def test_a_unix_socket_keeps_one_shared_socket_and_serves(tmp_path):
    """A Unix socket path cannot be opened once per worker (each would replace the last),
    so with one among the addresses gunicorn keeps its one shared socket for all of them."""
    path = str(tmp_path / "closer.sock")
    with AppServer(gunicorn_args=["--workers", "2", "--bind", f"unix:{path}"]) as server:
        assert len(set(listening_sockets(server.port))) == 1  # shared, as gunicorn's default
        connection = UnixConnection(path)
        connection.request("GET", "/manifest.webmanifest")
        assert connection.getresponse().status == 200
        connection.close()

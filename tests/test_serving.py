"""gunicorn as production runs it (gunicorn.conf.py): a listening socket per worker, and no
second server sharing the port by accident.

Real processes on loopback: the bench's AppServer starts gunicorn with the project's
configuration on a free port, with its own temporary database and keys.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import urllib.request

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


def test_each_worker_listens_on_its_own_socket_and_a_second_server_is_refused(tmp_path):
    workers = 2
    with AppServer(gunicorn_args=["--workers", str(workers)]) as server:
        # With one shared socket the first worker to wake took whole bursts of keep-alive
        # connections; a socket per worker lets the kernel spread them (gunicorn.conf.py).
        assert len(set(listening_sockets(server.port))) == workers

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
        assert f"Cannot serve on 127.0.0.1:{server.port}" in second.stderr + second.stdout
        # The first server is untouched: still its two sockets, still serving.
        assert len(set(listening_sockets(server.port))) == workers
        assert status(server.url + "/manifest.webmanifest") == 200


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

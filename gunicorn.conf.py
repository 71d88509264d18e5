"""gunicorn settings for serving Closer: `gunicorn -c gunicorn.conf.py 'app:create_app()'`.

gunicorn also reads this file by itself when started from the project root (as `make run`
does); command-line flags win over it. See README, "Serving in production", and
BENCHMARKS.md for what these settings serve on a 2-core machine.

- One worker process per core: rendering a page is CPU-bound Python, so more processes than
  cores only adds switching (measured on the bench machine: 3 workers or 4 sync workers served
  `/` no faster, at more CPU per request).
- `gthread` workers with a few threads: a worker keeps idle keep-alive connections without
  blocking, and overlaps the short waits on the database.
- Each worker listens on a socket of its own (SO_REUSEPORT), and the kernel spreads new
  connections over them. With one shared socket, whichever worker woke first took a burst of
  keep-alive connections and kept them: measured with wrk's 64 connections, splits of 64/0,
  60/4 and 53/11 (64/0 served the static file at 1,340 req/s against 3,800 when spread),
  against 27/37 to 29/35 in every run with a socket per worker.
"""

import multiprocessing
import os
import socket

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5
reuse_port = True
control_socket_disable = True  # one fixed socket path would clash between instances


def on_starting(server):
    """Keep a socket per worker to fixed TCP ports, and refuse an address in use.

    With SO_REUSEPORT a second server on the same port (a second `make run`, an old
    instance still up) would bind too and silently take part of the connections; a socket
    without it cannot bind there, so the clash shows as the usual error."""
    if "GUNICORN_PID" in os.environ:  # the new master of a USR2 upgrade
        raise SystemExit(
            "Upgrade by restarting gunicorn or with HUP: its workers open their own sockets, "
            "which a USR2 re-exec cannot take over."
        )
    if not _socket_per_worker(server):
        return
    for host, port, *_ in server.cfg.address:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            try:
                probe.bind((host, port))
            except OSError as exc:
                where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
                raise SystemExit(f"Cannot serve on {where}: {exc.strerror}.") from None
        # gunicorn's own "Listening at" line is empty when the workers open the sockets.
        server.log.info("Listening at: http://%s:%s (a socket per worker)", host, port)


def on_reload(server):
    _socket_per_worker(server)  # HUP re-reads this file: decide again before new workers


def _socket_per_worker(server) -> bool:
    """Only fixed TCP ports can be shared per worker. Sockets handed over by systemd, a Unix
    socket (one path, which each worker would replace) or port 0 (a different random port
    per worker) keep gunicorn's one shared socket."""
    fixed_ports = all(
        isinstance(address, tuple) and address[1] != 0 for address in server.cfg.address
    )
    if "LISTEN_FDS" in os.environ or not fixed_ports:
        server.cfg.set("reuse_port", False)
    return server.cfg.reuse_port

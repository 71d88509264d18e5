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
    """Refuse an address another server already listens on.

    With SO_REUSEPORT a second server on the same port (a second `make run`, an old
    instance still up) would bind too and silently take part of the connections; a socket
    without it cannot bind there, so the clash shows as the usual error."""
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a Unix socket path: no port sharing there
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
            try:
                probe.bind(address[:2])
            except OSError as exc:
                message = f"Cannot serve on {address[0]}:{address[1]}: {exc.strerror}."
                raise SystemExit(message) from None
        # gunicorn's own "Listening at" line is empty when the workers open the sockets.
        server.log.info("Listening at: http://%s:%s (a socket per worker)", *address[:2])

"""gunicorn settings for serving Closer: `gunicorn -c gunicorn.conf.py 'app:create_app()'`.

gunicorn also reads this file by itself when started from the project root (as `make run`
does); command-line flags win over it. See README, "Serving in production", and
BENCHMARKS.md for what these settings serve on a 2-core machine.

- One worker process per core: rendering a page is CPU-bound Python, so more processes than
  cores only adds switching (measured on the bench machine: 3 workers or 4 sync workers served
  `/` no faster, at more CPU per request).
- `gthread` workers with a few threads: a worker keeps idle keep-alive connections without
  blocking, and overlaps the short waits on the database.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5
control_socket_disable = True  # one fixed socket path would clash between instances

"""gunicorn settings for serving Closer: `gunicorn -c gunicorn.conf.py 'app:create_app()'`.

gunicorn also reads this file by itself when started from the project root (as `make run`
does); command-line flags win over it. See README, "Serving in production".

- One worker process per core: rendering a page is CPU-bound Python, so more processes than
  cores only adds switching.
- `gthread` workers with a few threads: a worker keeps idle keep-alive connections without
  blocking, and overlaps the short waits on the database.
- gunicorn's own listening socket, shared by the workers: a second server on the same
  address is refused, and the standard upgrades (HUP for new workers, USR2 for a new
  binary) work as gunicorn documents them.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5
control_socket_disable = True  # one fixed socket path would clash between instances

"""gunicorn settings for serving Closer: `gunicorn -c gunicorn.conf.py 'app:create_app()'`.

Tuned by measurement on the benchmark machine (see BENCHMARKS.md and README, "Serving in
production"). Every value can be overridden on the command line or by the environment
variables below.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5
control_socket_disable = True  # one fixed socket path would clash between instances

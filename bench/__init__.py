"""Closer's benchmarks: `make bench` (or `.venv/bin/python -m bench`) runs them all.

Each benchmark is one module with a `run(ctx) -> list[Result]`; `bench.common` holds what
they share (a gunicorn server on a free port with its own temporary database and secrets,
the Chromium they launch), `bench.report` the result records, medians and the Markdown
table. Benchmarks are not tests: `make test` never runs them and no test asserts a timing
(`tests/test_bench_smoke.py` only checks the pure helpers).
"""

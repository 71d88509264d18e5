"""4. The server: `/` for a returning user at 8 concurrent connections.

The app runs the production way (gunicorn with gunicorn.conf.py, SQLite in WAL mode) and
`wrk` loads it from another process: 8 keep-alive connections (a busy minute of people
opening their day at once, not a load test), 2 wrk threads, `--latency`. Every request
sends what a phone sends: the cookie of a user made by a first visit (so `/` renders a
returning user's day from the database) and Chromium's `Accept-Encoding` (so the server
compresses as in real use). The target is the median request's latency (p50); requests/s
and the server's CPU per request (CPU time of gunicorn's processes / requests, from /proc,
whatever else the machine does) are reported beside it. wrk shares the machine's cores with
the server.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from bench.common import AppServer, Context, first_visit_cookie, log, tree_cpu_seconds, warm
from bench.report import Result, Target, median

GROUP = "server"
CONNECTIONS = 8
THREADS = 2
P50_LIMIT_MS = 25.0

# What Chromium sends: the server picks the compression it picks for a real browser.
ACCEPT_ENCODING = "gzip, deflate, br, zstd"

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_duration_ms(text: str) -> float:
    """wrk's `1.23ms`, `850.00us`, `1.02s` as milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict:
    """Requests/s, p50/p90/p99 latency (ms), errors and non-2xx counts from `wrk --latency`."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not rps:
        raise ValueError("no Requests/sec in wrk output")
    latency = {}
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)[ \t]*$", output, re.MULTILINE):
        latency[int(pct)] = parse_duration_ms(value)
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        errors = sum(int(n) for n in socket_errors.groups())
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = re.search(r"(\d+) requests in", output)
    return {
        "rps": float(rps.group(1)),
        "p50": latency.get(50),
        "p90": latency.get(90),
        "p99": latency.get(99),
        "errors": errors,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "requests": int(requests.group(1)) if requests else None,
    }


def wrk(url: str, seconds: int, headers: dict[str, str], server_pid: int | None = None) -> dict:
    cmd = [
        shutil.which("wrk") or "/usr/bin/wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else None
    done = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr}")
    result = parse_wrk(done.stdout)
    if cpu_before is not None and result["requests"]:
        spent = tree_cpu_seconds(server_pid) - cpu_before
        result["server_cpu_ms_per_request"] = round(1000 * spent / result["requests"], 3)
    if result["non_2xx"] or result["errors"]:
        raise RuntimeError(f"wrk {url}: {result['non_2xx']} non-2xx, {result['errors']} errors")
    return result


def run(ctx: Context) -> list[Result]:
    seconds = ctx.size(10, 3)
    rounds = ctx.size(3, 1)
    runs = []
    with AppServer() as server:
        cookie = first_visit_cookie(server.url)
        headers = {"Cookie": cookie, "Accept-Encoding": ACCEPT_ENCODING}
        warm(server.url, ["/"], rounds=20, cookie=cookie)
        wrk(server.url + "/", 2, headers)  # every worker thread has served a few
        for i in range(rounds):
            runs.append(wrk(server.url + "/", seconds, headers, server.proc.pid))
            log(
                f"server round {i + 1}/{rounds}: {runs[-1]['rps']:.0f} req/s, p50 "
                f"{runs[-1]['p50']} ms, {runs[-1].get('server_cpu_ms_per_request')} ms CPU"
            )

    def figure(key):
        values = [r.get(key) for r in runs]
        return median(values), values

    p50, p50_runs = figure("p50")
    p99, p99_runs = figure("p99")
    rps, rps_runs = figure("rps")
    cpu, cpu_runs = figure("server_cpu_ms_per_request")
    who = f"`/` returning user, {CONNECTIONS} connections"
    return [
        Result(
            GROUP,
            f"{who}: p50",
            p50,
            "ms",
            Target("<=", P50_LIMIT_MS, "ms"),
            p50_runs,
            detail={"runs": runs},
        ),
        Result(GROUP, f"{who}: requests/s", rps, "req/s", None, rps_runs),
        Result(GROUP, f"{who}: server CPU per request", cpu, "ms", None, cpu_runs),
        Result(GROUP, f"{who}: p99", p99, "ms", None, p99_runs),
    ]

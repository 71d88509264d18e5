"""4. Server throughput: `/` for a returning user versus a static file, from the same gunicorn.

The app runs the production way (gunicorn with gunicorn.conf.py, SQLite in WAL mode) and
`wrk` loads it from another process: 64 keep-alive connections, 2 wrk threads, `--latency`.
Both runs send what a phone sends: the user's cookie (from a first visit, so `/` renders a
returning user's day from the database) and Chromium's `Accept-Encoding` (so the server
compresses as it does in real use). The static file is the hashed stylesheet a page links
(`/static/css/app.css?v=...`, served with `immutable` caching). Runs alternate dynamic and
static so both see the same machine noise; each figure is the median of the runs.

wrk and the server share this machine's 2 cores: the figures are lower than the server alone
could do, the same for both sides of the ratio.

`/` is served from a per-process page cache while nothing it shows has changed (the two
queries still run; see page_cache.py). wrk's one user always hits it, so a second
server with the cache off (`PAGE_CACHE_SIZE=0`) measures `/` rendered on every request, in
the same rounds: what a user gets after a write, or on a day's first visit.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.request

from bench.common import (
    AppServer,
    Context,
    Result,
    Target,
    first_visit_cookie,
    log,
    median,
    ratio,
    tree_cpu_seconds,
    warm,
)

GROUP = "throughput"
CONNECTIONS = 64
THREADS = 2
P99_LIMIT_MS = 50.0
RATIO_LIMIT = 0.5

# What Chromium sends: the server picks brotli for pages and zstd for streamed static files.
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
        log(f"wrk {url}: {result['non_2xx']} non-2xx, {result['errors']} socket errors")
    return result


def stylesheet_url(base: str, cookie: str) -> str:
    request = urllib.request.Request(base + "/", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        html = response.read().decode()
    match = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]+)"', html)
    if not match:
        raise RuntimeError("no hashed stylesheet link on /")
    return base + match.group(1)


def run(ctx: Context, *, gunicorn_args=(), label: str = "") -> list[Result]:
    seconds = ctx.size(10, 3)
    rounds = ctx.size(3, 1)
    dynamic_runs, static_runs, rendered_runs = [], [], []
    uncached = {"FLASK_PAGE_CACHE_SIZE": "0"}
    with (
        AppServer(gunicorn_args=gunicorn_args) as server,
        AppServer(gunicorn_args=gunicorn_args, env=uncached) as rendering,
    ):
        cookie = first_visit_cookie(server.url)
        static_url = stylesheet_url(server.url, cookie)
        headers = {"Cookie": cookie, "Accept-Encoding": ACCEPT_ENCODING}
        rendering_headers = {**headers, "Cookie": first_visit_cookie(rendering.url)}
        warm(server.url, ["/", static_url[len(server.url) :]], rounds=20, cookie=cookie)
        warm(rendering.url, ["/"], rounds=20, cookie=rendering_headers["Cookie"])
        wrk(server.url + "/", 2, headers)
        wrk(static_url, 2, headers)
        wrk(rendering.url + "/", 2, rendering_headers)
        for i in range(rounds):
            dynamic_runs.append(wrk(server.url + "/", seconds, headers, server.proc.pid))
            static_runs.append(wrk(static_url, seconds, headers, server.proc.pid))
            rendered_runs.append(
                wrk(rendering.url + "/", seconds, rendering_headers, rendering.proc.pid)
            )
            log(
                f"throughput{label} round {i + 1}/{rounds}: / {dynamic_runs[-1]['rps']:.0f} req/s "
                f"p99 {dynamic_runs[-1]['p99']} ms; static {static_runs[-1]['rps']:.0f} req/s "
                f"p99 {static_runs[-1]['p99']} ms; / rendered {rendered_runs[-1]['rps']:.0f} "
                f"req/s p99 {rendered_runs[-1]['p99']} ms"
            )
        failures = sum(
            r["non_2xx"] + r["errors"] for r in dynamic_runs + static_runs + rendered_runs
        )
        if failures:
            log(f"server log tail:\n{server.log_tail(1500)}\n{rendering.log_tail(1500)}")

    def med(runs, key):
        return median(r.get(key) for r in runs), [r.get(key) for r in runs]

    d_cpu, d_cpu_runs = med(dynamic_runs, "server_cpu_ms_per_request")
    s_cpu, s_cpu_runs = med(static_runs, "server_cpu_ms_per_request")
    d_rps, d_rps_runs = med(dynamic_runs, "rps")
    s_rps, s_rps_runs = med(static_runs, "rps")
    d_p50, d_p50_runs = med(dynamic_runs, "p50")
    d_p99, d_p99_runs = med(dynamic_runs, "p99")
    s_p50, s_p50_runs = med(static_runs, "p50")
    s_p99, s_p99_runs = med(static_runs, "p99")
    r_rps, r_rps_runs = med(rendered_runs, "rps")
    r_p50, r_p50_runs = med(rendered_runs, "p50")
    r_p99, r_p99_runs = med(rendered_runs, "p99")
    r_cpu, r_cpu_runs = med(rendered_runs, "server_cpu_ms_per_request")
    detail = {
        "dynamic": dynamic_runs,
        "static": static_runs,
        "dynamic_page_cache_off": rendered_runs,
        "gunicorn_args": list(gunicorn_args),
    }
    if d_rps and d_cpu:
        ctx.note(
            f"throughput: with {CONNECTIONS} connections always waiting, mean latency is "
            f"{CONNECTIONS} / throughput (Little's law), so a p99 of at most {P99_LIMIT_MS:.0f} ms "
            f"needs well over {CONNECTIONS / (P99_LIMIT_MS / 1000):,.0f} req/s. `/` measured "
            f"{d_rps:,.0f} req/s and costs {d_cpu:.1f} ms of server CPU per request (static file: "
            f"{s_cpu:.1f} ms), so even 2 whole cores could serve at most "
            f"{2000 / d_cpu:,.0f} req/s of `/`."
        )
    # Each ratio from one round's runs, seconds apart, then their median.
    ratios = [ratio(d, s) for d, s in zip(d_rps_runs, s_rps_runs, strict=True)]
    rendered_ratios = [ratio(r, s) for r, s in zip(r_rps_runs, s_rps_runs, strict=True)]
    rendered = f"`/` returning user, page cache off (rendered every time){label}"
    return [
        Result(GROUP, f"`/` returning user{label}: requests/s", d_rps, "req/s", None, d_rps_runs),
        Result(GROUP, f"`/` returning user{label}: p50", d_p50, "ms", None, d_p50_runs),
        Result(
            GROUP,
            f"`/` returning user{label}: p99",
            d_p99,
            "ms",
            Target("<=", P99_LIMIT_MS, "ms"),
            d_p99_runs,
        ),
        Result(
            GROUP,
            f"`/` returning user{label}: server CPU per request",
            d_cpu,
            "ms",
            None,
            d_cpu_runs,
        ),
        Result(GROUP, f"{rendered}: requests/s", r_rps, "req/s", None, r_rps_runs),
        Result(GROUP, f"{rendered}: p50", r_p50, "ms", None, r_p50_runs),
        Result(GROUP, f"{rendered}: p99", r_p99, "ms", None, r_p99_runs),
        Result(GROUP, f"{rendered}: server CPU per request", r_cpu, "ms", None, r_cpu_runs),
        Result(GROUP, f"static file{label}: requests/s", s_rps, "req/s", None, s_rps_runs),
        Result(GROUP, f"static file{label}: p50", s_p50, "ms", None, s_p50_runs),
        Result(
            GROUP,
            f"static file{label}: p99",
            s_p99,
            "ms",
            Target("<=", P99_LIMIT_MS, "ms"),
            s_p99_runs,
        ),
        Result(
            GROUP,
            f"static file{label}: server CPU per request",
            s_cpu,
            "ms",
            None,
            s_cpu_runs,
        ),
        Result(
            GROUP,
            f"dynamic / static requests/s{label}",
            median(ratios),
            "x",
            Target(">=", RATIO_LIMIT, "x"),
            ratios,
            detail=detail,
        ),
        Result(
            GROUP,
            f"dynamic (page cache off) / static requests/s{label}",
            median(rendered_ratios),
            "x",
            None,
            rendered_ratios,
        ),
    ]

"""What every benchmark shares: paths, the Chromium they launch, the phone it emulates, and
real processes: the app under gunicorn (the production way) on a free port with its own
temporary SQLite database, secret key and VAPID key. The records and the report are in
bench/report.py."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
OUT = ROOT / "bench" / "out"  # git-ignored scratch: Lighthouse reports, server logs

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
# How every Chromium we start is launched: the benchmarks, the browser tests
# (tests/browser/conftest.py) and docs/make_screenshots.py. Here, because the bench runs
# without pytest.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
]
# The phone the page-weight and offline benchmarks emulate (Pixel 7 class, as in the tests).
PHONE = {
    "viewport": {"width": 412, "height": 915},
    "device_scale_factor": 2.625,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/140.0.0.0 Mobile Safari/537.36"
    ),
}


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the final table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes and servers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status < 500:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s ({last})")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children, e.g. gunicorn's workers, from
    /proc: the server's cost per request, whatever else the machine is busy with."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it does not go."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class AppServer:
    """The app under gunicorn (gunicorn.conf.py) on a free loopback port.

    Everything it writes lives in a temporary directory: the SQLite database (migrated with
    `flask db upgrade`, the real schema), the secret key and the VAPID key, passed through
    the environment, so the developer's `instance/` is never touched.
    """

    def __init__(
        self,
        *,
        gunicorn_args: Sequence[str] = (),
        env: dict | None = None,
        root: Path = ROOT,
    ) -> None:
        self.root = Path(root)  # another checkout (a scratch copy) can be served the same way
        self.gunicorn_args = list(gunicorn_args)
        self.extra_env = env or {}
        self.tmp = Path(tempfile.mkdtemp(prefix="closer-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.env = self._environment()

    def _environment(self) -> dict:
        from reminders import vapid

        key_path = vapid.create_key_file(self.tmp / "vapid_private.pem")
        env = dict(os.environ)
        env.update(
            {
                # "bench-" keeps Flask's JSON parsing of FLASK_* values from ever reading it
                # as a number.
                "FLASK_SECRET_KEY": "bench-" + secrets.token_hex(32),
                "DATABASE_URL": f"sqlite:///{self.tmp / 'closer.db'}",
                "FLASK_VAPID_PRIVATE_KEY_PATH": str(key_path),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(self.root),
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> AppServer:
        migrate = subprocess.run(
            [str(BIN / "flask"), "--app", "app", "db", "upgrade"],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migration failed:\n{migrate.stderr[-2000:]}")
        self.log_path = self.tmp / "gunicorn.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        cmd = [
            str(BIN / "gunicorn"),
            "-c",
            str(self.root / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            *self.gunicorn_args,
            "app:create_app()",
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=self.root, env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            wait_http(self.url + "/manifest.webmanifest", proc=self.proc)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"gunicorn did not start; log:\n{self.log_tail()}") from None
        return self

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def first_visit_cookie(url: str) -> str:
    """`name=value` of the user cookie a first visit to `url` sets (a returning user)."""
    request = urllib.request.Request(url + "/", headers={"Accept": "text/html"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        for header in response.headers.get_all("Set-Cookie") or []:
            return header.split(";", 1)[0]
    raise RuntimeError("the first visit set no cookie")


@dataclass
class Context:
    """What `python -m bench` hands to every benchmark."""

    quick: bool = False
    out: Path = OUT
    notes: list[str] = field(default_factory=list)  # lines for BENCHMARKS.md's Notes

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def note(self, text: str) -> None:
        self.notes.append(text)


def launch_chromium(playwright, **kwargs):
    """The system Chromium through Playwright (never `playwright install`)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **kwargs)


def warm(url: str, paths: Sequence[str], rounds: int = 8, cookie: str | None = None) -> None:
    """Request each path a few times so every worker has imported, connected and compiled
    its templates: benchmarks measure the steady state, not a cold start."""
    headers = {"Accept-Encoding": "br, gzip", "Accept": "text/html"}
    if cookie:
        headers["Cookie"] = cookie
    for _ in range(rounds):
        for path in paths:
            request = urllib.request.Request(url + path, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    response.read()
            except urllib.error.HTTPError:
                pass

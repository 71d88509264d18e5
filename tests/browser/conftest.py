"""Browser fixtures: the real app on a free port, driven by the system Chromium.

Reusable by any browser test (offline, install, push...):

- `live_server`: the app from `create_app` with CSRF and rate limits ON, a fresh SQLite file,
  served by werkzeug in a background thread on 127.0.0.1 (a secure context, so service
  workers, push and IndexedDB all work). It has `.url` (no trailing slash), `.app`, `.db()`
  (an app context) and `.clock`: the app's clock follows real time plus `clock.offset` (a
  `timedelta`), because the service worker reads the real clock and cannot be faked.
  `.lose_responses(method, path_regex, times)` makes the server apply matching requests and
  hang up without answering (a lost response, whoever sent it); `.fail_requests(...,
  status)` answers them with an error status instead; `.answer_again()` ends both.
- `browser`: pytest-playwright's session browser, launched from `/usr/bin/chromium` (or
  `$CHROMIUM_PATH`) with `CHROMIUM_ARGS`; never `playwright install`. A missing browser skips
  the browser tests, and fails them under `CI=true`.
- `phone`: parametrises a test over `PHONES` ("pixel", "iphone"); `phone_context` is a
  fresh context with that phone's emulation (viewport, DPR, touch, user agent). Mark a test
  `@pixel_only` where the phone makes no difference, to keep the suite fast.
- `new_context(**kwargs)` (pytest-playwright) makes any other context; `guard(context)`
  collects console errors, uncaught errors and CSP violations from every page of a context;
  `guard.check()` asserts there were none. `phone_context` is guarded already, and
  every guarded context is checked at teardown.
- `CDP` helpers are in the tests that need them; `launch_persistent(tmp_path)` opens a
  normal (non-incognito) profile, which installability checks need.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from bench.common import CHROMIUM_ARGS
from models import db

CI = os.environ.get("CI") == "true"
ROOT = Path(__file__).resolve().parents[2]

# Every page a person can reach from the navigation, for the checks that walk them all.
NAVIGATION_PAGES = [
    "/",
    "/day/{tomorrow}",
    "/strategies",
    "/strategies/empathy",
    "/progress",
    "/settings",
    "/about",
]

CHROME_ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Mobile Safari/537.36"
)
SAFARI_IOS_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
PHONES = {
    "pixel": {
        "viewport": {"width": 412, "height": 915},
        "device_scale_factor": 2.625,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": CHROME_ANDROID_UA,
    },
    "iphone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
        "user_agent": SAFARI_IOS_UA,
    },
}


def chromium_path() -> str | None:
    candidate = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("chromium")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches this; we point it at the system Chromium."""
    path = chromium_path()
    if path is None:
        message = "Chromium not found (install Debian's chromium or set CHROMIUM_PATH)"
        if CI:
            pytest.fail(f"{message}; under CI=true browser tests never skip")
        pytest.skip(message)
    # The phones live in UTC, like the live server's clock, unless a test gives a context a
    # `timezone_id`: a first visit whose date differs from the server's reloads onto the
    # phone's date, which would otherwise depend on this machine's zone.
    env = {**os.environ, "TZ": "UTC"}
    return {
        **browser_type_launch_args,
        "executable_path": path,
        "args": CHROMIUM_ARGS,
        "env": env,
    }


# ------------------------------------------------------------------------------------------
# The live server


class RealClock:
    """The app's clock: real time plus `offset`, for the `NOW_UTC` config value."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


class Faults:
    """WSGI middleware in front of the app that injects faults for matching requests. Rules
    are [method, path regex, times left, status]: status None runs the app in full (so a
    write is applied) and then hangs up without answering, as when a phone loses its signal
    between sending and receiving (whoever sent it, page or service worker, sees a network
    error); a status such as 503 answers that instead, without reaching the app (a proxy
    in front of a broken backend)."""

    def __init__(self, app) -> None:
        self.app = app
        self.rules: list[list] = []
        self.lost: list[str] = []
        self.failed: list[str] = []
        self.log: list[tuple[str, str, int]] = []  # every (method, path, status) answered
        self._lock = threading.Lock()

    def _take(self, environ) -> list | None:
        with self._lock:
            for rule in self.rules:
                method, pattern, remaining, status = rule
                if (
                    remaining
                    and environ["REQUEST_METHOD"] == method
                    and re.search(pattern, environ.get("PATH_INFO", ""))
                ):
                    rule[2] -= 1
                    (self.lost if status is None else self.failed).append(environ["PATH_INFO"])
                    return rule
        return None

    def __call__(self, environ, start_response):
        rule = self._take(environ)
        if rule is None:

            def logged(status, headers, exc_info=None):
                self.log.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], int(status[:3])))
                return start_response(status, headers, exc_info)

            return self.app(environ, logged)
        if rule[3] is not None:
            start_response(f"{rule[3]} Injected", [("Content-Type", "text/plain")])
            return [b"injected failure"]
        result = self.app(environ, lambda status, headers, exc_info=None: lambda data: None)
        try:
            for _ in result:
                pass
        finally:
            if hasattr(result, "close"):
                result.close()
        connection = environ["werkzeug.socket"]
        connection.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("response deliberately lost")


@dataclass
class LiveServer:
    url: str
    app: object
    clock: RealClock
    faults: Faults
    _server: object = field(repr=False)

    def db(self):
        """An app context for looking at the database: `with live_server.db(): ...`."""
        return self.app.app_context()

    def lose_responses(self, method: str, path_pattern: str, times: int = 1) -> None:
        """The next `times` matching requests are applied but never answered."""
        self.faults.rules.append([method, path_pattern, times, None])

    def fail_requests(self, method: str, path_pattern: str, status: int, times: int = 1) -> None:
        """The next `times` matching requests are answered with `status`, unapplied."""
        self.faults.rules.append([method, path_pattern, times, status])

    def requests(self, method: str, path_pattern: str) -> list[int]:
        """Statuses the app answered to matching requests, in order."""
        return [
            status
            for m, path, status in self.faults.log
            if m == method and re.search(path_pattern, path)
        ]

    def answer_again(self) -> None:
        """Stop injecting faults."""
        self.faults.rules.clear()


def live_config(tmp_path: Path, **overrides) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "browser-tests-secret-key-long-enough-0000000",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'live.db'}",
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    config.update(overrides)
    return config


@pytest.fixture
def live_server(tmp_path):
    clock = RealClock()
    app = create_app(live_config(tmp_path, NOW_UTC=clock))
    with app.app_context():
        db.create_all()
    faults = Faults(app)
    server = make_server("127.0.0.1", 0, faults, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, clock, faults, server)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# ------------------------------------------------------------------------------------------
# Guards: console errors, uncaught errors and CSP violations on every page

# Reports CSP violations to the console, where the guard sees them (CSP itself also logs
# "Refused to ..."; this catches violations that do not log, such as in report-only mode).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


class Guard:
    """Collects problems from a context's pages. Tests that go offline on purpose may
    `allow(pattern)` the browser's own network-failure messages; CSP never."""

    NEVER_ALLOWED = re.compile(r"CSP violation|Refused to|Content Security Policy")

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.allowed: list[re.Pattern] = []

    def watch(self, context):
        context.add_init_script(CSP_LISTENER)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"uncaught: {error.error}"))
        return context

    def _console(self, message) -> None:
        if message.type != "error":
            return
        text = message.text
        if self.NEVER_ALLOWED.search(text) or not any(p.search(text) for p in self.allowed):
            self.problems.append(f"console: {text} ({message.location.get('url', '')})")

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def allow_offline_noise(self) -> None:
        """The browser logs failed loads while offline (or when `live_server` loses a
        response on purpose); those are the point of such tests."""
        self.allow(r"ERR_INTERNET_DISCONNECTED|ERR_EMPTY_RESPONSE|Failed to load resource")
        self.allow(r"Failed to fetch")
        self.allow(r"ServiceWorker|service worker")

    def check(self) -> None:
        problems, self.problems = self.problems, []
        assert not problems, "browser reported problems:\n" + "\n".join(problems)


@pytest.fixture
def guard():
    g = Guard()
    yield g
    g.check()


@pytest.fixture(params=sorted(PHONES))
def phone(request) -> str:
    return request.param


# For tests whose behaviour does not depend on the phone: run them on the Pixel only.
pixel_only = pytest.mark.parametrize("phone", ["pixel"], indirect=True)


@pytest.fixture
def phone_context(new_context, phone, guard):
    """A guarded context emulating `phone`, with service workers allowed."""
    return guard.watch(new_context(**PHONES[phone]))


@pytest.fixture
def launch_persistent(browser_type, browser_type_launch_args):
    """Open a normal, persistent Chromium profile (not incognito) in `user_data_dir`."""
    contexts = []

    def launch(user_data_dir: Path, **kwargs):
        context = browser_type.launch_persistent_context(
            str(user_data_dir),
            executable_path=browser_type_launch_args["executable_path"],
            args=[*browser_type_launch_args["args"], *kwargs.pop("extra_args", [])],
            headless=browser_type_launch_args.get("headless", True),
            env=browser_type_launch_args["env"],
            **kwargs,
        )
        contexts.append(context)
        return context

    yield launch
    for context in contexts:
        context.close()


# ------------------------------------------------------------------------------------------
# Small helpers shared by the tests


# The focused element as "id text", for tests of where keyboard focus lands after a swap.
FOCUSED = "document.activeElement.id + ' ' + document.activeElement.textContent.trim()"


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll `expression` in `page` (or a worker) until it is truthy; it may return a promise,
    which `page.wait_for_function` would not wait for."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        time.sleep(0.05)


def wait_for_worker(page) -> None:
    """Until a service worker is active and controls this page. A page whose navigation was
    under way while the first worker activated is not claimed (its document did not exist
    yet); as on a phone, the next load of it is. That race shows on a loaded machine."""
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    if not page.evaluate("navigator.serviceWorker.controller !== null"):
        page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")


def cached_paths(page) -> list[str]:
    """Paths of everything in our pages caches, as the page sees them."""
    return page.evaluate(
        """async () => {
          const out = [];
          for (const name of await caches.keys()) {
            if (!name.startsWith("closer-pages-")) continue;
            const cache = await caches.open(name);
            for (const request of await cache.keys()) out.push(new URL(request.url).pathname);
          }
          return out;
        }"""
    )


def wait_ready(page) -> None:
    """Until the scripts that start after the first paint (static/js/boot.js) have all run and
    htmx has wired the page: `<html data-ready>`. Before that every form is a plain POST."""
    page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")


def goto_ready(page, url: str):
    """`page.goto(url)`, then `wait_ready`; returns the navigation's response."""
    response = page.goto(url)
    wait_ready(page)
    return response


def reload_ready(page):
    """`page.reload()`, then `wait_ready`; returns the navigation's response."""
    response = page.reload()
    wait_ready(page)
    return response

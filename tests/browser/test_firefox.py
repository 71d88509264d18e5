"""Firefox ESR keeps passing the PWA flows (issue 16 item 12): tests/firefox/smoke.mjs drives
Debian's firefox-esr over WebDriver BiDi (puppeteer-core) through the first visit, the worker
taking control, Done through htmx, a reflection with emoji, and an Undo made with the server
stopped, queued, and delivered once the server is back.

Firefox's offline emulation does not cover the service worker's own fetches, so "offline"
here is the server taken away: this module runs its own werkzeug server that can be stopped
and started again on the same port (the shared `live_server` takes a new port each time).
The script reports after each step and waits; this side checks the database in between."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from models import AppliedWrite, Completion, Reflection, db
from tests.browser.conftest import CI, ROOT, live_config

pytestmark = pytest.mark.browser

SCRIPT = ROOT / "tests" / "firefox" / "smoke.mjs"
PUPPETEER = ROOT / "node_modules" / "puppeteer-core" / "package.json"
SMOKE_TIMEOUT_S = 90  # the whole run takes ~20 s; this only stops a hung browser
# Emoji of one, two and several code points (a ZWJ sequence), and an accent.
REFLECTION = "We walked by the river 🌊 and laughed 😂 👩‍❤️‍👨 at the café"


def firefox_path() -> str | None:
    candidate = os.environ.get("FIREFOX_PATH") or "/usr/bin/firefox-esr"
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("firefox-esr") or shutil.which("firefox")


def require(found, message: str):
    """A missing prerequisite skips locally and fails under CI=true (never a silent skip)."""
    if not found:
        if CI:
            pytest.fail(f"{message}; under CI=true the Firefox smoke test never skips")
        pytest.skip(message)
    return found


class ClosingHandler(WSGIRequestHandler):
    """One request per connection (HTTP/1.0): once the server stops, no kept-alive
    connection is left to answer the browser, so the server is really away."""

    protocol_version = "HTTP/1.0"


class RestartableServer:
    """The app on a fixed port of 127.0.0.1 that `stop()` takes away and `start()` brings
    back, same port, same app and database. Stopping a stopped server does nothing."""

    def __init__(self, app) -> None:
        self.app = app
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = None
        self._thread = None

    def start(self) -> None:
        self._server = make_server(
            "127.0.0.1", self.port, self.app, threaded=True, request_handler=ClosingHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._server = None

    def refuses_connections(self) -> bool:
        with socket.socket() as client:
            return client.connect_ex(("127.0.0.1", self.port)) != 0


@pytest.fixture
def server(tmp_path):
    app = create_app(live_config(tmp_path))
    with app.app_context():
        db.create_all()
    served = RestartableServer(app)
    served.start()
    try:
        yield served
    finally:
        served.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def rows(app) -> dict:
    with app.app_context():
        return {
            "completions": db.session.scalars(select(Completion.day)).all(),
            "reflections": db.session.scalars(select(Reflection.text)).all(),
            "writes": db.session.execute(select(AppliedWrite.key, AppliedWrite.kind)).all(),
        }


class Smoke:
    """The node script as a conversation: `next()` reads its next report, `go()` lets it
    carry on. Its stderr goes to a file that a failure shows."""

    def __init__(self, url: str, log: Path) -> None:
        self.log = log
        self._stderr = log.open("w")
        env = {**os.environ, "TZ": "UTC", "FIREFOX_PATH": firefox_path()}
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), url, REFLECTION],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
        )
        self.started = time.monotonic()
        self.timings: list[tuple[str, float | None]] = []  # seconds into the script per step
        self.timer = threading.Timer(SMOKE_TIMEOUT_S, self.process.terminate)
        self.timer.start()

    def next(self, step: str) -> dict:
        line = self.process.stdout.readline()
        report = json.loads(line) if line.strip() else {"error": "the script ended early"}
        self.timings.append((step, report.get("seconds")))
        if report.get("step") != step:
            self.close()
            pytest.fail(f"expected step {step!r}, got {report}\n{self.log.read_text()}")
        return report

    def go(self) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def finish(self) -> float:
        self.process.stdin.close()
        code = self.process.wait(timeout=SMOKE_TIMEOUT_S)
        self.close()
        assert code == 0, f"smoke.mjs exited {code}\n{self.log.read_text()}"
        return time.monotonic() - self.started

    def close(self) -> None:
        """End the script so that it closes Firefox: puppeteer launches the browser in a
        process group of its own, which a killed node would leave running. An ended stdin
        makes the script close the browser and exit; SIGTERM makes puppeteer kill it."""
        self.timer.cancel()
        if self.process.poll() is None:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self._stderr.close()


def test_firefox_esr_first_visit_done_reflection_and_offline_undo(server, tmp_path):
    require(firefox_path(), "Firefox not found (scripts/system-packages firefox-esr)")
    require(shutil.which("node"), "node not found (scripts/system-packages node:nodejs,npm)")
    require(PUPPETEER.exists(), "puppeteer-core is not installed (make install-test)")
    smoke = Smoke(server.url, tmp_path / "smoke.log")
    try:
        worker = smoke.next("worker")
        today = date.fromisoformat(worker["day"])
        assert rows(server.app)["completions"] == []
        smoke.go()

        assert smoke.next("done")["samePage"] is True
        assert rows(server.app)["completions"] == [today]
        smoke.go()

        assert smoke.next("reflection")["afterReload"] == REFLECTION
        assert rows(server.app)["reflections"] == [REFLECTION]
        smoke.go()

        # The worker has today's page, done and with the reflection: take the server away.
        smoke.next("cached")
        server.stop()
        assert server.refuses_connections()
        smoke.go()

        queued = smoke.next("queued")
        before = rows(server.app)
        assert before["completions"] == [today]  # the Undo has not reached the server
        assert queued["key"] not in [key for key, _ in before["writes"]]
        server.start()
        smoke.go()

        assert smoke.next("synced")["label"] == "Done"
        smoke.go()
        elapsed = smoke.finish()
    finally:
        smoke.close()

    after = rows(server.app)
    assert after["completions"] == []  # the Undo was applied...
    assert after["reflections"] == [REFLECTION]
    undos = [key for key, kind in after["writes"] if kind == "undo"]
    assert undos == [queued["key"]]  # ...once, under the key the outbox gave it
    assert sorted(kind for _, kind in after["writes"]) == ["done", "reflect", "undo"]
    print(f"Firefox smoke test: {elapsed:.1f} s in node; steps at {smoke.timings}")
    assert elapsed < 60, f"the Firefox smoke test took {elapsed:.0f} s"

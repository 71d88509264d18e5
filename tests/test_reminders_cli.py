"""The commands: `flask reminders dispatch --now`, and the worker's loop and clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import app_on
from tests.pushservice import PushService
from tests.reminders_support import SUBJECT, counts, dispatch, payloads, push_app, subscribe, utc

REPO = Path(__file__).resolve().parent.parent


def test_dispatch_rejects_a_bad_now(tmp_path):
    app = push_app(tmp_path)
    result = app.test_cli_runner().invoke(args=["reminders", "dispatch", "--now", "tomorrow"])
    assert result.exit_code != 0 and "ISO-8601" in result.output


def test_dispatch_without_keys_says_how_to_make_them(tmp_path):
    app = push_app(tmp_path, VAPID_PRIVATE_KEY_PATH=str(tmp_path / "none.pem"))
    result = app.test_cli_runner().invoke(args=["reminders", "dispatch"])
    assert result.exit_code != 0 and "init-keys" in str(result.exception)


def test_worker_runs_passes_until_told_to_stop(tmp_path):
    app = push_app(tmp_path)
    with PushService() as service:
        client = app.test_client()
        subscriber = service.new_subscriber()
        subscribe(client, subscriber)
        app.extensions["test_clock"].now = utc(2026, 11, 27, 8, 31)  # the worker's "now"
        result = app.test_cli_runner().invoke(
            args=["reminders", "worker", "--interval", "0", "--passes", "2"]
        )
    assert result.exit_code == 0, result.output
    assert "reminders worker: stopped" in result.output
    assert [p["day"] for p in payloads(subscriber)] == ["2026-11-27"]


def test_worker_process_stops_cleanly_on_sigterm(tmp_path):
    app = push_app(tmp_path)  # creates the database file and the key
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_SECRET_KEY": "w" * 48,
        "FLASK_VAPID_PRIVATE_KEY_PATH": app.config["VAPID_PRIVATE_KEY_PATH"],
        "FLASK_VAPID_SUBJECT": SUBJECT,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "reminders", "worker", "--interval", "30"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert "a pass every 30 s" in first
        proc.send_signal(signal.SIGTERM)  # mid-wait: must not sit out the 30 s
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM" in out and "reminders worker: stopped" in out


def dispatcher_env(app) -> dict[str, str]:
    """What a `flask reminders ...` process needs to work on the test app's database."""
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "FLASK_SECRET_KEY": "w" * 48,
        "FLASK_VAPID_PRIVATE_KEY_PATH": app.config["VAPID_PRIVATE_KEY_PATH"],
        "FLASK_VAPID_SUBJECT": SUBJECT,
        "FLASK_PUSH_ALLOW_INSECURE_ENDPOINTS": "true",
        "FLASK_REMINDER_BATCH_SIZE": "3",
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_dispatch_processes_at_once_send_each_reminder_once(tmp_path, backend):
    """Scaling out is running more dispatchers: their leases keep them apart."""
    with app_on(backend, tmp_path, push_app) as app, PushService() as service:
        subscribers = [service.new_subscriber() for _ in range(24)]
        for subscriber in subscribers:
            assert subscribe(app.test_client(), subscriber).status_code in (200, 201)
        now = utc(2026, 11, 27, 8, 31)
        command = [sys.executable, "-m", "flask", "--app", "app", "reminders", "dispatch"]
        procs = [
            subprocess.Popen(
                [*command, "--now", now.isoformat()],
                cwd=REPO,
                env=dispatcher_env(app),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
            reports.append(counts(out))
        again = dispatch(app, now)
    total = {key: sum(r[key] for r in reports) for key in ("claimed", "sent", "reminded")}
    assert total == {"claimed": 24, "sent": 24, "reminded": 24}
    assert sum(r["released"] + r["retry"] for r in reports) == 0
    assert counts(again)["claimed"] == 0  # everything recorded: nothing is due any more
    assert [[p["day"] for p in payloads(s)] for s in subscribers] == [["2026-11-27"]] * 24


def test_the_processes_option_is_gone(tmp_path):
    """One process per pass; more cores means more `flask reminders worker` processes."""
    app = push_app(tmp_path)
    result = app.test_cli_runner().invoke(args=["reminders", "dispatch", "--processes", "2"])
    assert result.exit_code != 0 and "No such option" in result.output

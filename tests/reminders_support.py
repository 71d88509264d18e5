"""Helpers shared by the reminder tests: an app with its own VAPID key, subscribing through the
real endpoint, and running the real `flask reminders dispatch` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models import PushSubscription, ReminderSent, User, db
from reminders import vapid
from tests.conftest import make_app

SUBJECT = "mailto:reminders@closer.app"


def push_app(tmp_path: Path, database_url: str | None = None, **overrides):
    key = tmp_path / "keys" / "vapid.pem"
    if not key.exists():
        vapid.create_key_file(key)
    config = {
        "VAPID_PRIVATE_KEY_PATH": str(key),
        "VAPID_SUBJECT": SUBJECT,
        "PUSH_ALLOW_INSECURE_ENDPOINTS": True,
        "REMINDER_CONCURRENCY": 4,
        "PUSH_TIMEOUT": 5.0,
    }
    config.update(overrides)
    return make_app(tmp_path, database_url, **config)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def subscribe(client, subscriber, reminder_time: str | None = None, **extra):
    body = dict(subscriber.subscription_info)
    if reminder_time is not None:
        body["reminderTime"] = reminder_time
    body.update(extra)
    return client.post("/push/subscriptions", json=body)


def dispatch(app, now: datetime, *options: str) -> str:
    """Run `flask reminders dispatch --now ... [options]` and return what it printed."""
    args = ["reminders", "dispatch", "--now", now.isoformat(), *options]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def counts(output: str) -> dict[str, float]:
    return {k: float(v) for k, v in (part.split("=") for part in output.split())}


def payloads(subscriber) -> list[dict]:
    return [json.loads(m.payload) for m in subscriber.messages]


def the_user(app) -> User:
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        db.session.expunge(user)
        return user


def sent_days(app) -> list:
    with app.app_context():
        return [r.day for r in db.session.scalars(select(ReminderSent).order_by(ReminderSent.day))]


def subscription_count(app) -> int:
    with app.app_context():
        return len(db.session.scalars(select(PushSubscription)).all())

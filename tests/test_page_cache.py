"""The per-process cache of day pages (page_cache.py): a kept page is served only
while everything it shows is unchanged, and always with fresh idempotency keys."""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import template_rendered
from sqlalchemy import select, update

from models import PushSubscription, User, db
from tests.conftest import HTMX

TODAY = "2026-11-26"
KEY = re.compile(r'name="key" value="([^"]*)"')
# The CSRF token is signed with a timestamp: a fresh render a second later differs in it
# alone, so pages are compared with it blanked (its secret is part of the cache key).
CSRF = re.compile(r'(name="csrf_token" value="|name="csrf-token" content=")[^"]+"')


@contextmanager
def renders(app):
    names = []

    def record(sender, template, context, **extra):
        names.append(template.name)

    template_rendered.connect(record, app)
    try:
        yield names
    finally:
        template_rendered.disconnect(record, app)


def normalised(html: str) -> str:
    return CSRF.sub(r"\1-", KEY.sub('name="key" value="-"', html))


def served_and_fresh(app, client, path: str = "/") -> tuple[str, str]:
    """The page as served (from the cache when it holds it) and as rendered afresh."""
    served = client.get(path).get_data(as_text=True)
    cache = app.extensions["page_cache"]
    size, cache.size = cache.size, 0
    try:
        fresh = client.get(path).get_data(as_text=True)
    finally:
        cache.size = size
    return served, fresh


def test_a_kept_page_is_served_without_rendering_and_with_fresh_keys(app, client):
    client.get("/")  # the first visit creates the user and the CSRF secret
    first = client.get("/").get_data(as_text=True)
    with renders(app) as rendered:
        again = client.get("/").get_data(as_text=True)
    assert rendered == []  # served from the cache
    assert normalised(again) == normalised(first)
    # (the card's offline templates carry empty keys for the script to fill)
    keys = [key for key in KEY.findall(again) if key]
    earlier = [key for key in KEY.findall(first) if key]
    assert len(keys) >= 2 and all(uuid.UUID(key) for key in keys)
    assert len(set(keys)) == len(keys) and not set(keys) & set(earlier)


def test_the_cache_is_per_day_page_and_can_be_switched_off(app, client):
    client.get("/")
    client.get("/")
    with renders(app) as rendered:
        client.get("/day/2026-11-27")
        client.get("/day/2026-11-27")
    assert rendered.count("practice/day.html") == 1
    app.extensions["page_cache"].size = 0
    with renders(app) as rendered:
        client.get("/")
        client.get("/")
    assert rendered.count("practice/day.html") == 2


def _add_device(app):
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        db.session.add(
            PushSubscription(
                user_id=user.id,
                endpoint=f"https://push.example.net/{uuid.uuid4()}",
                p256dh="key",
                auth="auth",
            )
        )
        db.session.commit()


def _dispatcher_backs_off(app):
    # What the dispatcher writes after three unanswered reminders.
    with app.app_context():
        db.session.execute(update(User).values(reminder_every=2, reminder_unanswered=3))
        db.session.commit()


def _next_day(app):
    clock = app.extensions["test_clock"]
    clock.now = clock.now + timedelta(days=1)


# Every kind of write that changes what the today page shows, in an order where each one
# does change it. Each is (name, action(app, client)).
WRITES = [
    ("done", lambda app, c: c.post(f"/day/{TODAY}/done", headers=HTMX)),
    ("reflection", lambda app, c: c.post(f"/day/{TODAY}/reflection", data={"text": "Kind."})),
    ("reflection edited", lambda app, c: c.post(f"/day/{TODAY}/reflection", data={"text": "Hm"})),
    ("undo", lambda app, c: c.post(f"/day/{TODAY}/undo", headers=HTMX)),
    ("zone", lambda app, c: c.post("/settings/timezone", data={"time_zone": "Asia/Tokyo"})),
    ("push subscription", lambda app, c: _add_device(app)),
    ("reminder time", lambda app, c: c.post("/push/time", data={"reminder_time": "21:15"})),
    ("second device", lambda app, c: _add_device(app)),
    ("pause", lambda app, c: c.post("/push/pause", data={"days": "3"})),
    ("resume", lambda app, c: c.post("/push/resume")),
    ("dispatcher back-off", lambda app, c: _dispatcher_backs_off(app)),
    ("back to daily", lambda app, c: c.post("/push/daily")),
    ("reminders off", lambda app, c: c.post("/push/off")),
    ("a new day", lambda app, c: _next_day(app)),
    ("delete", lambda app, c: c.post("/settings/delete")),
]


def test_no_write_ever_gets_a_stale_page(db_app):
    client = db_app.test_client()
    client.get("/")
    before, _ = served_and_fresh(db_app, client)
    client.get("/")  # now surely in the cache
    for name, write in WRITES:
        response = write(db_app, client)
        if response is not None:
            assert response.status_code < 400, name
        served, fresh = served_and_fresh(db_app, client)
        assert normalised(served) == normalised(fresh), name
        assert normalised(served) != normalised(before), f"{name} did not change the page"
        before = served


@pytest.mark.parametrize("limit", [3600])
def test_expiring_csrf_tokens_are_never_kept(tmp_path, limit):
    from tests.conftest import make_app

    app = make_app(tmp_path, WTF_CSRF_TIME_LIMIT=limit)
    client = app.test_client()
    client.get("/")
    with renders(app) as rendered:
        client.get("/")
        client.get("/")
    assert rendered.count("practice/day.html") == 2

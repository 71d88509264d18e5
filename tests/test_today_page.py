"""The today page for a returning user: what it shows, what it costs, and its cookie.

`/` loads the user (once per request, identity.load_user), the day's state and the device
count, and hands the reminders panel what it loaded; these tests pin that what it shows is
right, on SQLite and PostgreSQL, and that the session cookie is sent again only when it
changes: when the session does, and once a day to keep it alive. And how it is cached: the
HTTP cache never answers for it unasked, and a page brought back from a cache asks for its
card again (static/js/fresh.js).
"""

from __future__ import annotations

import re
from datetime import time as clock_time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from models import PushSubscription, User, db
from tests.conftest import HTMX
from tests.test_revisions import DONE, REFLECT, reflection_form, save

TODAY = "2026-11-26"


def the_user(app) -> User:
    with app.app_context():
        return db.session.scalars(select(User)).one()


def add_devices(app, user_id: str, count: int) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        user.reminder_time = clock_time(7, 30)
        for n in range(count):
            db.session.add(
                PushSubscription(
                    user_id=user_id,
                    endpoint=f"https://push.example.net/device-{user_id}-{n}",
                    p256dh="key",
                    auth="auth",
                )
            )
        db.session.commit()


def test_today_shows_the_days_state_and_the_reminders_from_its_own_queries(db_app, db_client):
    db_client.get("/")
    user = the_user(db_app)
    page = db_client.get("/").get_data(as_text=True)
    assert ">Done</button>" in page and "A fresh start today." in page
    assert 'data-on="false"' in page and 'data-today-done="false"' in page
    assert 'data-zone-state="unknown"' in page

    db_client.post(f"/day/{TODAY}/done", headers=HTMX)
    db_client.post(f"/day/{TODAY}/reflection", data={"text": "We laughed."}, headers=HTMX)
    add_devices(db_app, user.id, 2)
    db_client.post("/settings/timezone", data={"time_zone": "Europe/Paris"})

    page = db_client.get("/").get_data(as_text=True)
    assert "Done for today" in page and "Day one, done. A lovely start." in page
    assert ">We laughed.</textarea>" in page
    assert 'data-on="true"' in page and 'data-today-done="true"' in page
    assert "On: every day at 07:30, on 2 devices." in page
    assert 'data-zone-state="confirmed"' in page


def test_another_users_devices_and_days_do_not_show(db_app):
    first, second = db_app.test_client(), db_app.test_client()
    first.get("/")
    first.post(f"/day/{TODAY}/done", headers=HTMX)
    add_devices(db_app, the_user(db_app).id, 3)
    page = second.get("/").get_data(as_text=True)
    assert ">Done</button>" in page and 'data-on="false"' in page
    assert 'data-today-done="false"' in page


def statements_of(app, client, path: str) -> list[str]:
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return statements


def test_a_returning_visit_to_today_costs_three_queries_whatever_the_history(db_app, db_client):
    """The user, the day's state, the device count: a long history adds none."""
    db_client.get("/")
    assert len(statements_of(db_app, db_client, "/")) == 3
    for day in ("2026-11-26", "2026-11-27"):
        db_client.post(f"/day/{day}/done", headers=HTMX)
        db_client.post(f"/day/{day}/reflection", data={"text": "ok"}, headers=HTMX)
    add_devices(db_app, the_user(db_app).id, 2)
    statements = statements_of(db_app, db_client, "/")
    assert len(statements) == 3, statements
    assert sum("FROM users" in s for s in statements) == 1  # the user is loaded once


def test_connections_are_checked_before_use_on_a_database_server_only(db_app):
    """A server can drop a pooled connection (restart, failover); an SQLite file cannot, and
    the check is a statement of its own on every request."""
    from app import _engine_options

    with db_app.app_context():
        engine = db.engine
    assert engine.pool._pre_ping is (engine.dialect.name != "sqlite")
    # An operator's own engine options still win.
    assert _engine_options("sqlite:///x.db", {"pool_pre_ping": True})["pool_pre_ping"] is True


def test_a_returning_visit_does_not_resign_the_cookie(client):
    first = client.get("/")
    assert first.headers["Set-Cookie"].startswith("closer=")
    again = client.get("/")
    assert again.status_code == 200 and "Set-Cookie" not in again.headers
    assert "Cookie" in again.headers["Vary"]  # the page still depends on it


def test_the_cookie_is_sent_again_once_a_day_to_keep_it_alive(app, client, clock):
    client.get("/")
    user = the_user(app)
    clock.now += timedelta(days=1)
    response = client.get("/")
    refreshed = response.headers["Set-Cookie"]
    assert refreshed.startswith("closer=") and "Expires=" in refreshed
    # the same user, not refreshed again that day, and never for a static file
    assert "Set-Cookie" not in client.get("/").headers
    assert "Set-Cookie" not in client.get("/progress").headers
    clock.now += timedelta(days=1)
    assert "Set-Cookie" not in client.get("/static/css/app.css").headers
    assert "Set-Cookie" in client.get("/progress").headers
    assert [u.id for u in app_users(app)] == [user.id]


def app_users(app) -> list[User]:
    with app.app_context():
        return db.session.scalars(select(User)).all()


def test_a_cookie_from_before_the_daily_mark_is_refreshed_for_the_same_user(app, client):
    """A cookie signed by Flask's own interface, holding only the user id (as cookies made
    before the session noted its day do): refreshed once, same user."""
    client.get("/")
    user = the_user(app)
    signer = app.session_interface.get_signing_serializer(app)
    old = signer.dumps({"uid": user.id, "_permanent": True})
    client.set_cookie("closer", old)
    response = client.get("/")
    assert response.status_code == 200
    refreshed = response.headers["Set-Cookie"]
    assert refreshed.startswith("closer=") and old not in refreshed and "Expires=" in refreshed
    assert "Set-Cookie" not in client.get("/").headers
    assert [u.id for u in app_users(app)] == [user.id]


def test_a_session_change_still_sets_the_cookie_at_once(app):
    # A cookie already seen today, without the CSRF secret: with CSRF on, rendering the page
    # adds the secret to the session, a change that must reach the browser at once.
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    client.get("/")
    user = the_user(app)
    signer = app.session_interface.get_signing_serializer(app)
    session = {"uid": user.id, "_permanent": True, "seen": TODAY}
    client.set_cookie("closer", signer.dumps(session))
    response = client.get("/")
    assert response.headers["Set-Cookie"].startswith("closer=")
    assert "Set-Cookie" not in client.get("/").headers


def test_the_cookie_follows_a_secret_key_rotation(app):
    """An old key still signs in while it is a fallback, and no longer once it is dropped."""
    client = app.test_client()
    client.get("/")
    user = the_user(app)
    old_key = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "a-new-secret-key-that-is-long-enough-111111"
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert client.get("/").status_code == 200
    with app.app_context():
        assert [u.id for u in db.session.scalars(select(User))] == [user.id]
    app.config["SECRET_KEY_FALLBACKS"] = []
    client.get("/")  # the cookie is still signed with the old key: a stranger now
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 2


# ------------------------------------------------------------------------------------------
# The card again, for a page from a cache (static/js/fresh.js)


def test_the_card_is_204_while_the_page_is_current_and_fresh_once_it_is_not(db_client):
    db_client.get("/")
    page = db_client.get("/").get_data(as_text=True)
    revision = re.search(r'data-revision="(\d+)"', page).group(1)
    done = re.search(r'data-done="(\d+)"', page).group(1)
    url = f"/day/{TODAY}/card?revision={revision}&done={done}"
    current = db_client.get(url)
    assert current.status_code == 204 and current.get_data() == b""
    save(db_client, "newer words", reflection_form(db_client))
    stale = db_client.get(url)
    html = stale.get_data(as_text=True)
    assert stale.status_code == 200 and html.startswith('<article id="card"')
    assert "newer words" in html and "<!doctype" not in html
    assert db_client.get(f"/day/{TODAY}/card").status_code == 200  # no revision: fresh card


def test_the_card_without_a_user_or_for_a_wrong_day(client):
    assert client.get(f"/day/{TODAY}/card").status_code == 204  # creates nobody
    assert client.get("/").status_code == 200
    assert client.get("/day/2000-01-01/card").status_code == 404
    assert client.get("/day/nonsense/card").status_code == 404


# ------------------------------------------------------------------------------------------
# Cache-Control: the HTTP cache never answers for a person's pages without asking


@pytest.mark.parametrize(
    "path", ["/", f"/day/{TODAY}", "/day/2026-11-27", "/progress", "/settings", "/strategies"]
)
def test_pages_are_private_and_revalidated(client, path):
    client.get("/")
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_partials_and_refusals_are_private_and_revalidated(client):
    client.get("/")
    for response in (
        client.post(DONE, headers=HTMX),
        client.post(REFLECT, data={"text": "x" * 2001}, headers=HTMX),
        client.get(f"/day/{TODAY}/card"),
        client.get("/day/2000-01-01"),
    ):
        assert response.headers["Cache-Control"] == "private, no-cache", response.status


def test_hashed_static_files_stay_immutable(client):
    html = client.get("/").get_data(as_text=True)
    css = re.search(r'href="(/static/[^"]+\.css[^"]*)"', html).group(1)
    assert "immutable" in client.get(css).headers["Cache-Control"]

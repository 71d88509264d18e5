"""Today's card and the writes on it: done, undo, reflection; htmx fragments and no-JS forms."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from models import AppliedWrite, Completion, Reflection, User, db
from tests.conftest import HTMX

TODAY = "2026-11-26"


def reflection_revision(client, day: str = TODAY) -> str:
    """The revision the day page's reflection form carries (see revisions.py)."""
    html = client.get(f"/day/{day}").get_data(as_text=True)
    form = html[html.index('<section id="reflection"') :]
    return re.search(r'name="revision" value="(\d*)"', form).group(1)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_today_shows_the_whole_practice_without_signup(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Day 1 of your practice" in html and "Way 1 of 6: " in html
    assert "Listen to understand" in html and "Tap Done once you have tried it" in html
    assert 'id="practice-title"' in html and "About " in html and "minute" in html
    assert html.count("<li>") >= 2 and "Try saying" in html and "ask yourself" in html
    assert ">Done</button>" in html and '<label for="reflection-text">Reflection</label>' in html
    assert "0 / 2,000" in html


def test_first_visit_sets_a_long_lived_httponly_lax_cookie(client):
    cookie = client.get("/").headers["Set-Cookie"]
    assert cookie.startswith("closer=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie
    # a second visit is the same user, not a new one
    client.get("/")
    assert count(client.application, User) == 1


@pytest.mark.parametrize(
    "path", ["/day/2000-01-01", "/day/2026-11-25", "/day/2027-03-01", "/day/yesterday"]
)
def test_a_first_visit_to_a_day_nobody_could_open_creates_nobody(client, path):
    # a mistyped or stale day link is a 404 that changes nothing
    response = client.get(path)
    assert response.status_code == 404 and "not" in response.get_data(as_text=True)
    assert count(client.application, User) == 0


def test_a_first_visit_through_todays_link_starts_the_practice_there(client):
    response = client.get(f"/day/{TODAY}")
    assert response.status_code == 200 and "Day 1 · " in response.get_data(as_text=True)
    assert count(client.application, User) == 1


def test_done_swaps_the_fragment_and_undo_reverts_it(db_app, db_client):
    db_client.get("/")
    response = db_client.post(f"/day/{TODAY}/done", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="done"') and "<html" not in html
    assert "Done for today" in html and "Day one, done. A lovely start." in html
    assert ">Undo</button>" in html
    assert count(db_app, Completion) == 1

    html = db_client.post(f"/day/{TODAY}/undo", headers=HTMX).get_data(as_text=True)
    assert ">Done</button>" in html and count(db_app, Completion) == 0


def test_done_without_javascript_posts_and_redirects(client, app):
    client.get("/")
    response = client.post(f"/day/{TODAY}/done")
    assert response.status_code == 303 and response.headers["Location"].endswith("/#card")
    page = client.get("/").get_data(as_text=True)
    assert "Done for today" in page and count(app, Completion) == 1


def test_progress_line_counts_kindly_over_the_last_seven_days(app, client, clock):
    client.get("/")
    for day in ("2026-11-26", "2026-11-28", "2026-11-30"):
        clock.now = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
        client.post(f"/day/{day}/done", headers=HTMX)
    clock.now = datetime(2026, 12, 3, 12, tzinfo=UTC)  # Day 8: window is Nov 27 - Dec 3
    html = client.post("/day/2026-12-03/done", headers=HTMX).get_data(as_text=True)
    assert "You practised 3 of the last 7 days." in html


def test_reflection_saves_edits_and_shows_on_progress(db_app, db_client):
    db_client.get("/")
    html = db_client.post(
        f"/day/{TODAY}/reflection", data={"text": "We laughed."}, headers=HTMX
    ).get_data(as_text=True)
    assert "Reflection saved." in html and "We laughed." in html and "11 / 2,000" in html
    edit = {"text": "We laughed a lot.\r\nThen talked.", "revision": reflection_revision(db_client)}
    db_client.post(f"/day/{TODAY}/reflection", data=edit, headers=HTMX)
    with db_app.app_context():
        texts = db.session.scalars(select(Reflection.text)).all()
    assert texts == ["We laughed a lot.\nThen talked."]
    assert "We laughed a lot." in db_client.get("/progress").get_data(as_text=True)


def test_empty_reflection_clears_it(app, client):
    client.get("/")
    client.post(f"/day/{TODAY}/reflection", data={"text": "something"})
    clear = {"text": "   ", "revision": reflection_revision(client)}
    html = client.post(f"/day/{TODAY}/reflection", data=clear, headers=HTMX).get_data(as_text=True)
    assert count(app, Reflection) == 0
    assert "Reflection cleared." in html and "Reflection saved." not in html


def test_reflection_without_javascript_redirects_to_the_reflection(client):
    client.get("/")
    response = client.post(f"/day/{TODAY}/reflection", data={"text": "ok"})
    assert response.status_code == 303 and response.headers["Location"].endswith("/#reflection")


def test_too_long_reflection_is_refused_and_changes_nothing(db_app, db_client):
    db_client.get("/")
    db_client.post(f"/day/{TODAY}/reflection", data={"text": "kept"}, headers=HTMX)
    response = db_client.post(f"/day/{TODAY}/reflection", data={"text": "x" * 2001}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "up to 2,000 characters; this one is 2,001" in html
    assert "x" * 2001 in html  # the draft stays in the field: nothing the user wrote is lost
    with db_app.app_context():
        assert db.session.scalars(select(Reflection.text)).all() == ["kept"]
    # exactly 2,000 is fine, also without JavaScript
    longest = {"text": "y" * 2000, "revision": reflection_revision(db_client)}
    assert db_client.post(f"/day/{TODAY}/reflection", data=longest).status_code == 303


def test_replayed_writes_with_the_same_key_apply_once(db_app, db_client):
    db_client.get("/")
    done, undo = str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(3):
        db_client.post(f"/day/{TODAY}/done", data={"key": done}, headers=HTMX)
    db_client.post(f"/day/{TODAY}/undo", data={"key": undo}, headers=HTMX)
    # The outbox replays everything again, in order: the day must stay undone.
    db_client.post(f"/day/{TODAY}/done", data={"key": done}, headers=HTMX)
    db_client.post(f"/day/{TODAY}/undo", data={"key": undo}, headers=HTMX)
    assert count(db_app, Completion) == 0
    assert count(db_app, AppliedWrite) == 2

    key = str(uuid.uuid4())
    db_client.post(f"/day/{TODAY}/reflection", data={"text": "first", "key": key}, headers=HTMX)
    second = {"text": "second", "revision": reflection_revision(db_client)}
    db_client.post(f"/day/{TODAY}/reflection", data=second, headers=HTMX)
    db_client.post(f"/day/{TODAY}/reflection", data={"text": "first", "key": key}, headers=HTMX)
    with db_app.app_context():
        assert db.session.scalars(select(Reflection.text)).all() == ["second"]


def test_a_malformed_key_is_a_clear_400(app, client):
    client.get("/")
    response = client.post(f"/day/{TODAY}/done", data={"key": "not-a-uuid"}, headers=HTMX)
    assert response.status_code == 400 and "broken id" in response.get_data(as_text=True)
    assert count(app, Completion) == 0


def test_any_day_from_day_one_to_ninety_days_ahead(client):
    client.get("/")
    assert client.get("/day/2026-11-26").status_code == 200
    html = client.get("/day/2027-02-24").get_data(as_text=True)  # today + 90
    assert "Day 91 of your practice" in html and "when its day comes" in html
    for url in (
        "/day/2026-11-25",
        "/day/2027-02-25",
        "/day/2026-13-01",
        "/day/26-11-2026",
        "/day/x",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Not found" in response.get_data(as_text=True)


def test_day_one_says_how_the_app_works_and_later_days_do_not(client, clock):
    first = client.get("/").get_data(as_text=True)
    assert "New here? Each day brings one small practice" in first
    assert "New here?" not in client.get("/day/2026-11-27").get_data(as_text=True)
    clock.now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    assert "New here?" not in client.get("/").get_data(as_text=True)


def test_tomorrow_is_a_preview_with_nothing_to_mark(client):
    client.get("/")
    html = shown(client.get("/day/2026-11-27").get_data(as_text=True))
    assert "Day 2 · " in html and "when its day comes" in html
    assert "/day/2026-11-27/done" not in html and 'id="reflection-text"' not in html
    today = shown(client.get("/").get_data(as_text=True))
    assert f"/day/{TODAY}/done" in today and 'id="reflection-text"' in today


def shown(html: str) -> str:
    """The page without its <template>s (the offline layer's inert copies of the forms)."""
    return re.sub(r"<template\b.*?</template>", "", html, flags=re.DOTALL)


def test_a_device_a_day_ahead_keeps_its_forms_after_a_write(client):
    """pwa.js gives that device the forms on its own date; the answer to its write must not
    take them away again (after Undo it can mark the day done once more)."""
    client.get("/")
    done = client.post("/day/2026-11-27/done", headers=HTMX).get_data(as_text=True)
    assert "/day/2026-11-27/undo" in done
    undone = client.post("/day/2026-11-27/undo", headers=HTMX).get_data(as_text=True)
    assert "/day/2026-11-27/done" in undone and "when its day comes" not in undone


def test_future_days_cannot_be_marked_done(app, client):
    client.get("/")
    assert (
        client.post("/day/2026-11-27/done", headers=HTMX).status_code == 200
    )  # device a day ahead
    response = client.post("/day/2026-11-29/done", headers=HTMX)
    assert response.status_code == 409 and "once it has come" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Completion.day)).all() == [date(2026, 11, 27)]


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_wrong_method_is_a_clear_405(client, method):
    client.get("/")
    response = getattr(client, method)(f"/day/{TODAY}/done")
    assert response.status_code == 405
    assert "does not accept this kind of request" in response.get_data(as_text=True)


def test_htmx_errors_answer_with_a_fragment(client):
    response = client.get("/day/nope", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "<html" not in html and 'role="alert"' in html
    # into the page's error banner, not in place of whatever sent the request
    assert response.headers["HX-Retarget"] == "#request-error"
    assert response.headers["HX-Reswap"] == "innerHTML"
    assert "<h1" not in html and "Not found" in html


def test_error_pages_are_named_for_people(client):
    html = client.get("/day/nope").get_data(as_text=True)
    assert "<title>Not found · Closer</title>" in html and "<h1>Not found</h1>" in html
    assert 'id="request-error"' in html


def test_day_navigation_links(client):
    client.get("/")
    html = client.get("/day/2026-11-27").get_data(as_text=True)
    assert (
        'href="/day/2026-11-26"' in html and 'href="/day/2026-11-28"' in html and 'href="/"' in html
    )
    assert 'rel="prev"' not in client.get("/").get_data(as_text=True)


def test_progress_sentence_is_kind():
    from days import progress_sentence

    assert progress_sentence(0, 7) == "A fresh start today. Two minutes is plenty."
    assert progress_sentence(1, 1) == "Day one, done. A lovely start."
    assert progress_sentence(2, 3) == "You practised 2 of your first 3 days."
    assert progress_sentence(5, 7) == "You practised 5 of the last 7 days."


def test_a_write_without_a_user_is_refused_and_creates_nothing(app):
    client = app.test_client()  # no cookie: never visited, or the cookie was lost
    for url, data in (
        (f"/day/{TODAY}/done", {}),
        (f"/day/{TODAY}/reflection", {"text": "hi"}),
        ("/settings/timezone", {"time_zone": "Europe/Berlin"}),
    ):
        response = client.post(url, data=data, headers=HTMX)
        assert response.status_code == 403, url
        assert "Reload the page" in response.get_data(as_text=True)
    assert count(app, User) == 0

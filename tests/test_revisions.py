"""No stale page overwrites a newer write (issue 14, item 1): the revision rule on reflection
writes and Undo (revisions.py) and the conflict answer with both texts. Revisions that name
a waiting write are in test_revision_keys.py; the card a cached page asks for again and the
pages' Cache-Control in test_today_page.py."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from models import Completion, Reflection, db
from revisions import (
    NONE,
    BrokenRevision,
    parse_revision,
    reflection_conflicts,
    revision_of,
    undo_is_stale,
)
from tests.conftest import HTMX

TODAY = "2026-11-26"
REFLECT = f"/day/{TODAY}/reflection"
UNDO = f"/day/{TODAY}/undo"
DONE = f"/day/{TODAY}/done"


# ------------------------------------------------------------------------------------------
# Helpers: what a page shows, as a browser would read it


def form_fields(html: str, section: str) -> dict[str, str]:
    """The hidden fields of the first form inside `<section id="{section}"`."""
    part = html[html.index(f'<section id="{section}"') :]
    form = part[: part.index("</form>")]
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
    return {name: html_lib.unescape(value) for name, value in fields}


def reflection_form(client, day: str = TODAY) -> dict[str, str]:
    return form_fields(client.get(f"/day/{day}").get_data(as_text=True), "reflection")


def undo_form(client) -> dict[str, str]:
    return form_fields(client.get(f"/day/{TODAY}").get_data(as_text=True), "done")


def conflict_forms(html: str) -> list[dict[str, str]]:
    """Every form of the conflict answer: its hidden fields plus its textarea's text."""
    part = html[html.index('<section id="reflection"') :]
    part = part[: part.index("</section>")]
    forms = []
    for form in part.split("<form")[1:]:
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
        area = re.search(r"<textarea[^>]*>(.*?)</textarea>", form, re.S)
        if area:
            fields["text"] = area.group(1)
        forms.append({k: html_lib.unescape(v) for k, v in fields.items()})
    return forms


def stored_text(app) -> list[str]:
    with app.app_context():
        return db.session.scalars(select(Reflection.text)).all()


def done_days(app) -> list:
    with app.app_context():
        return db.session.scalars(select(Completion.day)).all()


def save(client, text: str, form: dict[str, str], headers=HTMX, **extra):
    data = {**form, "text": text, "key": str(uuid.uuid4()), **extra}
    return client.post(REFLECT, data=data, headers=headers)


@pytest.fixture
def two_pages(db_client):
    """A user with "first version" saved, and the reflection form as a page showed it then
    (the stale page), after another page saved "second version"."""
    db_client.get("/")
    save(db_client, "first version", reflection_form(db_client))
    stale = reflection_form(db_client)
    response = save(db_client, "second version", reflection_form(db_client))
    assert response.status_code == 200
    return stale


# ------------------------------------------------------------------------------------------
# The rule itself


def test_a_revision_is_the_write_time_in_microseconds():
    assert revision_of(None) == NONE == "0"
    assert revision_of(datetime(1970, 1, 1, 0, 0, 1, 5)) == "1000005"
    aware = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    assert revision_of(aware) == revision_of(aware.replace(tzinfo=None))
    assert parse_revision(None) is None and parse_revision("  ") is None
    assert parse_revision("0") == "0" and parse_revision("007") == "7"
    key = uuid.uuid4()
    assert parse_revision(f"key:{str(key).upper()}") == f"key:{key}"
    for broken in ("-1", "1.5", "abc", "１２", "9" * 21, "key:", "key:1", "key:0"):
        with pytest.raises(BrokenRevision):
            parse_revision(broken)


@pytest.mark.parametrize(
    ("base", "current", "stored", "text", "conflict"),
    [
        ("5", "5", "old", "new", False),  # based on what is stored
        ("4", "5", "old", "new", True),  # stored words the page never showed
        ("4", "5", "old", "old", False),  # the same words: nothing changes
        ("4", "0", "", "new", False),  # nothing stored: nothing can be lost
        ("4", "5", "old", "", True),  # clearing words the page never showed
        (None, "5", "old", "new", True),  # unknown base, other words stored
        (None, "5", "old", "old", False),
        (None, "0", "", "new", False),
    ],
)
def test_the_reflection_rule(base, current, stored, text, conflict):
    assert reflection_conflicts(base, current, stored, text) is conflict


def test_the_undo_rule():
    assert not undo_is_stale("5", "5")
    assert undo_is_stale("4", "5")  # done again after the page was drawn
    assert undo_is_stale("0", "5")  # the page saw the day not done
    assert not undo_is_stale(None, "5")  # unknown: the person asked for it
    assert not undo_is_stale("4", NONE)  # nothing to undo


# ------------------------------------------------------------------------------------------
# Reflections


def test_a_write_on_the_current_revision_is_saved(db_app, db_client):
    db_client.get("/")
    form = reflection_form(db_client)
    assert form["revision"] == "0"
    assert save(db_client, "first version", form).status_code == 200
    newer = reflection_form(db_client)
    assert newer["revision"] not in ("", "0")
    response = save(db_client, "second version", newer)
    assert response.status_code == 200 and "Reflection saved." in response.get_data(as_text=True)
    assert stored_text(db_app) == ["second version"]
    assert reflection_form(db_client)["revision"] != newer["revision"]


def test_a_stale_write_is_a_409_showing_both_texts_and_changes_nothing(
    db_app, db_client, two_pages
):
    before = reflection_form(db_client)
    response = save(db_client, "first version, edited", two_pages)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#reflection"
    assert response.headers["HX-Reswap"] == "outerHTML"
    assert "Saved on another page:" in html and "Yours:" in html
    assert "second version" in html and "first version, edited" in html
    assert stored_text(db_app) == ["second version"]
    assert reflection_form(db_client)["revision"] == before["revision"]


def test_the_conflict_offers_theirs_mine_and_both_on_the_current_revision(
    db_app, db_client, two_pages
):
    html = save(db_client, "mine", two_pages).get_data(as_text=True)
    theirs, mine, both = conflict_forms(html)
    current = reflection_form(db_client)["revision"]
    assert {f["revision"] for f in (theirs, mine, both)} == {current}
    assert theirs["text"] == "second version" and mine["text"] == "mine"
    assert both["text"] == "second version\n\nmine"
    assert 'data-outbox="reflect"' in html  # offline, a choice waits in the outbox too

    # Keep theirs: nothing changes (the same words).
    keep = db_client.post(REFLECT, data={**theirs, "key": str(uuid.uuid4())}, headers=HTMX)
    assert keep.status_code == 200 and stored_text(db_app) == ["second version"]
    # Combine (edited a little before saving).
    both["text"] += " And more."
    combined = db_client.post(REFLECT, data={**both, "key": str(uuid.uuid4())}, headers=HTMX)
    assert combined.status_code == 200
    assert stored_text(db_app) == ["second version\n\nmine And more."]


def test_keep_mine_replaces_theirs(db_app, db_client, two_pages):
    html = save(db_client, "mine\nover two lines", two_pages).get_data(as_text=True)
    _theirs, mine, _both = conflict_forms(html)
    response = db_client.post(REFLECT, data={**mine, "key": str(uuid.uuid4())}, headers=HTMX)
    assert response.status_code == 200
    assert stored_text(db_app) == ["mine\nover two lines"]


def test_the_choice_is_itself_judged_by_the_rule(db_app, db_client, two_pages):
    """A choice made on a conflict that is itself overtaken is a conflict again."""
    html = save(db_client, "mine", two_pages).get_data(as_text=True)
    _theirs, mine, _both = conflict_forms(html)
    save(db_client, "third version", reflection_form(db_client))
    again = db_client.post(REFLECT, data={**mine, "key": str(uuid.uuid4())}, headers=HTMX)
    assert again.status_code == 409 and "third version" in again.get_data(as_text=True)
    assert stored_text(db_app) == ["third version"]


def test_without_javascript_the_conflict_is_a_whole_page_with_the_same_choice(
    db_app, db_client, two_pages
):
    response = save(db_client, "mine", two_pages, headers={})
    html = response.get_data(as_text=True)
    assert response.status_code == 409 and "HX-Retarget" not in response.headers
    assert html.startswith("<!doctype html>") and 'id="card"' in html
    assert "Saved on another page:" in html and "Yours:" in html
    assert [f["text"] for f in conflict_forms(html)] == [
        "second version",
        "mine",
        "second version\n\nmine",
    ]
    assert 'method="post" action="/day/2026-11-26/reflection"' in html
    assert stored_text(db_app) == ["second version"]


def test_a_cleared_reflection_elsewhere_is_not_brought_back_silently(db_app, db_client):
    """Clearing is a write like any other: a stale page's Save over it is accepted, since
    nothing stored is lost; a stale clear over newer words is a conflict."""
    db_client.get("/")
    save(db_client, "words", reflection_form(db_client))
    stale = reflection_form(db_client)
    save(db_client, "newer words", reflection_form(db_client))
    response = save(db_client, "", stale)
    assert response.status_code == 409 and "Nothing: you cleared it here." in response.text
    assert stored_text(db_app) == ["newer words"]
    save(db_client, "", reflection_form(db_client))  # cleared on another page
    assert save(db_client, "back again", stale).status_code == 200
    assert stored_text(db_app) == ["back again"]


def test_a_refused_draft_keeps_the_revision_its_page_had(db_app, db_client, two_pages):
    """Too long on a stale page: the 422 keeps the draft and the old revision, so shortening
    it and saving again still meets the conflict instead of overwriting."""
    response = save(db_client, "x" * 2001, two_pages)
    assert response.status_code == 422
    redrawn = form_fields(response.get_data(as_text=True), "reflection")
    assert redrawn["revision"] == two_pages["revision"]
    assert save(db_client, "x" * 20, redrawn).status_code == 409
    assert stored_text(db_app) == ["second version"]


# ------------------------------------------------------------------------------------------
# Writes without a revision: old cached pages, old outbox entries, the offline templates


def test_without_a_revision_a_first_reflection_is_saved(db_app, db_client):
    db_client.get("/")
    response = db_client.post(REFLECT, data={"text": "queued offline"}, headers=HTMX)
    assert response.status_code == 200 and stored_text(db_app) == ["queued offline"]
    # The same words again (a replay under a new key) are no conflict.
    again = db_client.post(REFLECT, data={"text": "queued offline", "revision": ""}, headers=HTMX)
    assert again.status_code == 200


def test_without_a_revision_other_words_are_never_replaced(db_app, db_client):
    db_client.get("/")
    save(db_client, "on the server", reflection_form(db_client))
    response = db_client.post(REFLECT, data={"text": "from an old page"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "on the server" in html and "from an old page" in html
    assert stored_text(db_app) == ["on the server"]


def test_a_broken_revision_is_a_clear_400_that_changes_nothing(db_app, db_client):
    db_client.get("/")
    response = db_client.post(REFLECT, data={"text": "hi", "revision": "yesterday"}, headers=HTMX)
    assert response.status_code == 400 and "out of date" in response.get_data(as_text=True)
    assert stored_text(db_app) == []
    undo = db_client.post(UNDO, data={"revision": "<script>"}, headers=HTMX)
    assert undo.status_code in (200, 400)  # nothing to undo is answered before the field


# ------------------------------------------------------------------------------------------
# Done and Undo


def test_done_when_done_is_a_no_op(db_app, db_client):
    db_client.get("/")
    db_client.post(DONE, headers=HTMX)
    revision = undo_form(db_client)["revision"]
    again = db_client.post(DONE, headers=HTMX)
    assert again.status_code == 200 and "Done for today" in again.get_data(as_text=True)
    assert undo_form(db_client)["revision"] == revision and len(done_days(db_app)) == 1


def test_undo_on_the_current_revision_undoes(db_app, db_client):
    db_client.get("/")
    db_client.post(DONE, headers=HTMX)
    form = undo_form(db_client)
    assert form["revision"] not in ("", "0")
    response = db_client.post(UNDO, data=form, headers=HTMX)
    assert response.status_code == 200 and ">Done</button>" in response.get_data(as_text=True)
    assert done_days(db_app) == []


def test_a_stale_undo_does_not_undo_a_newer_done(db_app, db_client):
    db_client.get("/")
    db_client.post(DONE, headers=HTMX)
    stale = undo_form(db_client)
    db_client.post(UNDO, data=undo_form(db_client), headers=HTMX)
    db_client.post(DONE, headers=HTMX)  # done again, on another page
    current = undo_form(db_client)["revision"]
    response = db_client.post(UNDO, data={**stale, "key": str(uuid.uuid4())}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#done"
    assert "marked done again on another page" in html and "Done for today" in html
    assert form_fields(html, "done")["revision"] == current  # Undo again works from here
    assert len(done_days(db_app)) == 1
    # Without JavaScript: the whole page, the same message, still done.
    plain = db_client.post(UNDO, data=stale)
    assert plain.status_code == 409 and "marked done again" in plain.get_data(as_text=True)
    assert len(done_days(db_app)) == 1


def test_an_undo_when_not_done_is_a_no_op(db_app, db_client):
    db_client.get("/")
    db_client.post(DONE, headers=HTMX)
    stale = undo_form(db_client)
    db_client.post(UNDO, data=undo_form(db_client), headers=HTMX)
    response = db_client.post(UNDO, data=stale, headers=HTMX)
    assert response.status_code == 200 and ">Done</button>" in response.get_data(as_text=True)
    assert done_days(db_app) == []


def test_an_undo_without_a_revision_is_applied(db_app, db_client):
    """Queued by an outbox before revisions existed, or drawn from the offline template
    after an offline Done: the person asked for it, and it loses no words."""
    db_client.get("/")
    db_client.post(DONE, headers=HTMX)
    assert db_client.post(UNDO, headers=HTMX).status_code == 200
    assert done_days(db_app) == []

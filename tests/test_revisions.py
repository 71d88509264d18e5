"""No stale page overwrites a newer write (issue 14, item 1): the revision rule on reflection
writes and Undo (revisions.py), the conflict answer with both texts, the card a cached page
asks for again (static/js/fresh.js), and the pages' Cache-Control."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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
from tests.conftest import HTMX, make_app
from tests.test_hostile_input import check, nasty

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
# "key:<uuid>": a form drawn offline after a reflection that is still waiting


def test_two_edits_made_offline_replay_without_a_conflict(db_app, db_client):
    """The outbox holds the first edit (on the page's revision) and a second one drawn after
    it (revision "key:" + the first's key); replayed in order, both apply."""
    db_client.get("/")
    first_key, second_key = str(uuid.uuid4()), str(uuid.uuid4())
    first = {**reflection_form(db_client), "text": "first offline", "key": first_key}
    second = {"text": "second offline", "key": second_key, "revision": f"key:{first_key}"}
    assert db_client.post(REFLECT, data=first, headers=HTMX).status_code == 200
    assert db_client.post(REFLECT, data=second, headers=HTMX).status_code == 200
    assert stored_text(db_app) == ["second offline"]
    # A third drawn after the second follows it too, and replays stay no-ops.
    third = {"text": "third", "key": str(uuid.uuid4()), "revision": f"key:{second_key}"}
    assert db_client.post(REFLECT, data=third, headers=HTMX).status_code == 200
    assert db_client.post(REFLECT, data=first, headers=HTMX).status_code == 200
    assert stored_text(db_app) == ["third"]


def test_a_key_revision_overtaken_by_another_page_is_a_conflict(db_app, db_client):
    db_client.get("/")
    key = str(uuid.uuid4())
    db_client.post(REFLECT, data={**reflection_form(db_client), "text": "mine", "key": key})
    save(db_client, "from another device", reflection_form(db_client))
    later = {"text": "mine, edited offline", "revision": f"key:{key}"}
    response = db_client.post(REFLECT, data=later, headers=HTMX)
    assert response.status_code == 409 and "from another device" in response.text
    assert stored_text(db_app) == ["from another device"]


def test_a_key_revision_of_a_write_never_applied_is_unknown(db_app, db_client):
    """Its write was refused (a conflict of its own) or pruned long ago: judged by content."""
    db_client.get("/")
    never = f"key:{uuid.uuid4()}"
    assert save(db_client, "first", {"revision": never}).status_code == 200  # nothing stored
    assert save(db_client, "other", {"revision": never}).status_code == 409
    assert save(db_client, "x", {"revision": "key:not-a-uuid"}).status_code == 400
    assert stored_text(db_app) == ["first"]


def test_a_key_revision_never_follows_another_users_write(app):
    alice, bob = app.test_client(), app.test_client()
    alice.get("/")
    bob.get("/")
    key = str(uuid.uuid4())
    alice.post(REFLECT, data={"text": "alice", "key": key, "revision": "0"})
    bob.post(REFLECT, data={"text": "bob", "revision": "0"})
    response = bob.post(REFLECT, data={"text": "bob again", "revision": f"key:{key}"})
    assert response.status_code == 409 and "alice" not in response.text
    assert sorted(stored_text(app)) == ["alice", "bob"]


# ------------------------------------------------------------------------------------------
# Idempotency keys still rule first


def test_a_replayed_key_is_a_no_op_even_after_newer_writes(db_app, db_client):
    db_client.get("/")
    key = str(uuid.uuid4())
    first = {**reflection_form(db_client), "text": "first", "key": key}
    assert db_client.post(REFLECT, data=first, headers=HTMX).status_code == 200
    save(db_client, "second", reflection_form(db_client))
    # The outbox replays the first write (its answer was lost): applied once, no conflict.
    replay = db_client.post(REFLECT, data=first, headers=HTMX)
    assert replay.status_code == 200 and stored_text(db_app) == ["second"]


def test_a_refused_write_does_not_use_up_its_key(db_app, db_client, two_pages):
    key = str(uuid.uuid4())
    data = {**two_pages, "text": "mine", "key": key}
    assert db_client.post(REFLECT, data=data, headers=HTMX).status_code == 409
    # Replayed by the outbox: still shown as a conflict, never silently dropped as "applied".
    assert db_client.post(REFLECT, data=data, headers=HTMX).status_code == 409
    assert stored_text(db_app) == ["second version"]


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


# ------------------------------------------------------------------------------------------
# Hostile revisions: never a 5xx, and a refused write changes nothing


@pytest.fixture(scope="module")
def revision_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("revisions"))
    client = app.test_client()
    client.get("/")
    client.post(DONE)
    client.post(REFLECT, data={"text": "kept safe"})
    app.extensions["revision_client"] = client
    return app


@settings(max_examples=150, deadline=None, database=None)
@given(revision=nasty, done=nasty, text=nasty, fragment=st.booleans())
def test_hostile_revisions_never_break_the_server(revision_app, revision, done, text, fragment):
    client = revision_app.extensions["revision_client"]
    headers = HTMX if fragment else {}
    form = {"text": text, "revision": revision}
    check(revision_app, client, "POST", REFLECT, data=form, headers=headers)
    check(revision_app, client, "POST", UNDO, data={"revision": revision}, headers=headers)
    query = {"revision": revision, "done": done}
    check(revision_app, client, "GET", f"/day/{TODAY}/card", query_string=query)

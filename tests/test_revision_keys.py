"""Revisions and idempotency keys together: a form drawn offline after a reflection still
waiting in the outbox names that write ("key:<uuid>", revisions.py); a replayed key is a
no-op whatever its revision; hostile revision values never break the server."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import HTMX, make_app
from tests.test_hostile_input import check, nasty
from tests.test_revisions import (
    DONE,
    REFLECT,
    TODAY,
    UNDO,
    reflection_form,
    save,
    stored_text,
)

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


def test_a_refused_write_does_not_use_up_its_key(db_app, db_client):
    db_client.get("/")
    save(db_client, "first version", reflection_form(db_client))
    stale = reflection_form(db_client)
    save(db_client, "second version", reflection_form(db_client))
    key = str(uuid.uuid4())
    data = {**stale, "text": "mine", "key": key}
    assert db_client.post(REFLECT, data=data, headers=HTMX).status_code == 409
    # Replayed by the outbox: still shown as a conflict, never silently dropped as "applied".
    assert db_client.post(REFLECT, data=data, headers=HTMX).status_code == 409
    assert stored_text(db_app) == ["second version"]


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

"""Restore from an export: a file from Settings' export merges into the current user, in one
transaction, the same file twice changing nothing; hostile files change nothing at all.

Real parts throughout: the export comes from the export route, the restore goes through the
two forms a person uses (preview, then confirm), and results are read from the database.
"""

from __future__ import annotations

import html
import io
import json
import re
import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update

import devices
from export_file import EARLIEST_DAY, ExportRefused, WrittenDay, read_export
from identity import DEVICE_KEY
from models import USER_TABLES, Completion, PushSubscription, Reflection, User, db
from restore import EARLIER_MARK, merge, merged_text
from tests.conftest import FIXED_NOW, app_on, csrf_token_from, make_app

FIRST = date(2026, 11, 1)
TODAY = FIXED_NOW.date()  # 2026-11-26


# ------------------------------------------------------------------------------------------
# Helpers: people using the app, and what is stored about them


def at(app, day: date) -> None:
    app.extensions["test_clock"].now = datetime.combine(day, time(12), UTC)


def start(app, client, first: date = FIRST) -> str:
    """A person whose Day 1 is `first`; returns their user id."""
    at(app, first)
    client.get("/")
    at(app, TODAY)
    return user_id_of(app, client)


def user_id_of(app, client) -> str:
    """The user behind a phone's cookie: it holds a device token, whose device names them."""
    with client.session_transaction() as session:
        token = session[DEVICE_KEY]
    with app.app_context():
        _device, user = devices.signed_in(token)
        return user.id


def practise(app, client, day: date, done: bool = True, text: str | None = None) -> None:
    """Use the day's forms on the day itself, as a person does."""
    at(app, day)
    if done:
        assert client.post(f"/day/{day}/done").status_code == 303
    if text is not None:
        assert client.post(f"/day/{day}/reflection", data={"text": text}).status_code == 303
    at(app, TODAY)


def rows(app, uid: str) -> dict[str, list[tuple]]:
    """Every row stored about one user, column by column (the user's own row too)."""
    with app.app_context():
        found = {}
        for model in (User, *USER_TABLES):
            key = model.id if model is User else model.user_id
            # A device's "last seen" is the visit itself, not something the restore changed.
            columns = [c.key for c in model.__table__.columns if c.key != "last_seen_at"]
            records = db.session.scalars(select(model).where(key == uid)).all()
            found[model.__tablename__] = sorted(
                tuple(str(getattr(r, c)) for c in columns) for r in records
            )
        db.session.remove()
        return found


def days_of(app, uid: str) -> tuple[list[tuple], list[tuple]]:
    """(completions, reflections) of a user as the export carries them, without ids."""
    with app.app_context():
        done = db.session.execute(
            select(Completion.day, Completion.practice_id, Completion.done_at)
            .where(Completion.user_id == uid)
            .order_by(Completion.day)
        ).all()
        written = db.session.execute(
            select(
                Reflection.day,
                Reflection.practice_id,
                Reflection.text,
                Reflection.created_at,
                Reflection.updated_at,
            )
            .where(Reflection.user_id == uid)
            .order_by(Reflection.day)
        ).all()
        db.session.remove()
        return [tuple(r) for r in done], [tuple(r) for r in written]


def export(client) -> bytes:
    response = client.get("/settings/export")
    assert response.status_code == 200
    return response.get_data()


def preview(client, data: bytes, name: str = "closer-export-2026-11-26.json"):
    return client.post(
        "/settings/restore",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def carried_document(page: str) -> str:
    match = re.search(r'name="document" value="([^"]*)"', page)
    assert match, "the preview has no confirm form"
    return html.unescape(match.group(1))


def confirm(client, document: str):
    return client.post(
        "/settings/restore/confirm",
        data={"document": document},
        content_type="multipart/form-data",
    )


def restore(client, data: bytes) -> str:
    """Choose the file, read the preview, tap Restore; returns the result page. A preview
    that finds nothing to do offers no Restore button: then the confirm is sent as a second
    tap would send it (a page reloaded, or an older preview in another tab)."""
    shown = preview(client, data)
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200, page
    if "restoring it changes nothing" in page:
        assert 'name="document"' not in page
        document = json.dumps(read_export(data, TODAY).to_document())
    else:
        document = carried_document(page)
    result = confirm(client, document)
    assert result.status_code == 200, result.get_data(as_text=True)
    return result.get_data(as_text=True)


def seed_source(app, client) -> str:
    """Five days practised, three reflections, Berlin, reminders at 08:30 on one device."""
    uid = start(app, client)
    for n, text in enumerate(["Listened well", None, "We laughed <b>a lot</b>", None, "Tired"]):
        practise(app, client, FIRST + timedelta(days=n * 3), text=text)
    client.post("/settings/timezone", data={"time_zone": "Europe/Berlin"})
    with app.app_context():
        user = db.session.get(User, uid)
        user.reminder_time = time(8, 30)
        db.session.add(
            PushSubscription(
                user_id=uid, endpoint="https://push.example.com/one", p256dh="k" * 87, auth="a" * 22
            )
        )
        db.session.commit()
    return uid


def user_row(app, uid: str) -> User:
    with app.app_context():
        user = db.session.get(User, uid)
        db.session.expunge(user)
        return user


# ------------------------------------------------------------------------------------------
# Restoring


def test_the_restore_page_asks_for_a_file(client):
    page = client.get("/settings/restore")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in text and 'type="file"' in text
    assert 'action="/settings/restore"' in text and 'name="csrf_token"' in text


def test_restore_into_a_fresh_user_then_again_changes_nothing(db_app):
    source, target = db_app.test_client(), db_app.test_client()
    source_id = seed_source(db_app, source)
    data = export(source)
    target_id = start(db_app, target, first=TODAY)
    before = rows(db_app, target_id)

    shown = preview(target, data)
    page = shown.get_data(as_text=True)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert "5 days practised, 3 reflections; 1 device&#39;s reminders are not restored." in page
    assert "Your Day 1 moves back to 2026-11-01" in page
    assert rows(db_app, target_id) == before  # a preview changes nothing

    result = confirm(target, carried_document(page))
    assert result.status_code == 200
    assert "Added 5 days practised and 3 reflections" in result.get_data(as_text=True)
    # Row by row, the days are the source's: same practices, same times, same texts.
    assert days_of(db_app, target_id) == days_of(db_app, source_id)
    user = user_row(db_app, target_id)
    assert (user.time_zone, user.time_zone_confirmed) == ("Europe/Berlin", True)
    assert user.reminder_time == time(8, 30) and user.first_date == FIRST
    assert user.next_reminder_at is None  # no device here yet: nothing is due
    with db_app.app_context():
        subscriptions = select(func.count()).select_from(PushSubscription)
        assert db.session.scalar(subscriptions.where(PushSubscription.user_id == target_id)) == 0

    after_first = rows(db_app, target_id)
    again = restore(target, data)
    assert "Everything in the file was already here. Nothing changed." in again
    assert rows(db_app, target_id) == after_first
    # The restored days open, and the export of the result holds every text.
    assert target.get("/day/2026-11-01").status_code == 200
    texts = [r["text"] for r in json.loads(export(target))["reflections"]]
    assert sorted(texts) == sorted(["Listened well", "We laughed <b>a lot</b>", "Tired"])


def test_restore_into_a_user_with_overlapping_days(db_app):
    source, target = db_app.test_client(), db_app.test_client()
    source_id = seed_source(db_app, source)
    target_id = start(db_app, target, first=date(2026, 11, 4))
    practise(db_app, target, date(2026, 11, 4), text="Listened well")  # the same text
    practise(db_app, target, date(2026, 11, 7), text="Phone: newer")  # both wrote
    practise(db_app, target, date(2026, 11, 13), done=False, text="Phone: older")
    practise(db_app, target, date(2026, 11, 20), text="Only on the phone")
    with db_app.app_context():
        # The file's 11-07 text was written before the phone's; its 11-13 text after.
        stamp = {date(2026, 11, 7): datetime(2099, 1, 1), date(2026, 11, 13): datetime(2000, 1, 1)}
        for day, when in stamp.items():
            db.session.execute(
                update(Reflection)
                .where(Reflection.user_id == target_id, Reflection.day == day)
                .values(created_at=when, updated_at=when)
            )
        db.session.commit()
    data = export(source)

    page = preview(target, data).get_data(as_text=True)
    assert "New here: 3 days practised, 1 reflection." in page
    assert "2 days are already marked done here." in page
    assert "2 days have a different reflection here and in the file." in page
    restore(target, data)

    done, written = days_of(db_app, target_id)
    assert [d[0].day for d in done] == [1, 4, 7, 10, 13, 20]
    texts = {d[0]: d[2] for d in written}
    assert texts == {
        date(2026, 11, 1): "Listened well",
        date(2026, 11, 4): "Listened well",
        date(2026, 11, 7): "Phone: newer" + EARLIER_MARK + "We laughed <b>a lot</b>",
        date(2026, 11, 13): "Tired" + EARLIER_MARK + "Phone: older",
        date(2026, 11, 20): "Only on the phone",
    }
    # The phone's own rows keep their times; a combined text is a new change of its day.
    by_day = {d[0]: d for d in written}
    assert by_day[date(2026, 11, 13)][4] == FIXED_NOW.replace(tzinfo=None)
    assert user_row(db_app, target_id).first_date == FIRST
    assert rows(db_app, source_id)["completions"]  # the source is untouched (its own test below)

    # Twice: nothing changes, row by row. And the export of the result, restored into the
    # result, changes nothing either: no text is repeated.
    after = rows(db_app, target_id)
    assert "Nothing changed" in restore(target, data)
    assert rows(db_app, target_id) == after
    assert "Nothing changed" in restore(target, export(target))
    assert rows(db_app, target_id) == after


def test_a_restored_reminder_time_is_scheduled_on_a_phone_with_reminders_on(app):
    source, target = app.test_client(), app.test_client()
    seed_source(app, source)
    data = export(source)
    target_id = start(app, target, first=TODAY)
    with app.app_context():
        db.session.add(
            PushSubscription(
                user_id=target_id,
                endpoint="https://push.example.com/two",
                p256dh="k" * 87,
                auth="a",
            )
        )
        db.session.commit()
    restore(target, data)
    user = user_row(app, target_id)
    # 08:30 in Berlin, the first after the restore at 12:00 UTC on the 26th: the 27th.
    assert user.next_reminder_day == date(2026, 11, 27)
    assert user.next_reminder_at == datetime(2026, 11, 27, 7, 30)
    after = rows(app, target_id)
    restore(target, data)
    assert rows(app, target_id) == after


def test_two_restores_at_once_run_one_after_the_other(tmp_path):
    """On PostgreSQL the second waits for the first's lock on the user, then finds every
    row in place: it changes nothing, where without the lock it would fail on a duplicate."""
    with app_on("postgres", tmp_path) as app:
        source, target = app.test_client(), app.test_client()
        seed_source(app, source)
        file = read_export(export(source), TODAY)
        target_id = start(app, target, first=TODAY)
        first_holds_the_lock = threading.Event()
        second_results = []

        def first():
            with app.app_context():
                merge(db.session.get(User, target_id), file, FIXED_NOW)
                first_holds_the_lock.set()
                threading.Event().wait(0.5)  # the second starts meanwhile, and must wait
                db.session.commit()

        def second():
            first_holds_the_lock.wait()
            with app.app_context():
                plan = merge(db.session.get(User, target_id), file, FIXED_NOW)
                db.session.commit()
                second_results.append(plan.changes_nothing)

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert second_results == [True]
        assert len(days_of(app, target_id)[0]) == 5


def test_the_result_restored_elsewhere_adds_only_what_is_missing(app):
    """A combined text meets one of its own parts on a third phone: no part twice."""
    first, second, third = (app.test_client() for _ in range(3))
    start(app, first)
    practise(app, first, FIRST, text="From the first phone")
    start(app, second)
    practise(app, second, FIRST, text="From the second phone")
    restore(second, export(first))
    third_id = start(app, third)
    practise(app, third, FIRST, text="From the first phone")
    restore(third, export(second))
    [(_day, _practice, text, *_times)] = days_of(app, third_id)[1]
    assert sorted(text.split(EARLIER_MARK)) == ["From the first phone", "From the second phone"]


@pytest.mark.parametrize(
    ("here", "file_text", "file_is_newer", "expected"),
    [
        ("same", "same", True, None),
        ("a" + EARLIER_MARK + "b", "b", True, None),  # already combined
        ("a", "a" + EARLIER_MARK + "b", False, "a" + EARLIER_MARK + "b"),  # the fuller wins
        ("mine", "theirs", True, "theirs" + EARLIER_MARK + "mine"),
        ("mine", "theirs", False, "mine" + EARLIER_MARK + "theirs"),
        ("a" + EARLIER_MARK + "b", "c" + EARLIER_MARK + "a", True, "c|a|b"),
    ],
)
def test_merged_text_keeps_every_part_once(here, file_text, file_is_newer, expected):
    changed = datetime(2026, 11, 20)
    file_changed = changed + timedelta(hours=1 if file_is_newer else -1)
    restored = WrittenDay(FIRST, "p", file_text, file_changed, file_changed)
    result = merged_text(here, changed, restored)
    assert result == (expected.replace("|", EARLIER_MARK) if expected else None)


def test_every_format_ever_written_restores(app):
    """closer-export/1 as first written: no journal, naive UTC times, no reminder tables."""
    source, target = app.test_client(), app.test_client()
    source_id = seed_source(app, source)
    document = json.loads(export(source))
    for key in ("about", "journal", "push_subscriptions", "reminders_sent"):
        del document[key]
    del document["user"]["next_reminder_day"]
    first_format = json.dumps(document, indent=2).replace('Z"', '"').encode()
    assert b'Z"' not in first_format
    target_id = start(app, target, first=TODAY)
    restore(target, first_format)
    assert days_of(app, target_id) == days_of(app, source_id)


def test_restoring_touches_only_the_current_user(db_app):
    source, target, third = (db_app.test_client() for _ in range(3))
    source_id = seed_source(db_app, source)
    third_id = start(db_app, third)
    practise(db_app, third, FIRST, text="The third person's own words")
    document = json.loads(export(source))
    document["user"]["id"] = third_id  # a file naming someone else still restores into me
    target_id = start(db_app, target)
    practise(db_app, target, FIRST, text="My own words")  # the day the others wrote about
    before = {uid: rows(db_app, uid) for uid in (source_id, third_id)}
    restore(target, json.dumps(document).encode())
    assert {uid: rows(db_app, uid) for uid in (source_id, third_id)} == before
    done, written = days_of(db_app, target_id)
    assert len(done) == 5 and "My own words" in written[0][2] and "Listened well" in written[0][2]


def test_a_restore_never_creates_a_user(app):
    source = app.test_client()
    seed_source(app, source)
    data = export(source)
    with app.app_context():
        users = db.session.scalar(select(func.count()).select_from(User))
    stranger = app.test_client()
    assert preview(stranger, data).status_code == 403
    document = json.dumps(read_export(data, TODAY).to_document())
    assert confirm(stranger, document).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == users


def test_restore_needs_the_csrf_token(app, tmp_path):
    source = app.test_client()
    seed_source(app, source)  # the file comes from elsewhere
    data = export(source)
    (tmp_path / "csrf").mkdir()
    app = make_app(tmp_path / "csrf", WTF_CSRF_ENABLED=True)
    target = app.test_client()
    target_id = start(app, target, first=TODAY)
    token = csrf_token_from(target.get("/settings/restore").get_data(as_text=True))
    before = rows(app, target_id)
    document = json.dumps(read_export(data, TODAY).to_document())
    for url, fields in (
        ("/settings/restore", {"file": (io.BytesIO(data), "closer-export.json")}),
        ("/settings/restore/confirm", {"document": document}),
    ):
        response = target.post(url, data=fields, content_type="multipart/form-data")
        assert response.status_code == 400 and "security token" in response.get_data(as_text=True)
    assert rows(app, target_id) == before
    shown = target.post(
        "/settings/restore",
        data={"file": (io.BytesIO(data), "closer-export.json"), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert shown.status_code == 200
    done = target.post(
        "/settings/restore/confirm",
        data={"document": carried_document(shown.get_data(as_text=True)), "csrf_token": token},
        content_type="multipart/form-data",
    )
    assert done.status_code == 200 and len(days_of(app, target_id)[0]) == 5


# ------------------------------------------------------------------------------------------
# Hostile files: a clear 4xx, and nothing changes


def valid_document() -> dict:
    return {
        "format": "closer-export/1",
        "user": {"first_date": "2026-11-01", "time_zone": "UTC", "reminder_time": None},
        "completions": [
            {"day": "2026-11-02", "practice_id": "p1", "done_at": "2026-11-02T08:00:00Z"}
        ],
        "reflections": [
            {
                "day": "2026-11-02",
                "practice_id": "p1",
                "text": "ok",
                "created_at": "2026-11-02T08:00:00Z",
                "updated_at": "2026-11-02T08:00:00Z",
            }
        ],
    }


def changed(**paths) -> bytes:
    """The valid document with some values replaced, as JSON bytes."""
    document = valid_document()
    for path, value in paths.items():
        *parents, last = path.split("__")
        target = document
        try:
            for part in parents:
                target = target[int(part)] if part.isdigit() else target[part]
            target[int(last) if last.isdigit() else last] = value
        except (KeyError, IndexError, TypeError, ValueError):
            continue  # an earlier replacement took this place's parent away
    return json.dumps(document).encode()


NOT_AN_EXPORT = "not a Closer export"
DAMAGED = "is damaged"
HOSTILE = {
    "not JSON": (b"closer, but as CSV\n2026-11-02,done\n", 422, NOT_AN_EXPORT),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", 422, NOT_AN_EXPORT),
    "empty": (b"", 422, NOT_AN_EXPORT),
    "a list": (b"[1, 2, 3]", 422, NOT_AN_EXPORT),
    "another app's JSON": (b'{"format": "fitness-export/1"}', 422, NOT_AN_EXPORT),
    "no format": (b'{"user": {}, "completions": []}', 422, NOT_AN_EXPORT),
    "another version": (changed(format="closer-export/2"), 422, "format this Closer does not know"),
    "deep": (b'{"format": "closer-export/1", "user": ' + b"[" * 100_000, 422, NOT_AN_EXPORT),
    "deep, user in it": (changed(user=json.loads("[" * 500 + "]" * 500)), 422, DAMAGED),
    "NaN": (changed().replace(b'"p1"', b"NaN", 1), 422, NOT_AN_EXPORT),
    "huge number": (changed().replace(b'"p1"', b"9" * 5000, 1), 422, NOT_AN_EXPORT),
    "wrong shape": (changed(completions={"day": "2026-11-02"}), 422, DAMAGED),
    "a row not an object": (changed(reflections=["ok"]), 422, DAMAGED),
    "no user": (changed(user=None), 422, DAMAGED),
    "day as a number": (changed(completions__0__day=20261102), 422, DAMAGED),
    "text as a number": (changed(reflections__0__text=42), 422, DAMAGED),
    "text with NUL": (changed(reflections__0__text="a\x00b"), 422, DAMAGED),
    "practice as a list": (changed(completions__0__practice_id=["p1"]), 422, DAMAGED),
    "impossible day": (changed(completions__0__day="2026-02-30"), 422, DAMAGED),
    "far future day": (changed(completions__0__day="9999-12-31"), 422, DAMAGED),
    "ancient day": (changed(reflections__0__day="1970-01-01"), 422, DAMAGED),
    "bad time": (changed(completions__0__done_at="yesterday"), 422, DAMAGED),
    "overflowing time": (
        changed(reflections__0__created_at="0001-01-01T00:00+01:00"),
        422,
        DAMAGED,
    ),
    "unknown zone": (changed(user__time_zone="Mars/Olympus_Mons"), 422, DAMAGED),
    "zone as bool": (changed(user__time_zone=True), 422, DAMAGED),
    "reminder at 25:00": (changed(user__reminder_time="25:00"), 422, DAMAGED),
    "a day twice": (
        changed(completions=[valid_document()["completions"][0]] * 2),
        422,
        "a day appears twice",
    ),
    "over 1 MB": (changed(reflections__0__text="x" * (1024 * 1024)), 413, "larger than 1 MB"),
}


@pytest.fixture(scope="module")
def victim_app(tmp_path_factory):
    """A person with days of their own, about to choose bad files. One app for all the
    refusals below: each checks that it changed nothing, so none sees another's traces."""
    app = make_app(tmp_path_factory.mktemp("restore-victim"))
    client = app.test_client()
    uid = start(app, client)
    practise(app, client, FIRST, text="kept safe")
    app.extensions["victim"] = client, uid
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def victim(victim_app):
    return victim_app.extensions["victim"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_file_gets_a_clear_4xx_and_changes_nothing(victim_app, victim, name):
    app = victim_app
    client, uid = victim
    data, status, message = HOSTILE[name]
    before = rows(app, uid)
    shown = preview(client, data)
    page = shown.get_data(as_text=True)
    assert shown.status_code == status, page
    assert message in page and 'type="file"' in page  # the form again, to choose another file
    assert "Restore</button>" not in page
    # The confirm form's field is read just as strictly (its own size limit aside, below).
    if status != 413:
        response = confirm(client, data.decode("utf-8", "replace"))
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert rows(app, uid) == before


def test_the_size_limits(victim_app, victim):
    app = victim_app
    client, uid = victim
    before = rows(app, uid)
    # Beyond the route's own limit, the body is not even read.
    response = preview(client, b" " * (2 * 1024 * 1024))
    assert response.status_code == 413 and "larger than 1 MB" in response.get_data(as_text=True)
    # The confirm form carries the file as read, written compactly: at most twice its size.
    response = confirm(client, changed(reflections__0__text="x" * (2 * 1024 * 1024)).decode())
    assert response.status_code == 413 and "larger than" in response.get_data(as_text=True)
    # Other routes keep the 64 KB limit.
    big = client.post(f"/day/{FIRST}/reflection", data={"text": "x" * 70_000})
    assert big.status_code == 413
    assert rows(app, uid) == before
    # A file of almost 1 MB is fine.
    document = valid_document()
    document["padding"] = "x" * (1024 * 1024 - 1000)
    assert preview(client, json.dumps(document).encode()).status_code == 200


def test_choosing_no_file_is_a_400(victim):
    client, _uid = victim
    response = client.post("/settings/restore", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and "choose your export file" in response.get_data(
        as_text=True
    )


def test_read_export_bounds_days_by_today():
    tomorrow_plus_two = (TODAY + timedelta(days=3)).isoformat()
    with pytest.raises(ExportRefused):
        read_export(changed(completions__0__day=tomorrow_plus_two), TODAY)
    assert read_export(changed(completions__0__day=EARLIEST_DAY.isoformat()), TODAY)


# Generated junk in every place of a valid file: never a 5xx; a refusal changes nothing.
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["2026-11-02", "2026-11-02T08:00:00Z", "Europe/Berlin", "08:30", "p1", ""]),
)
junk = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
PLACES = [
    "format",
    "user",
    "user__first_date",
    "user__time_zone",
    "user__time_zone_confirmed",
    "user__reminder_time",
    "completions",
    "completions__0",
    "completions__0__day",
    "completions__0__practice_id",
    "completions__0__done_at",
    "reflections",
    "reflections__0",
    "reflections__0__day",
    "reflections__0__text",
    "reflections__0__created_at",
    "reflections__0__updated_at",
]


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("restore-fuzz"))
    client = app.test_client()
    start(app, client)
    practise(app, client, FIRST, text="kept safe")
    app.extensions["fuzz_client"] = client
    return app


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    places=st.lists(st.sampled_from(PLACES), min_size=1, max_size=3, unique=True), data=st.data()
)
def test_generated_files_never_break_the_restore(fuzzed_app, places, data):
    client = fuzzed_app.extensions["fuzz_client"]
    uid = user_id_of(fuzzed_app, client)
    body = changed(**{place: data.draw(junk) for place in sorted(places, key=len)})
    before = rows(fuzzed_app, uid)
    shown = preview(client, body)
    assert shown.status_code in (200, 422), shown.status_code
    if shown.status_code == 422:
        assert rows(fuzzed_app, uid) == before
    response = confirm(client, body.decode())
    assert response.status_code in (200, 422), response.status_code
    if response.status_code == 422:
        assert rows(fuzzed_app, uid) == before
    else:  # whatever a file could restore, the pages still show it
        for page in ("/", "/progress", "/settings", "/settings/export"):
            assert client.get(page).status_code == 200, page

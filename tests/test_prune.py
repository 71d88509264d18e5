"""Pruning the bookkeeping (bookkeeping.py): keys and reminder records of many ages, on SQLite
and PostgreSQL; the prune keeps exactly what the rules still read, and the rules still hold
after it (a replay inside the window is a no-op, a day is never reminded twice, the back-off
keeps its rhythm). What a person wrote is never pruned."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

import bookkeeping
from bookkeeping import KEY_DAYS, REMINDER_DAYS, prune
from models import AppliedWrite, Completion, Reflection, ReminderSent, User, db
from reminders import claim
from reminders.schedule import MAX_PAUSE_DAYS
from tests.conftest import FIXED_NOW, HTMX, app_on
from tests.reminders_support import counts, dispatch, payloads, push_app, subscribe, utc

NOW = datetime(2026, 12, 7, 3, 0)  # naive UTC, as stored
TODAY = NOW.date()


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, tmp_path):
    with app_on(request.param, tmp_path, push_app) as app:
        yield app


def new_user(first_date: date = date(2025, 1, 1)) -> str:
    user = User(time_zone="UTC", first_date=first_date)
    db.session.add(user)
    db.session.flush()
    return user.id


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_windows_and_why():
    assert KEY_DAYS == 60  # twenty times the outbox's three-day give-up: two months offline
    # The rules look back at most a pause, the back-off's rhythm and a day of time zones.
    assert bookkeeping.REMINDER_LOOKBACK_DAYS == MAX_PAUSE_DAYS + 2 + 1 == 33
    assert REMINDER_DAYS == 40


# -- idempotency keys -------------------------------------------------------------------------


def test_keys_are_kept_for_the_window_and_no_longer(app):
    ages = {
        "now": timedelta(0),
        "a day": timedelta(days=1),
        "just inside": timedelta(days=KEY_DAYS, seconds=-1),
        "at the edge": timedelta(days=KEY_DAYS),
        "just past": timedelta(days=KEY_DAYS, seconds=1),
        "61 days": timedelta(days=61),
        "a year": timedelta(days=365),
        "three years": timedelta(days=3 * 365),
    }
    with app.app_context():
        uid = new_user()
        keys = {name: str(uuid.uuid4()) for name in ages}
        db.session.add_all(
            AppliedWrite(key=keys[name], user_id=uid, kind="done", applied_at=NOW - age)
            for name, age in ages.items()
        )
        db.session.commit()

        report = prune(NOW, batch_size=2)  # 4 to go: two full batches and an empty one

        assert report.applied_writes == 4
        kept = set(db.session.scalars(select(AppliedWrite.key)))
        assert kept == {keys[n] for n in ("now", "a day", "just inside", "at the edge")}
        assert prune(NOW).applied_writes == 0  # a second prune finds nothing


def test_a_replay_inside_the_window_is_still_a_no_op(app):
    client = app.test_client()
    client.get("/")  # a visitor first
    day = FIXED_NOW.date().isoformat()
    done, undo = str(uuid.uuid4()), str(uuid.uuid4())
    assert client.post(f"/day/{day}/done", data={"key": done}, headers=HTMX).status_code == 200
    assert client.post(f"/day/{day}/undo", data={"key": undo}, headers=HTMX).status_code == 200
    applied = FIXED_NOW.replace(tzinfo=None)
    with app.app_context():
        for write in db.session.scalars(select(AppliedWrite)):
            write.applied_at = applied  # the request stamped the real clock
        db.session.commit()
        # 59 days on, a phone that never got the answer replays its Done.
        assert prune(applied + timedelta(days=KEY_DAYS - 1)).applied_writes == 0

    assert client.post(f"/day/{day}/done", data={"key": done}, headers=HTMX).status_code == 200

    with app.app_context():
        assert count(Completion) == 0  # the replay was recognised: Undo still stands
        assert count(AppliedWrite) == 2


# -- reminder records -------------------------------------------------------------------------


def _remind(uid: str, *ages: int) -> None:
    db.session.add_all(
        ReminderSent(user_id=uid, day=TODAY - timedelta(days=age), sent_at=NOW) for age in ages
    )


def _what_the_rules_read(uids: list[str]):
    loaded = claim.load(db.session, [(uid, TODAY) for uid in uids])
    return loaded.last_reminder, loaded.last_practice, loaded.done_today


def test_the_prune_keeps_exactly_what_the_rules_read(app):
    with app.app_context():
        daily, long_gone, paused, never = new_user(), new_user(), new_user(), new_user()
        _remind(daily, 0, 1, 2, 39, 40, 41, 100, 400)
        _remind(long_gone, 400)  # their latest, however old: "never twice" reads it
        _remind(paused, 200, MAX_PAUSE_DAYS + 3)
        old = TODAY - timedelta(days=500)
        db.session.add(Completion(user_id=daily, day=old, practice_id="p1", done_at=NOW))
        db.session.add(Reflection(user_id=daily, day=old, practice_id="p1", text="kept forever"))
        db.session.add(
            AppliedWrite(key=str(uuid.uuid4()), user_id=daily, kind="done", applied_at=NOW)
        )
        db.session.commit()
        uids = [daily, long_gone, paused, never]
        before = _what_the_rules_read(uids)

        report = prune(NOW, batch_size=2)

        assert report.reminders_sent == 4  # 41, 100 and 400 days of `daily`; 200 of `paused`
        assert _what_the_rules_read(uids) == before
        kept = {
            (r.user_id, (TODAY - r.day).days)
            for r in db.session.scalars(select(ReminderSent).order_by(ReminderSent.id))
        }
        assert kept == {
            *((daily, age) for age in (0, 1, 2, 39, 40)),
            (long_gone, 400),
            (paused, MAX_PAUSE_DAYS + 3),
        }
        # What a person wrote is never pruned, however old.
        assert (count(Completion), count(Reflection)) == (1, 1)
        assert db.session.scalar(select(Reflection.text)) == "kept forever"
        assert prune(NOW).reminders_sent == 0


def test_one_day_is_still_never_reminded_twice_after_a_prune(app, service):
    client = app.test_client()
    client.get("/")
    subscriber = service.new_subscriber()
    assert subscribe(client, subscriber).status_code == 201  # 08:30 UTC from the 27th
    dispatch(app, utc(2026, 11, 27, 8, 31))
    with app.app_context():
        uid = db.session.scalars(select(User.id)).one()
        _remind_on(uid, *(date(2026, 9, 1) + timedelta(days=n) for n in range(30)))
        # The most eager prune there is: nothing kept but each user's latest record.
        assert prune(datetime(2026, 11, 27, 8, 32), reminder_days=0).reminders_sent == 30
        assert db.session.scalars(select(ReminderSent.day)).all() == [date(2026, 11, 27)]
        # A second dispatcher with an out-of-date row tries the 27th again.
        user = db.session.get(User, uid)
        user.next_reminder_at = datetime(2026, 11, 27, 8, 30)
        user.next_reminder_day = date(2026, 11, 27)
        db.session.commit()

    output = dispatch(app, utc(2026, 11, 27, 8, 40))

    assert counts(output)["skipped_stale"] == 1 and counts(output)["sent"] == 0
    assert [p["day"] for p in payloads(subscriber)] == ["2026-11-27"]


def _remind_on(uid: str, *days: date) -> None:
    db.session.add_all(ReminderSent(user_id=uid, day=d, sent_at=NOW) for d in days)
    db.session.commit()


def test_the_back_off_keeps_its_rhythm_with_a_prune_after_every_pass(app, service):
    client = app.test_client()
    client.get("/")
    subscriber = service.new_subscriber()
    assert subscribe(client, subscriber).status_code == 201
    days = [date(2026, 11, 27) + timedelta(days=n) for n in range(8)]
    for day in days:  # nobody practises: three reminders, then every other day
        moment = datetime(day.year, day.month, day.day, 8, 31, tzinfo=UTC)
        dispatch(app, moment)
        with app.app_context():
            prune(moment, reminder_days=0)
            assert db.session.scalar(select(func.count()).select_from(ReminderSent)) == 1
    sent = [p["day"] for p in payloads(subscriber)]
    assert sent == ["2026-11-27", "2026-11-28", "2026-11-29", "2026-12-01", "2026-12-03"]


# -- the command and the worker ---------------------------------------------------------------


def test_flask_maintenance_prune_reports_its_counts(app):
    with app.app_context():
        uid = new_user()
        db.session.add(
            AppliedWrite(key=str(uuid.uuid4()), user_id=uid, kind="done", applied_at=NOW)
        )
        _remind(uid, 0, 50)
        db.session.commit()
    runner = app.test_cli_runner()
    later = (NOW + timedelta(days=KEY_DAYS + 1)).isoformat() + "Z"

    result = runner.invoke(args=["maintenance", "prune", "--now", later, "--batch-size", "1"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("pruned applied_writes=1 reminders_sent=1 seconds=")
    bad = runner.invoke(args=["maintenance", "prune", "--now", "yesterday"])
    assert bad.exit_code == 2 and "ISO-8601" in bad.output


def test_the_worker_prunes_at_start_and_not_on_every_pass(tmp_path):
    with app_on("sqlite", tmp_path, push_app) as app:
        with app.app_context():
            uid = new_user()
            old = datetime(2026, 1, 1)  # long before the fixed clock, 2026-11-26
            db.session.add(
                AppliedWrite(key=str(uuid.uuid4()), user_id=uid, kind="done", applied_at=old)
            )
            db.session.commit()
        runner = app.test_cli_runner()
        worker = ["reminders", "worker", "--interval", "0", "--passes", "3"]

        result = runner.invoke(args=worker)

        assert result.exit_code == 0, result.output
        assert result.output.count("pruned applied_writes=1 reminders_sent=0") == 1
        assert "pruned" not in runner.invoke(args=[*worker, "--prune-every", "0"]).output
        with app.app_context():
            assert count(AppliedWrite) == 0

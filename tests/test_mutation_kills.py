"""Tests that kill the mutants `make mutation` found surviving in reminders/schedule.py and
content/calendar.py: each pins a behaviour the other tests left open.

Every test here runs with the process's own zone set far from UTC (Kiritimati, UTC+14), so
code that slipped into the machine's local time (`astimezone()` with no zone, a naive instant
read as local) gives a different answer instead of passing by luck on a UTC server.
"""

from __future__ import annotations

import time as process_time
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from content.calendar import (
    days_between,
    is_valid_zone,
    now_utc,
    parse_day,
    zone,
    zone_choices,
    zone_label,
)
from models import PushSubscription, ReminderSent, User, db
from reminders.schedule import last_reminder_day, local_instant, next_slot, reschedule

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture(autouse=True)
def machine_zone_far_from_utc(monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    process_time.tzset()
    yield
    monkeypatch.undo()
    process_time.tzset()


# -- content/calendar.py ---------------------------------------------------------------------


def test_parse_day_takes_only_strict_iso_dates():
    assert parse_day("2026-02-28") == date(2026, 2, 28)
    # 10 characters with a dash at [4] only: an ISO week date, which fromisoformat accepts.
    for text in ("2026-W09-6", "2026-02-30", "2026/02/28", "2026-2-28", "20260228", "", None, 7):
        assert parse_day(text) is None, text


def test_days_between_counts_both_ends():
    assert days_between(date(2026, 3, 7), date(2026, 3, 9)) == [
        date(2026, 3, 7),
        date(2026, 3, 8),
        date(2026, 3, 9),
    ]
    assert days_between(date(2026, 3, 7), date(2026, 3, 7)) == [date(2026, 3, 7)]
    assert days_between(date(2026, 3, 7), date(2026, 3, 6)) == []


def test_now_utc_outside_an_app_is_the_aware_utc_clock():
    before = datetime.now(UTC)
    now = now_utc()
    assert now.tzinfo is UTC
    assert before <= now <= datetime.now(UTC)


def test_now_utc_in_an_app_is_its_pinned_instant_or_clock():
    app = Flask("pinned")
    pinned = datetime(2026, 3, 8, 6, 59, tzinfo=UTC)
    app.config["NOW_UTC"] = pinned
    with app.app_context():
        assert now_utc() == pinned
    app.config["NOW_UTC"] = lambda: pinned + timedelta(minutes=1)
    with app.app_context():
        assert now_utc() == pinned + timedelta(minutes=1)


def test_an_unknown_zone_falls_back_to_utc():
    assert zone("Asia/Tokyo") == TOKYO
    assert zone("Mars/Olympus_Mons") == ZoneInfo("UTC")
    assert is_valid_zone("Asia/Tokyo") and not is_valid_zone("Mars/Olympus_Mons")


def test_zone_labels_name_city_and_country():
    assert zone_label("Europe/Berlin") == "Berlin, Germany"
    assert zone_label("America/New_York") == "New York, United States"
    assert zone_label("Mars/Olympus_Mons") == "Mars/Olympus_Mons"


def test_zone_choices_read_from_tzdata_are_complete_and_clean():
    zone_choices.cache_clear()  # read the tz database's tables again, in this test
    choices = dict(zone_choices())
    europe = dict(choices["Europe"])
    assert europe["Europe/Berlin"] == "Berlin, Germany"
    americas = dict(choices["Americas"])
    assert americas["America/New_York"] == "New York, United States"
    assert americas["America/Indiana/Knox"] == "Knox (Indiana), United States"
    # zone.tab rows with no comment column (3 fields) are listed too.
    assert dict(choices["Asia"])["Asia/Tokyo"] == "Tokyo, Japan"
    names = [name for places in choices.values() for name, _ in places]
    assert len(names) > 300
    for name in names:  # no header or comment line of the tables became a "zone"
        assert not name.startswith("#")
        ZoneInfo(name)


# -- reminders/schedule.py: instants ---------------------------------------------------------


def test_local_instant_ignores_seconds_and_the_times_own_zone():
    day = date(2026, 6, 1)
    expected = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)  # 08:30 in Tokyo
    assert local_instant(day, time(8, 30), TOKYO) == expected
    assert local_instant(day, time(8, 30, 45, 123456), TOKYO) == expected
    assert local_instant(day, time(8, 30, tzinfo=NEW_YORK), TOKYO) == expected
    in_the_gap = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 02:30 in New York: 03:00 EDT
    assert local_instant(date(2026, 3, 8), time(2, 30, tzinfo=TOKYO), NEW_YORK) == in_the_gap


def test_local_instant_is_in_utc_itself():
    assert local_instant(date(2026, 6, 1), time(8, 30), TOKYO).tzinfo is UTC
    assert local_instant(date(2026, 3, 8), time(2, 30), NEW_YORK).tzinfo is UTC  # in the gap


def test_a_time_that_exists_twice_is_its_first_occurrence_even_if_asked_for_the_second():
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert local_instant(date(2026, 11, 1), time(1, 30), NEW_YORK) == first
    assert local_instant(date(2026, 11, 1), time(1, 30, fold=1), NEW_YORK) == first


def first_minute_at_or_after(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The slow, obvious answer: walk UTC minutes until the local wall clock reaches `at`."""
    wall = datetime.combine(day, at)
    moment = datetime.combine(day, time(0, 0), tzinfo=UTC) - timedelta(hours=15)
    while moment.astimezone(tz).replace(tzinfo=None) < wall:
        moment += timedelta(minutes=1)
    return moment


@pytest.mark.parametrize(
    ("zone_name", "day", "start"),
    [
        ("America/New_York", date(2026, 3, 8), time(1, 50)),  # 02:00 -> 03:00
        ("Europe/Berlin", date(2026, 3, 29), time(1, 50)),  # 02:00 -> 03:00
        ("Australia/Lord_Howe", date(2026, 10, 4), time(1, 50)),  # 02:00 -> 02:30
        ("America/Santiago", date(2026, 9, 6), time(0, 0)),  # 00:00 -> 01:00
    ],
)
def test_every_minute_around_a_gap_fires_at_the_first_minute_that_exists(zone_name, day, start):
    tz = ZoneInfo(zone_name)
    wall = datetime.combine(day, start)
    for minutes in range(0, 80):
        at = (wall + timedelta(minutes=minutes)).time()
        expected = first_minute_at_or_after(day, at, tz)
        found = local_instant(day, at, tz)
        assert (found, found.tzinfo) == (expected, UTC), f"{zone_name} {day} {at}"


# -- reminders/schedule.py: the next slot -------------------------------------------------------


def test_next_slot_reads_aware_instants_in_their_own_zone():
    after = datetime(2026, 3, 10, 9, 0, tzinfo=TOKYO)  # 00:00 UTC
    slot = next_slot(time(8, 30), "UTC", after)
    assert (slot.day, slot.at) == (date(2026, 3, 10), datetime(2026, 3, 10, 8, 30))


def test_next_slot_reads_naive_instants_as_utc_and_answers_in_naive_utc():
    slot = next_slot(time(8, 30), "UTC", datetime(2026, 3, 10, 0, 0))
    assert (slot.day, slot.at) == (date(2026, 3, 10), datetime(2026, 3, 10, 8, 30))
    tokyo = next_slot(time(8, 30), "Asia/Tokyo", datetime(2026, 3, 10, 0, 0))
    assert (tokyo.day, tokyo.at) == (date(2026, 3, 11), datetime(2026, 3, 10, 23, 30))


def test_next_slot_counts_days_in_the_users_zone_not_the_machines():
    # 11:00 UTC is already the 11th in Kiritimati; the user's day in UTC is still the 10th.
    slot = next_slot(time(20, 0), "UTC", datetime(2026, 3, 10, 11, 0, tzinfo=UTC))
    assert (slot.day, slot.at) == (date(2026, 3, 10), datetime(2026, 3, 10, 20, 0))


# -- reminders/schedule.py: rescheduling a user ----------------------------------------------------


def add_user(zone_name="Asia/Tokyo", at=time(8, 30), devices=1, **fields) -> User:
    user = User(first_date=date(2026, 3, 1), time_zone=zone_name, reminder_time=at, **fields)
    db.session.add(user)
    db.session.flush()
    for n in range(devices):
        db.session.add(
            PushSubscription(
                user_id=user.id,
                endpoint=f"https://push.example/{user.id}/{n}",
                p256dh="k",
                auth="a",
            )
        )
    db.session.commit()
    return user


# 2026-03-09 22:00 UTC is 07:00 on the 10th in Tokyo: that morning's 08:30 is still ahead.
NOW = datetime(2026, 3, 9, 22, 0, tzinfo=UTC)


def test_reschedule_sets_the_next_local_reminder(app):
    with app.app_context():
        user = add_user()
        reschedule(user, NOW)
        assert user.next_reminder_day == date(2026, 3, 10)
        assert user.next_reminder_at == datetime(2026, 3, 9, 23, 30)


def test_reschedule_without_a_time_or_without_a_device_of_ones_own_clears_it(app):
    with app.app_context():
        add_user(devices=2)  # someone else's devices do not count
        for user in (add_user(devices=0), add_user(at=None)):
            user.next_reminder_at, user.next_reminder_day = datetime(2026, 3, 1), date(2026, 3, 1)
            reschedule(user, NOW)
            assert (user.next_reminder_at, user.next_reminder_day) == (None, None)


def test_reschedule_waits_for_the_end_of_a_pause(app):
    with app.app_context():
        user = add_user(reminder_paused_until=date(2026, 3, 20))
        reschedule(user, NOW)
        assert user.next_reminder_day == date(2026, 3, 20)
        assert user.next_reminder_at == datetime(2026, 3, 19, 23, 30)


def test_reschedule_never_repeats_a_day_already_reminded(app):
    with app.app_context():
        user, other = add_user(), add_user()
        db.session.add_all(
            [
                ReminderSent(user_id=user.id, day=date(2026, 3, 8)),
                ReminderSent(user_id=user.id, day=date(2026, 3, 10)),
                ReminderSent(user_id=other.id, day=date(2026, 3, 12)),
            ]
        )
        db.session.commit()
        assert last_reminder_day(user.id) == date(2026, 3, 10)
        assert last_reminder_day(add_user().id) is None
        reschedule(user, NOW)
        assert user.next_reminder_day == date(2026, 3, 11)
        assert user.next_reminder_at == datetime(2026, 3, 10, 23, 30)

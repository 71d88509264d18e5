"""The reminder clock: local wall time in an IANA zone, DST gaps and overlaps, pause, back-off;
and `reschedule`, which applies it to a user on a real (SQLite) database."""

from __future__ import annotations

import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from models import PushSubscription, ReminderSent, User, db
from reminders.schedule import (
    DEFAULT_TIME,
    MAX_PAUSE_DAYS,
    day_to_remind,
    end_of_day,
    last_reminder_day,
    local_instant,
    next_slot,
    reschedule,
)
from tests.reminders_support import local, push_app, utc

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"


@pytest.fixture(autouse=True)
def server_in_another_zone(monkeypatch):
    """Nothing here may depend on the server's own zone: these tests run it in Santiago."""
    monkeypatch.setenv("TZ", "America/Santiago")
    time_module.tzset()
    yield
    monkeypatch.undo()
    time_module.tzset()


def naive(moment):
    return moment.replace(tzinfo=None)


def fire_times(at: time, zone: str, start, days: int):
    """The instants a daily reminder fires on, one day after another, as the dispatcher does."""
    moments, after, last = [], start, None
    for _ in range(days):
        slot = next_slot(at, zone, after, last_day=last)
        moments.append(slot)
        after, last = slot.at, slot.day
    return moments


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK])
def test_0830_stays_0830_local_across_both_dst_changes(zone):
    # Berlin: CEST→CET on 2026-10-25, CET→CEST on 2027-03-28. New York: 2026-11-01, 2027-03-14.
    tz = ZoneInfo(zone)
    for start, odd_gap in ((utc(2026, 10, 20), 25), (utc(2027, 3, 10), 23)):
        slots = fire_times(time(8, 30), zone, start, 20)
        for slot in slots:
            wall = slot.at.replace(tzinfo=UTC).astimezone(tz)
            assert (wall.date(), wall.hour, wall.minute) == (slot.day, 8, 30), slot
        days = [s.day for s in slots]
        assert days == [days[0] + timedelta(days=i) for i in range(20)]  # none skipped or doubled
        gaps = [b.at - a.at for a, b in zip(slots, slots[1:], strict=False)]
        # exactly one day of the twenty is 25 (autumn) or 23 (spring) hours long
        assert sorted(set(gaps)) == sorted({timedelta(hours=24), timedelta(hours=odd_gap)})
        assert gaps.count(timedelta(hours=odd_gap)) == 1


def test_berlin_autumn_change_in_utc():
    before = next_slot(time(8, 30), BERLIN, utc(2026, 10, 24, 0, 0))
    after = next_slot(time(8, 30), BERLIN, utc(2026, 10, 25, 0, 0))
    assert (before.day, before.at) == (date(2026, 10, 24), naive(utc(2026, 10, 24, 6, 30)))
    assert (after.day, after.at) == (date(2026, 10, 25), naive(utc(2026, 10, 25, 7, 30)))


def test_0230_on_spring_forward_day_fires_at_the_end_of_the_gap():
    # New York 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist.
    slot = next_slot(time(2, 30), NEW_YORK, utc(2026, 3, 8, 0, 0))
    assert slot.day == date(2026, 3, 8)
    assert slot.at == naive(utc(2026, 3, 8, 7, 0))  # 03:00 EDT, the first minute that exists
    # and the next day is back to 02:30 local
    nxt = next_slot(time(2, 30), NEW_YORK, slot.at, last_day=slot.day)
    assert nxt.at == naive(local(NEW_YORK, 2026, 3, 9, 2, 30)) == naive(utc(2026, 3, 9, 6, 30))


def test_berlin_gap_and_a_half_hour_gap():
    # Berlin 2027-03-28: 02:00 CET → 03:00 CEST.
    assert local_instant(date(2027, 3, 28), time(2, 30), ZoneInfo(BERLIN)) == utc(2027, 3, 28, 1)
    slot = next_slot(time(2, 30), BERLIN, utc(2027, 3, 27, 12, 0))
    assert slot.day == date(2027, 3, 28) and slot.at == naive(utc(2027, 3, 28, 1, 0))
    # Lord Howe Island moves by 30 minutes (02:00 → 02:30 on 2026-10-04).
    slot = next_slot(time(2, 15), "Australia/Lord_Howe", utc(2026, 10, 3, 0, 0))
    assert slot.day == date(2026, 10, 4) and slot.at == naive(utc(2026, 10, 3, 15, 30))


def test_an_ambiguous_time_fires_once_at_its_first_occurrence():
    # New York 2026-11-01: 01:00-02:00 happens twice (EDT, then EST).
    slot = next_slot(time(1, 30), NEW_YORK, utc(2026, 11, 1, 0, 0))
    assert slot.at == naive(utc(2026, 11, 1, 5, 30))  # 01:30 EDT, the first
    # Once handled, the second 01:30 (06:30 UTC) is not another reminder: next is tomorrow.
    again = next_slot(time(1, 30), NEW_YORK, slot.at, last_day=slot.day)
    assert again.day == date(2026, 11, 2) and again.at == naive(utc(2026, 11, 2, 6, 30))
    # Even a pass that runs between the two occurrences never picks the second.
    between = next_slot(time(1, 30), NEW_YORK, utc(2026, 11, 1, 6, 0))
    assert between.day == date(2026, 11, 2)


def test_end_of_day_is_local_midnight_even_on_a_23_hour_day():
    tz = ZoneInfo(NEW_YORK)
    assert end_of_day(date(2026, 3, 8), tz) == utc(2026, 3, 9, 4, 0)
    assert end_of_day(date(2026, 3, 7), tz) == utc(2026, 3, 8, 5, 0)


def test_a_time_still_ahead_today_fires_today_else_tomorrow():
    assert next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 7, 0)).day == date(2026, 11, 26)
    assert next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 8, 30)).day == date(2026, 11, 27)


def test_zone_decides_the_instant():
    after = utc(2026, 11, 26, 12, 0)
    tokyo = next_slot(time(8, 30), "Asia/Tokyo", after)
    la = next_slot(time(8, 30), "America/Los_Angeles", after)
    assert tokyo.at == naive(utc(2026, 11, 26, 23, 30)) and tokyo.day == date(2026, 11, 27)
    assert la.at == naive(utc(2026, 11, 26, 16, 30)) and la.day == date(2026, 11, 26)


def test_pause_skips_days_until_the_resume_date():
    slot = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 12), paused_until=date(2026, 11, 30))
    assert slot.day == date(2026, 11, 30) and slot.at == naive(utc(2026, 11, 30, 8, 30))
    past_pause = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 6), paused_until=date(2026, 11, 1))
    assert past_pause.day == date(2026, 11, 26)


def test_every_other_day_leaves_one_quiet_day():
    slot = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 9), every=2, last_day=date(2026, 11, 26))
    assert slot.day == date(2026, 11, 28)
    daily = next_slot(
        time(8, 30), "UTC", utc(2026, 11, 26, 9), every=1, last_day=date(2026, 11, 26)
    )
    assert daily.day == date(2026, 11, 27)


# -- the edges of each rule (tests/test_reminder_policy.py does the same for policy.py) ------


def test_the_promised_defaults():
    # The panel offers 08:30 and pauses of up to 30 days; the schedule is what keeps them.
    assert (time(8, 30), 30) == (DEFAULT_TIME, MAX_PAUSE_DAYS)


def test_a_time_with_seconds_fires_on_its_minute():
    tz = ZoneInfo(BERLIN)
    at = time(8, 30, 45, 500)
    assert local_instant(date(2026, 11, 26), at, tz) == utc(2026, 11, 26, 7, 30)


def test_a_reminder_time_is_a_wall_time_whatever_zone_it_carries():
    tz = ZoneInfo(BERLIN)
    at = time(8, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert local_instant(date(2026, 11, 26), at, tz) == utc(2026, 11, 26, 7, 30)


def test_a_naive_after_is_utc_and_the_answer_is_naive_utc():
    aware = next_slot(time(8, 30), BERLIN, utc(2026, 11, 26, 7, 29))
    naive_after = next_slot(time(8, 30), BERLIN, datetime(2026, 11, 26, 7, 29))
    assert aware == naive_after
    assert aware.at == datetime(2026, 11, 26, 7, 30) and aware.at.tzinfo is None
    # An aware `after` in another zone is the same instant.
    tokyo = utc(2026, 11, 26, 7, 29).astimezone(ZoneInfo("Asia/Tokyo"))
    assert next_slot(time(8, 30), BERLIN, tokyo) == aware


def test_one_minute_before_and_at_the_instant():
    before = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 8, 29, 59))
    assert before.day == date(2026, 11, 26)
    at = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 8, 30))
    assert (at.day, at.at) == (date(2026, 11, 27), datetime(2026, 11, 27, 8, 30))


def test_the_pause_ends_on_its_date():
    resumes = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 6), paused_until=date(2026, 11, 26))
    assert resumes.day == date(2026, 11, 26)
    tomorrow = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 6), paused_until=date(2026, 11, 27))
    assert tomorrow.day == date(2026, 11, 27)


def test_a_pause_and_a_last_day_take_the_later():
    slot = next_slot(
        time(8, 30),
        "UTC",
        utc(2026, 11, 26, 6),
        paused_until=date(2026, 11, 28),
        last_day=date(2026, 11, 29),
    )
    assert slot.day == date(2026, 11, 30)


def test_a_last_day_in_the_past_does_not_hold_today_back():
    slot = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 6), last_day=date(2026, 11, 20))
    assert slot.day == date(2026, 11, 26)


@pytest.mark.parametrize(("every", "gap"), [(0, 1), (1, 1), (2, 2), (3, 3)])
def test_every_is_at_least_daily(every, gap):
    last = date(2026, 11, 26)
    slot = next_slot(time(8, 30), "UTC", utc(2026, 11, 26, 6), every=every, last_day=last)
    assert slot.day == last + timedelta(days=gap)


# -- day_to_remind: a stale row's reminder is late rather than lost ----------------------

DEC7, DEC8 = date(2026, 12, 7), date(2026, 12, 8)


def remind_day(row_day, now, at=time(8, 30), zone=BERLIN, **kw):
    return day_to_remind(row_day, at, zone, now, **kw)


def test_the_seen_case_a_stale_row_is_sent_for_today():
    # The issue: a row for 2026-12-07 08:30 Berlin, a pass at 2026-12-08 09:00 Berlin.
    assert remind_day(DEC7, local(BERLIN, 2026, 12, 8, 9, 0)) == DEC8


def test_a_row_whose_day_is_not_over_keeps_its_day():
    assert remind_day(DEC7, local(BERLIN, 2026, 12, 7, 8, 31)) == DEC7
    # a retry late in the day is still for that day, a minute before midnight
    assert remind_day(DEC7, local(BERLIN, 2026, 12, 7, 23, 59)) == DEC7


def test_the_row_is_stale_from_local_midnight_exactly():
    at_midnight = local(BERLIN, 2026, 12, 8, 0, 0)
    # at midnight the 7th is over; today's 00:00 reminder is due at that instant
    assert remind_day(DEC7, at_midnight, at=time(0, 0)) == DEC8
    assert remind_day(DEC7, at_midnight - timedelta(minutes=1), at=time(0, 0)) == DEC7


def test_a_stale_row_keeps_its_day_while_todays_time_is_ahead():
    # Then it is skipped as stale and next_slot finds today's 08:30, still to come.
    assert remind_day(DEC7, local(BERLIN, 2026, 12, 8, 8, 29)) == DEC7
    assert remind_day(DEC7, local(BERLIN, 2026, 12, 8, 8, 30)) == DEC8


def test_a_row_stale_by_many_days_is_sent_for_today_only():
    assert remind_day(date(2026, 11, 20), local(BERLIN, 2026, 12, 8, 22, 0)) == DEC8


def test_today_is_the_users_local_today_not_utcs():
    # 23:30 UTC on the 8th is already 08:30 on the 9th in Tokyo
    assert remind_day(DEC8, utc(2026, 12, 8, 23, 30), zone="Asia/Tokyo") == date(2026, 12, 9)
    # and 20:00 on the 8th in New York, where the 8th is not over: kept
    assert remind_day(DEC8, utc(2026, 12, 9, 1, 0), zone=NEW_YORK) == DEC8


def test_a_paused_today_is_not_sent_late():
    now = local(BERLIN, 2026, 12, 8, 9, 0)
    assert remind_day(DEC7, now, paused_until=date(2026, 12, 9)) == DEC7
    assert remind_day(DEC7, now, paused_until=DEC8) == DEC8  # the pause ends today


def test_no_reminder_time_keeps_the_row_day():
    assert remind_day(DEC7, local(BERLIN, 2026, 12, 8, 9, 0), at=None) == DEC7


def test_a_stale_row_on_a_spring_forward_day_uses_the_end_of_the_gap():
    # 02:30 does not exist in New York on 2026-03-08: it fires at 03:00 local
    row = date(2026, 3, 7)
    assert remind_day(row, local(NEW_YORK, 2026, 3, 8, 3, 1), at=time(2, 30), zone=NEW_YORK) == (
        date(2026, 3, 8)
    )
    assert remind_day(row, local(NEW_YORK, 2026, 3, 8, 1, 59), at=time(2, 30), zone=NEW_YORK) == row


def test_a_naive_now_is_utc():
    assert remind_day(DEC7, datetime(2026, 12, 8, 8, 0)) == DEC8  # 09:00 in Berlin


def test_end_of_day_in_utc_and_east_of_it():
    assert end_of_day(date(2026, 11, 26), ZoneInfo("UTC")) == utc(2026, 11, 27)
    assert end_of_day(date(2026, 11, 26), ZoneInfo("Asia/Tokyo")) == utc(2026, 11, 26, 15)


def test_instants_come_back_in_utc_not_the_servers_zone():
    tz = ZoneInfo(NEW_YORK)
    ordinary = local_instant(date(2026, 11, 26), time(8, 30), tz)
    in_a_gap = local_instant(date(2026, 3, 8), time(2, 30), tz)
    midnight = end_of_day(date(2026, 11, 26), tz)
    for instant in (ordinary, in_a_gap, midnight):
        assert instant.tzinfo is UTC, instant


def test_a_gap_of_an_hour_fires_at_its_end_for_every_minute_in_it():
    tz = ZoneInfo(NEW_YORK)
    for minute in (0, 1, 29, 59):
        instant = local_instant(date(2026, 3, 8), time(2, minute), tz)
        assert instant == utc(2026, 3, 8, 7, 0), minute
    assert local_instant(date(2026, 3, 8), time(3, 0), tz) == utc(2026, 3, 8, 7, 0)
    assert local_instant(date(2026, 3, 8), time(3, 1), tz) == utc(2026, 3, 8, 7, 1)
    assert local_instant(date(2026, 3, 8), time(1, 59), tz) == utc(2026, 3, 8, 6, 59)


# -- reschedule, on a real database ----------------------------------------------------------


@pytest.fixture
def sched_app(tmp_path):
    app = push_app(tmp_path)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def a_user(reminder_time=time(8, 30), devices=1, **fields) -> User:
    person = User(time_zone="UTC", first_date=date(2026, 11, 26), reminder_time=reminder_time)
    for name, value in fields.items():
        setattr(person, name, value)
    db.session.add(person)
    db.session.flush()
    for n in range(devices):
        db.session.add(
            PushSubscription(
                user_id=person.id,
                endpoint=f"https://push.example/{person.id}/{n}",
                p256dh="p",
                auth="a",
            )
        )
    db.session.flush()
    return person


NOW = utc(2026, 11, 26, 12)


def test_reschedule_sets_the_next_reminder(sched_app):
    person = a_user()
    reschedule(person, NOW)
    assert (person.next_reminder_at, person.next_reminder_day) == (
        datetime(2026, 11, 27, 8, 30),
        date(2026, 11, 27),
    )
    # In the user's own zone: 08:30 in Tokyo is 23:30 UTC the day before.
    tokyo = a_user(time_zone="Asia/Tokyo")
    reschedule(tokyo, NOW)
    assert (tokyo.next_reminder_at, tokyo.next_reminder_day) == (
        datetime(2026, 11, 26, 23, 30),
        date(2026, 11, 27),
    )


@pytest.mark.parametrize("what", ["no time", "no device"])
def test_reschedule_without_a_time_or_a_device_clears_it(sched_app, what):
    person = a_user(reminder_time=None) if what == "no time" else a_user(devices=0)
    person.next_reminder_at, person.next_reminder_day = datetime(2026, 11, 27), date(2026, 11, 27)
    reschedule(person, NOW)
    assert (person.next_reminder_at, person.next_reminder_day) == (None, None)


def test_reschedule_never_repeats_a_day_already_reminded(sched_app):
    person = a_user(reminder_time=time(20, 0))
    db.session.add(ReminderSent(user_id=person.id, day=date(2026, 11, 26), sent_at=NOW))
    db.session.add(ReminderSent(user_id=person.id, day=date(2026, 11, 25), sent_at=NOW))
    db.session.flush()
    assert last_reminder_day(person.id) == date(2026, 11, 26)
    reschedule(person, NOW)
    assert person.next_reminder_day == date(2026, 11, 27)  # not tonight at 20:00


def test_reschedule_honours_the_pause_and_stays_daily_under_the_back_off(sched_app):
    person = a_user(reminder_paused_until=date(2026, 11, 30), reminder_every=2)
    reschedule(person, NOW)
    assert person.next_reminder_at == datetime(2026, 11, 30, 8, 30)
    other = a_user(reminder_every=2)
    db.session.add(ReminderSent(user_id=other.id, day=date(2026, 11, 25), sent_at=NOW))
    db.session.flush()
    reschedule(other, NOW)
    # The dispatcher decides the quiet days; the schedule stays daily.
    assert other.next_reminder_day == date(2026, 11, 27)


def test_last_reminder_day_of_someone_never_reminded(sched_app):
    assert last_reminder_day(a_user().id) is None

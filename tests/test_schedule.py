"""The schedule: one strategy a day in order, no repeat within 42 days, and local days that
zone changes, DST and the date line cannot skip or repeat."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from content.calendar import is_valid_zone, local_today, parse_day
from content.library import day_number, load_library
from models import User, db
from tests.conftest import HTMX

LIBRARY = load_library()


def test_six_consecutive_days_give_the_six_strategies_in_order():
    for start in (1, 7, 13, 40):
        keys = [LIBRARY.for_day(n)[0].key for n in range(start, start + 6)]
        assert sorted(keys) == sorted(s.key for s in LIBRARY.strategies)
    assert [LIBRARY.for_day(n)[0].number for n in range(1, 7)] == [1, 2, 3, 4, 5, 6]


def test_forty_two_days_give_forty_two_distinct_practices():
    ids = [LIBRARY.for_day(n)[1].id for n in range(1, 43)]
    assert len(set(ids)) == 42
    # and any 42-day window, not just the first
    ids = [LIBRARY.for_day(n)[1].id for n in range(100, 142)]
    assert len(set(ids)) == 42


def test_day_numbers_count_calendar_days():
    assert day_number(date(2026, 11, 26), date(2026, 11, 26)) == 1
    assert day_number(date(2026, 11, 26), date(2026, 12, 2)) == 7


def test_dst_does_not_shift_the_local_day():
    # Europe/Berlin leaves summer time on 2026-10-25 at 03:00 local (01:00 UTC).
    before = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 00:30 on the 25th, CEST
    after = datetime(2026, 10, 25, 22, 59, tzinfo=UTC)  # 23:59 on the 25th, CET
    assert local_today("Europe/Berlin", before) == date(2026, 10, 25)
    assert local_today("Europe/Berlin", after) == date(2026, 10, 25)
    assert local_today("Europe/Berlin", after + timedelta(minutes=1)) == date(2026, 10, 26)
    # New York springs forward 2026-03-08: the 23-hour day is still one day.
    assert local_today("America/New_York", datetime(2026, 3, 8, 4, 59, tzinfo=UTC)) == date(
        2026, 3, 7
    )
    assert local_today("America/New_York", datetime(2026, 3, 8, 5, 0, tzinfo=UTC)) == date(
        2026, 3, 8
    )
    assert local_today("America/New_York", datetime(2026, 3, 9, 3, 59, tzinfo=UTC)) == date(
        2026, 3, 8
    )


def test_the_date_line():
    instant = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    assert local_today("Pacific/Kiritimati", instant) == date(2026, 11, 27)  # UTC+14
    assert local_today("Pacific/Pago_Pago", instant) == date(2026, 11, 26)  # UTC-11
    assert local_today("Pacific/Niue", datetime(2026, 11, 26, 10, 59, tzinfo=UTC)) == date(
        2026, 11, 25
    )


def test_zone_and_date_parsing_is_strict():
    assert is_valid_zone("Europe/Berlin") and is_valid_zone("UTC")
    for bad in ("", "Mars/Base", "../etc/passwd", "Europe/../../x", None, 5, "x" * 100):
        assert not is_valid_zone(bad)
    assert parse_day("2026-11-26") == date(2026, 11, 26)
    for bad in ("2026-2-3", "2026-02-30", "20261126", "2026-11-26x", "", "tomorrow"):
        assert parse_day(bad) is None


def _user(app):
    with app.app_context():
        return db.session.scalars(select(User)).one()


def _card_practice(client, url="/"):
    html = client.get(url).get_data(as_text=True)
    return html.split('id="practice-title">')[1].split("<")[0], html


def test_first_visit_is_day_one_and_the_browser_zone_reanchors_it(app, client, clock):
    # 23:30 UTC on the 26th is already the 27th in Tokyo.
    clock.now = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    client.get("/")
    assert _user(app).first_date == date(2026, 11, 26)
    client.post(
        "/settings/timezone", data={"time_zone": "Asia/Tokyo", "detected": "1"}, headers=HTMX
    )
    user = _user(app)
    assert user.time_zone == "Asia/Tokyo" and user.first_date == date(2026, 11, 27)
    assert "Day 1 of your practice" in client.get("/").get_data(as_text=True)


def test_zone_change_after_practising_keeps_every_dates_practice(app, client, clock):
    clock.now = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
    client.get("/")
    client.post("/settings/timezone", data={"time_zone": "Europe/London"}, headers=HTMX)
    client.post("/day/2026-11-26/done", headers=HTMX)
    before = {
        d: _card_practice(client, f"/day/{d}")[0]
        for d in ("2026-11-26", "2026-11-27", "2026-11-28")
    }

    # Fly east across midnight: local date jumps to the 27th, which is simply Day 2.
    client.post("/settings/timezone", data={"time_zone": "Asia/Tokyo"}, headers=HTMX)
    title, html = _card_practice(client)
    assert title == before["2026-11-27"] and "Day 2 of your practice" in html
    after = {d: _card_practice(client, f"/day/{d}")[0] for d in before}
    assert after == before
    assert _user(app).first_date == date(2026, 11, 26)

    # Fly back west: today is the 26th again, the same day (done), not a new one.
    client.post("/settings/timezone", data={"time_zone": "America/Los_Angeles"}, headers=HTMX)
    title, html = _card_practice(client)
    assert title == before["2026-11-26"] and "Day 1 of your practice" in html and "is-done" in html


def test_a_zone_west_of_day_one_never_shows_day_zero(app, client, clock):
    clock.now = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    client.get("/")
    client.post(
        "/settings/timezone", data={"time_zone": "Asia/Tokyo", "detected": "1"}, headers=HTMX
    )
    client.post("/day/2026-11-27/done", headers=HTMX)  # Day 1 is the 27th and has activity
    client.post("/settings/timezone", data={"time_zone": "Pacific/Honolulu"}, headers=HTMX)
    html = client.get("/").get_data(as_text=True)
    assert "Day 1 of your practice" in html and 'data-day="2026-11-27"' in html


def test_a_detected_zone_never_overrides_a_chosen_one(app, client):
    client.get("/")
    client.post("/settings/timezone", data={"time_zone": "Europe/Paris"}, headers=HTMX)
    client.post(
        "/settings/timezone", data={"time_zone": "Asia/Tokyo", "detected": "1"}, headers=HTMX
    )
    assert _user(app).time_zone == "Europe/Paris"


def test_the_day_advances_at_local_midnight(app, client, clock):
    clock.now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    client.get("/")
    client.post(
        "/settings/timezone", data={"time_zone": "America/New_York", "detected": "1"}, headers=HTMX
    )
    clock.now = datetime(2026, 11, 27, 4, 59, tzinfo=UTC)  # 23:59 in New York
    assert "Day 1 ·" in client.get("/").get_data(as_text=True)
    clock.now = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # midnight
    assert "Day 2 of your practice" in client.get("/").get_data(as_text=True)

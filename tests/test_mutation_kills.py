"""Tests that kill the mutants `make mutation` found surviving in the pure modules
(reminders/schedule.py, content/calendar.py): each pins one behaviour the other tests left
open. No app, no database: these modules are pure functions of their arguments."""

from __future__ import annotations

from datetime import date

from content.calendar import parse_day


def test_parse_day_takes_only_strict_iso_dates():
    assert parse_day("2026-02-28") == date(2026, 2, 28)
    for text in ("2026-02-30", "2026/02/28", "2026-2-28", "20260228", "", None, 20260228):
        assert parse_day(text) is None

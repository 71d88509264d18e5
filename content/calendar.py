"""Local calendar days: a user's day is their own calendar date in their IANA zone.

All arithmetic is on dates, never on "24 hours later", so DST changes cannot shift a day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, has_app_context

DEFAULT_ZONE = "UTC"
DAYS_AHEAD = 90  # how far ahead a user may open a day's practice


def now_utc() -> datetime:
    """The current instant (aware, UTC). Tests may pin it with the NOW_UTC config value."""
    pinned = current_app.config.get("NOW_UTC") if has_app_context() else None
    if pinned is not None:
        return pinned() if callable(pinned) else pinned
    return datetime.now(UTC)


@cache
def zone_names() -> tuple[str, ...]:
    """IANA zones offered in settings; legacy aliases ("US/Eastern") are valid but not listed."""
    names = {n for n in available_timezones() if "/" in n and not n.startswith(("Etc/", "US/"))}
    return tuple(sorted(names | {"UTC"}))


@cache
def _listed_zones() -> frozenset[str]:
    # A set for the membership test: every page and every dispatched user asks it.
    return frozenset(zone_names())


def is_valid_zone(name: object) -> bool:
    if not isinstance(name, str) or not 0 < len(name) <= 64 or ".." in name:
        return False
    if name in _listed_zones():
        return True
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name if is_valid_zone(name) else DEFAULT_ZONE)


def local_today(zone_name: str, now: datetime | None = None) -> date:
    return (now or now_utc()).astimezone(zone(zone_name)).date()


def parse_day(text: str) -> date | None:
    """Strict YYYY-MM-DD; anything else (or an impossible date) is None."""
    if not isinstance(text, str) or len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]

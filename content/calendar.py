"""Local calendar days: a user's day is their own calendar date in their IANA zone.

All arithmetic is on dates, never on "24 hours later", so DST changes cannot shift a day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib.resources import files
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, has_app_context

DEFAULT_ZONE = "UTC"
DAYS_AHEAD = 90  # how far ahead a user may open a day's practice


def now_utc() -> datetime:
    """The current instant (aware, UTC). Tests may pin it with the NOW_UTC config value."""
    pinned = current_app.config.get("NOW_UTC") if has_app_context() else None
    if pinned is not None:
        return pinned() if callable(pinned) else pinned
    return datetime.now(UTC)


Place = tuple[str, str]  # (IANA name, "City, Country")


@cache
def zone_choices() -> tuple[tuple[str, tuple[Place, ...]], ...]:
    """The zones offered in settings, by region: each place's own zone as the tz database's
    zone.tab lists it (from the pinned tzdata package), labelled "City, Country". Old names
    ("Asia/Calcutta", "Europe/Kiev", "US/Eastern") are left out of the list; they stay valid
    when a browser reports one, and the picker then shows it as it is."""
    data = files("tzdata.zoneinfo")
    countries = dict(_tab_rows(data.joinpath("iso3166.tab").read_text("utf-8"), 2))
    regions: dict[str, list[Place]] = {}
    for code, _where, name, *_ in _tab_rows(data.joinpath("zone.tab").read_text("utf-8"), 3):
        country = countries.get(code, code)
        region, *within, city = name.split("/")
        place = city.replace("_", " ")
        within = [w.replace("_", " ") for w in within if w.replace("_", " ") != country]
        if within:  # America/Indiana/Knox: "Knox (Indiana)"; not "Salta (Argentina), Argentina"
            place += f" ({', '.join(within)})"
        label = place if place == country else f"{place}, {country}"  # not "Anguilla, Anguilla"
        regions.setdefault(region, []).append((name, label))
    return tuple(
        (REGION_NAMES.get(region, region), tuple(sorted(places, key=lambda p: p[1])))
        for region, places in sorted(regions.items())
    )


REGION_NAMES = {"America": "Americas", "Atlantic": "Atlantic Ocean", "Indian": "Indian Ocean"}


def _tab_rows(text: str, least: int) -> list[list[str]]:
    rows = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return [row for row in rows if len(row) >= least]


@cache
def _labels() -> dict[str, str]:
    return {name: label for _, places in zone_choices() for name, label in places}


def zone_label(name: str) -> str:
    """How the picker names a zone ("Berlin, Germany"); an unlisted name as it is."""
    return _labels().get(name, name)


@cache
def zone_names() -> tuple[str, ...]:
    """Every zone offered in settings: UTC and those of `zone_choices`."""
    return ("UTC", *sorted(name for _, places in zone_choices() for name, _ in places))


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

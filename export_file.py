"""The export file, read back: what a Closer export holds that a restore can put back.

Settings' export writes every row stored about a user (see `blueprints/settings.py`). This
module reads such a file strictly: a file that is not a Closer export, too large, malformed,
nested too deep, with a wrong type or of an unknown format version is refused with a
message for people (`ExportRefused`), and nothing is read from it. No HTTP, no database.

Formats ever written (from the history of `export_user`), all read here:
- "closer-export/1" as first written: `user` and one list per table, times as naive ISO
  text ("2026-11-26T08:30:00", UTC);
- "closer-export/1" since the journal was added: the same plus `about` and `journal`, and
  times marked UTC ("2026-11-26T08:30:00Z").
Keys a later export adds (another table) are ignored, so an older Closer still restores
the days and reflections of a newer export of the same format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from content.calendar import is_valid_zone, parse_day

FORMATS = ("closer-export/1",)  # every format ever written; the first is the one we write
FORMAT_PREFIX = "closer-export/"
MAX_BYTES = 1024 * 1024  # a year of daily reflections at full length is about 800 KB
PRACTICE_ID_MAX = 40  # Completion.practice_id, Reflection.practice_id
EARLIEST_DAY = date(2000, 1, 1)
# A day a device could have written: a zone up to 14 hours ahead, plus a write a day ahead.
LATEST_AHEAD = timedelta(days=2)


class ExportRefused(ValueError):
    """The file cannot be restored; `message` says why, for the person who chose it."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class DoneDay:
    day: date
    practice_id: str
    done_at: datetime  # naive UTC, as stored


@dataclass(frozen=True)
class WrittenDay:
    day: date
    practice_id: str
    text: str
    created_at: datetime  # naive UTC
    updated_at: datetime  # naive UTC

    @property
    def changed_at(self) -> datetime:
        return max(self.created_at, self.updated_at)


@dataclass(frozen=True)
class ExportFile:
    """What a restore puts back, read from a file."""

    first_date: date
    time_zone: str | None  # None: the exported user never chose one (it was UTC by default)
    reminder_time: time | None
    completions: tuple[DoneDay, ...]
    reflections: tuple[WrittenDay, ...]
    devices: int  # devices that took reminders: a push subscription belongs to its browser

    def to_document(self) -> dict:
        """The same content as a minimal export of the current format, for the confirm form
        to carry back (read again with `read_export`, like the file it came from)."""
        user = {
            "first_date": self.first_date.isoformat(),
            "time_zone": self.time_zone or "UTC",
            "time_zone_confirmed": self.time_zone is not None,
            "reminder_time": self.reminder_time.isoformat() if self.reminder_time else None,
        }
        return {
            "format": FORMATS[0],
            "user": user,
            "completions": [
                {"day": c.day.isoformat(), "practice_id": c.practice_id, "done_at": _utc(c.done_at)}
                for c in self.completions
            ],
            "reflections": [
                {
                    "day": r.day.isoformat(),
                    "practice_id": r.practice_id,
                    "text": r.text,
                    "created_at": _utc(r.created_at),
                    "updated_at": _utc(r.updated_at),
                }
                for r in self.reflections
            ],
        }


def read_export(data: bytes, today: date, limit: int = MAX_BYTES) -> ExportFile:
    """Read an export file's bytes; `today` (UTC) bounds the days it may hold."""
    if len(data) > limit:
        raise ExportRefused(
            f"That file is larger than {limit / 1024 / 1024:g} MB. A Closer export is much "
            "smaller: please choose the file that Settings → Export my data saved.",
            status=413,
        )
    document = _parse_json(data)
    if not isinstance(document, dict) or not isinstance(document.get("format"), str):
        raise ExportRefused(NOT_AN_EXPORT)
    version = document["format"]
    if version not in FORMATS:
        if version.startswith(FORMAT_PREFIX):
            raise ExportRefused(
                f"This file is in a format this Closer does not know ({version[:40]}). "
                "It may come from a newer version of Closer."
            )
        raise ExportRefused(NOT_AN_EXPORT)
    return _read_v1(document, today)


NOT_AN_EXPORT = (
    "That file is not a Closer export. Please choose the file that Settings → Export my data "
    "saved (its name starts with closer-export)."
)
DAMAGED = "That file looks like a Closer export but is damaged ({where}), so nothing was restored."


def _parse_json(data: bytes):
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExportRefused(NOT_AN_EXPORT) from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # JSONDecodeError, huge numbers, deep nesting
        raise ExportRefused(NOT_AN_EXPORT) from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _read_v1(document: dict, today: date) -> ExportFile:
    user = _field(document, "user", dict, "user")
    latest = today + LATEST_AHEAD
    completions = tuple(
        DoneDay(
            day=_day(row, "day", f"completion {n}", latest),
            practice_id=_practice(row, f"completion {n}"),
            done_at=_instant(row, "done_at", f"completion {n}"),
        )
        for n, row in _rows(document, "completions")
    )
    reflections = tuple(
        WrittenDay(
            day=_day(row, "day", f"reflection {n}", latest),
            practice_id=_practice(row, f"reflection {n}"),
            text=_text(row, f"reflection {n}"),
            created_at=_instant(row, "created_at", f"reflection {n}"),
            updated_at=_instant(row, "updated_at", f"reflection {n}"),
        )
        for n, row in _rows(document, "reflections")
    )
    _one_per_day(completions, "completions")
    _one_per_day(reflections, "reflections")
    devices = document.get("push_subscriptions", [])
    return ExportFile(
        first_date=_day(user, "first_date", "user", latest),
        time_zone=_zone(user),
        reminder_time=_reminder_time(user),
        completions=completions,
        reflections=tuple(r for r in reflections if r.text.strip()),
        devices=len(devices) if isinstance(devices, list) else 0,
    )


def _damaged(where: str) -> ExportRefused:
    return ExportRefused(DAMAGED.format(where=where))


def _field(row: dict, key: str, kind: type, where: str, optional: bool = False):
    value = row.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _damaged(f"{where}: {key}")
    return value


def _rows(document: dict, key: str):
    rows = _field(document, key, list, key)
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise _damaged(f"{key}: entry {n}")
        yield n, row


def _day(row: dict, key: str, where: str, latest: date) -> date:
    day = parse_day(_field(row, key, str, where))
    if day is None or not EARLIEST_DAY <= day <= latest:
        raise _damaged(f"{where}: {key}")
    return day


def _instant(row: dict, key: str, where: str) -> datetime:
    text = _field(row, key, str, where)
    try:
        value = datetime.fromisoformat(text)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):  # not a time, or out of range once in UTC
        raise _damaged(f"{where}: {key}") from None
    return value  # naive UTC, as the database stores it


def _practice(row: dict, where: str) -> str:
    value = _field(row, "practice_id", str, where)
    if not 0 < len(value) <= PRACTICE_ID_MAX or not value.isprintable():
        raise _damaged(f"{where}: practice_id")
    return value


def _text(row: dict, where: str) -> str:
    value = _field(row, "text", str, where)
    if "\x00" in value:
        raise _damaged(f"{where}: text")
    return value


def _zone(user: dict) -> str | None:
    name = _field(user, "time_zone", str, "user")
    confirmed = _field(user, "time_zone_confirmed", bool, "user", optional=True)
    if not is_valid_zone(name):
        raise _damaged("user: time_zone")
    return name if confirmed is not False else None


def _reminder_time(user: dict) -> time | None:
    text = _field(user, "reminder_time", str, "user", optional=True)
    if text is None:
        return None
    try:
        value = time.fromisoformat(text)
    except ValueError:
        raise _damaged("user: reminder_time") from None
    if value.tzinfo is not None:
        raise _damaged("user: reminder_time")
    return value


def _one_per_day(rows: tuple, key: str) -> None:
    days = [r.day for r in rows]
    if len(set(days)) != len(days):
        raise _damaged(f"{key}: a day appears twice")


def _utc(value: datetime) -> str:
    return value.isoformat() + "Z"

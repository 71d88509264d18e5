"""When a user's next reminder is due: a local wall-clock time in their IANA zone, as UTC.

Everything is computed on local *dates* first and only then turned into an instant, so a
reminder at 08:30 stays at 08:30 local on both sides of a DST change, and a day is never
skipped or doubled by "24 hours later" arithmetic.

- A local time that does not exist on a day (spring forward: 02:30 in New York on
  2026-03-08) fires at the first minute that does exist, the end of the gap (03:00 local).
- A local time that exists twice (fall back: 01:30 in New York on 2026-11-01) fires once, at
  the first occurrence (fold=0); the day is then done and the next instant is the next day.
- `paused_until` is the first date reminders come back on; days before it are skipped.
- `every` = 2 (the back-off after three unanswered reminders) needs at least one quiet day
  after `last_day`, the last day a reminder was handled.

All instants here are naive UTC, as the database stores them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from content.calendar import zone as _checked_zone

# A zone name's validity and its ZoneInfo never change while the process runs, and the
# dispatcher looks one up several times per user: checking the name each time cost ~12 us.
zone = functools.lru_cache(maxsize=1024)(_checked_zone)

DEFAULT_TIME = time(8, 30)
MAX_PAUSE_DAYS = 30
_SEARCH_DAYS = 400  # far more than any pause; a guard against an endless loop


@dataclass(frozen=True)
class Slot:
    """One reminder: the local day it is for and the instant (naive UTC) it fires."""

    day: date
    at: datetime


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The aware UTC instant of wall-clock `at` on `day` in `tz`, DST-correct (see module doc)."""
    wall = datetime.combine(day, at.replace(second=0, microsecond=0, tzinfo=None))
    first = wall.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return first.astimezone(UTC)  # exists (once, or twice and fold=0 is the first)
    # In a gap. fold=0 and fold=1 map to UTC instants either side of the transition; the
    # gap's end is the first minute between them whose local wall time is at or after `wall`.
    a = first.astimezone(UTC)
    b = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    low, high = min(a, b), max(a, b)
    low = low.replace(second=0, microsecond=0)
    while low < high:
        mid = low + timedelta(minutes=((high - low) // timedelta(minutes=1)) // 2)
        if mid.astimezone(tz).replace(tzinfo=None) >= wall:
            high = mid
        else:
            low = mid + timedelta(minutes=1)
    return high


@functools.lru_cache(maxsize=4096)  # pure; the dispatcher asks up to three times per user
def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The aware UTC instant the local `day` ends (local midnight that starts the next)."""
    return local_instant(day + timedelta(days=1), time(0, 0), tz)


def next_slot(
    at: time,
    zone_name: str,
    after: datetime,
    *,
    paused_until: date | None = None,
    every: int = 1,
    last_day: date | None = None,
) -> Slot:
    """The first reminder strictly after `after` (aware, or naive UTC) that the rules allow."""
    tz = zone(zone_name)
    after = _aware_utc(after)
    day = after.astimezone(tz).date()
    if paused_until is not None and day < paused_until:
        day = paused_until
    if last_day is not None:
        day = max(day, last_day + timedelta(days=max(1, every)))
    for _ in range(_SEARCH_DAYS):
        instant = local_instant(day, at, tz)
        if instant > after:
            return Slot(day=day, at=_naive_utc(instant))
        day += timedelta(days=1)
    raise RuntimeError("no reminder slot found")  # pragma: no cover - unreachable


def day_to_remind(
    row_day: date,
    at: time | None,
    zone_name: str,
    now: datetime,
    *,
    paused_until: date | None = None,
) -> date:
    """The local day a claimed user's reminder is for at `now`: late rather than lost.

    Normally the day their row points at. A row whose day has already ended (the dispatcher
    was down, the machine slept) would otherwise be skipped and the next slot taken, which
    skips today too when today's time has just passed. Such a row is for *today* instead
    when today's reminder time has come and today is not paused: the pass sends today's
    reminder at once, late (the rules in policy.decide still apply to today: never twice,
    not when practised, not on a quiet back-off day). If today's time is still ahead, or
    today is paused, the row's own day is kept: it is stale, and the next slot is today's
    or later. Today itself is never over, so a late reminder always has part of a day left.
    """
    if at is None:
        return row_day
    tz = zone(zone_name)
    now = _aware_utc(now)
    if now < end_of_day(row_day, tz):
        return row_day  # not stale: due now, or a retry within its day
    today = now.astimezone(tz).date()
    if paused_until is not None and today < paused_until:
        return row_day
    if local_instant(today, at, tz) > now:
        return row_day
    return today


def last_reminder_day(user_id: str) -> date | None:
    from models import ReminderSent, db

    return db.session.scalar(
        select(func.max(ReminderSent.day)).where(ReminderSent.user_id == user_id)
    )


def reschedule(user, now: datetime) -> None:
    """Recompute a user's next reminder after any change (time, zone, pause, devices).

    No reminder time or no device means nothing is due. A day whose reminder already went out
    is never scheduled again, whatever the new time or zone says. Any lease is left alone:
    the dispatcher holding it fences its own write on it.
    """
    from models import PushSubscription, db

    has_device = db.session.scalar(
        select(PushSubscription.id).where(PushSubscription.user_id == user.id).limit(1)
    )
    if user.reminder_time is None or has_device is None:
        user.next_reminder_at = None
        user.next_reminder_day = None
        return
    last = last_reminder_day(user.id)
    slot = next_slot(
        user.reminder_time,
        user.time_zone,
        now,
        paused_until=user.reminder_paused_until,
        last_day=last,  # daily even under the back-off: the dispatcher decides quiet days
    )
    user.next_reminder_at = slot.at
    user.next_reminder_day = slot.day

"""The reminder rules, as pure functions: no database, no Flask, no clock of their own.

`decide` says what to do with a claimed user for the local day D their reminder is for;
`settle` says what a user's day comes to once every device has answered; `ttl_seconds` is how
long a push service may hold the reminder (to the end of D). `dispatch.py` loads what they
need, calls them, and writes what they return.

The rules:
- No reminder time, or no device left: nothing is due (`OFF`).
- D is over, or already reminded: move on, never send a past day or any day twice
  (`STALE`). A row whose day is over is first taken for today when today's time has passed
  (`schedule.day_to_remind`), so today's reminder goes out late rather than not at all.
- They practised since the last reminder: count afresh, and daily again.
- D's practice is done: no reminder for D (`DONE`).
- Three reminders in a row unanswered: every other day from now on (the back-off); a quiet
  day of that rhythm sends nothing (`QUIET`).
- Otherwise send to every device that does not have D's reminder yet (`SEND`), or record D
  at once if every device already has it (an earlier pass sent it: `RECORD`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

UNANSWERED_BEFORE_BACKOFF = 3
BACKOFF_EVERY = 2  # the back-off's rhythm: a reminder every other day
MIN_RETRY_SECONDS = 30
MIN_TTL = 60

OFF, STALE, DONE, QUIET, SEND, RECORD = "off", "stale", "done", "quiet", "send", "record"
RETRY, REMINDED, MOVE_ON = "retry", "reminded", "move_on"


@dataclass(frozen=True)
class UserDay:
    """What the rules need to know about one claimed user and their day D."""

    day: date
    day_over: bool  # D has ended in the user's zone
    has_time: bool  # a reminder time is set
    devices: int  # devices with valid keys
    devices_missing: int  # of those, devices that have not accepted D's reminder
    last_reminder: date | None  # the last day recorded as reminded
    last_practice: date | None  # the last day practised
    done_today: bool  # D's practice is done
    unanswered: int
    every: int


@dataclass(frozen=True)
class Decision:
    action: str  # OFF, STALE, DONE, QUIET, SEND or RECORD
    unanswered: int
    every: int
    backed_off: bool = False  # this decision moved the user to every other day


def decide(user: UserDay) -> Decision:
    """What to do for the user's day D (see the module docstring)."""
    unanswered, every = user.unanswered, user.every
    if not user.has_time or user.devices == 0:
        return Decision(OFF, unanswered, every)
    if user.day_over:
        return Decision(STALE, unanswered, every)
    if user.last_reminder is not None and user.last_reminder >= user.day:
        return Decision(STALE, unanswered, every)
    if practised_since_reminder(user.last_practice, user.last_reminder):
        unanswered, every = 0, 1
    if user.done_today:
        return Decision(DONE, unanswered, every)
    backed_off = unanswered >= UNANSWERED_BEFORE_BACKOFF and every == 1
    if backed_off:
        every = BACKOFF_EVERY
    if is_quiet_day(user.day, user.last_reminder, every):
        return Decision(QUIET, unanswered, every, backed_off)
    action = SEND if user.devices_missing else RECORD
    return Decision(action, unanswered, every, backed_off)


def practised_since_reminder(last_practice: date | None, last_reminder: date | None) -> bool:
    """A practice on or after the last reminder's day answers it."""
    if last_practice is None:
        return False
    return last_reminder is None or last_practice >= last_reminder


def is_quiet_day(day: date, last_reminder: date | None, every: int) -> bool:
    """Under the back-off, the days between two reminders send nothing."""
    if every < 2 or last_reminder is None:
        return False
    return (day - last_reminder).days < every


@dataclass(frozen=True)
class Settlement:
    action: str  # RETRY (at `retry_at`), REMINDED, OFF or MOVE_ON
    retry_at: datetime | None = None


def settle(
    *,
    accepted: bool,
    retry_afters: list[float | None],
    devices_left: int,
    now: datetime,
    day_end: datetime,
    default_wait: float,
) -> Settlement:
    """A user's day once every device has an outcome.

    `retry_afters` has one entry per device to try again (its Retry-After in seconds, or
    None); the user comes back after the longest of them (at least MIN_RETRY_SECONDS), unless
    that is past the end of the day, which is then given up. `devices_left` counts the
    devices not deleted (404/410). `now` and `day_end` are both aware or both naive.
    """
    if retry_afters:
        waits = [wait for wait in retry_afters if wait is not None]
        wait = max(waits) if waits else default_wait
        retry_at = now + timedelta(seconds=max(MIN_RETRY_SECONDS, wait))
        if retry_at < day_end:
            return Settlement(RETRY, retry_at)
    if accepted:
        return Settlement(REMINDED)
    if devices_left == 0:
        return Settlement(OFF)
    return Settlement(MOVE_ON)


def ttl_seconds(now: datetime, day_end: datetime) -> int:
    """How long a push service may keep D's reminder: until D ends, at least MIN_TTL."""
    return max(MIN_TTL, int((day_end - now).total_seconds()))

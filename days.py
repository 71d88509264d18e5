"""A user's days: which date is their today, what a day's card shows, which days they may
open and write, and their recent progress.

The one home of day logic for the blueprints and the reminders. It knows users and the
database, never HTTP: callers turn a refused day into a 404 and pass in the library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from content.calendar import DAYS_AHEAD, DEFAULT_ZONE, local_today, parse_day
from content.library import Library, Practice, Strategy, day_number
from models import Completion, Reflection, db
from revisions import revision_of
from together.calendar import schedule_number

# A device whose clock or zone runs ahead of the zone in settings may be a day ahead of us;
# its offline writes for "its" today must still be kept.
WRITE_AHEAD_DAYS = 1
RECENT_DAYS = 7  # progress counts the last week, never a streak


def user_today(user, now: datetime | None = None) -> date:
    """The user's local date (at `now`, default the app's clock), never before their Day 1:
    a zone change westwards on the first day must not show a "Day 0". `user` is anything
    with a `time_zone` and a `first_date` (a `User`)."""
    return max(local_today(user.time_zone, now), user.first_date)


def new_user_today() -> date:
    """Day 1 of a user created now: the date in UTC until the browser reports its zone."""
    return local_today(DEFAULT_ZONE)


class DayOutOfReach(ValueError):
    """A day that cannot be opened: not a date, before Day 1 or too far ahead."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def viewable_day(text: str, first_date: date, today: date) -> date:
    """The day `text` names, if it lies between Day 1 and DAYS_AHEAD after today."""
    day = parse_day(text)
    if day is None:
        raise DayOutOfReach("That is not a date we understand. Days look like 2026-11-26.")
    if day < first_date or day > today + timedelta(days=DAYS_AHEAD):
        raise DayOutOfReach("That day is not part of your practice.")
    return day


def may_write(day: date, today: date) -> bool:
    """Writes are kept up to a day ahead of the user's today (see WRITE_AHEAD_DAYS)."""
    return day <= today + timedelta(days=WRITE_AHEAD_DAYS)


def recent_start(first_date: date, today: date) -> date:
    """The first day of the recent window: the last seven days, or fewer for a new user."""
    return max(first_date, today - timedelta(days=RECENT_DAYS - 1))


def recent_progress(user, today: date) -> tuple[int, int]:
    """Days practised out of the last seven (or fewer, for a new user): kind, never a streak."""
    start = recent_start(user.first_date, today)
    done = db.session.scalar(_count_done(user.id, start, today))
    return done or 0, (today - start).days + 1


def progress_sentence(done: int, span: int) -> str:
    """Progress counted kindly: days practised in a window, never a streak that breaks, and
    never a bare zero."""
    if done == 0:
        return "A fresh start today. Two minutes is plenty."
    if span == 1:
        return "Day one, done. A lovely start."
    if span < RECENT_DAYS:
        return f"You practised {done} of your first {span} days."
    return f"You practised {done} of the last 7 days."


@dataclass(frozen=True)
class DayView:
    """Everything a day's card shows."""

    day: date
    number: int
    strategy: Strategy
    practice: Practice
    is_today: bool
    done: bool
    reflection: str
    can_write: bool
    recent_done: int
    recent_span: int
    last_day: date  # the furthest day that may be opened
    # What the page's writes are based on (see revisions.py): the reflection's and the
    # completion's revisions when the card was drawn.
    revision: str = "0"
    done_revision: str = "0"

    @property
    def previous_day(self) -> date | None:
        return self.day - timedelta(days=1) if self.number > 1 else None

    @property
    def next_day(self) -> date | None:
        following = self.day + timedelta(days=1)
        return following if following <= self.last_day else None


def build_day(library: Library, user, day: date, today: date, ahead: int = 0) -> DayView:
    """The card for `day` as seen on `today` (the caller reads the date once, so one request
    stays on one date across midnight). Its forms are offered up to `ahead` days after
    today: a page offers today's writes, no later (a preview of tomorrow is not a day to
    mark; a device whose own date is already there gets the forms from its script), and the
    answer to a write keeps offering what that device was just able to send."""
    number = day_number(user.first_date, day)
    # Linked partners share one schedule from the day they linked (together/calendar.py).
    strategy, practice = library.for_day(schedule_number(user, day))
    start = recent_start(user.first_date, today)
    done_at, reflection, updated_at, recent_done = _day_state(user.id, day, start, today)
    return DayView(
        day=day,
        number=number,
        strategy=strategy,
        practice=practice,
        is_today=day == today,
        done=done_at is not None,
        reflection=reflection or "",
        can_write=day <= today + timedelta(days=ahead),
        recent_done=recent_done,
        recent_span=(today - start).days + 1,
        last_day=today + timedelta(days=DAYS_AHEAD),
        revision=revision_of(updated_at),
        done_revision=revision_of(done_at),
    )


def _day_state(user_id: str, day: date, start: date, today: date):
    """When the day was done, its reflection and when that was written, and the days done
    since `start`, in one round trip: the day page is the most requested page."""
    done = select(Completion.done_at).where(Completion.user_id == user_id, Completion.day == day)
    mine = (Reflection.user_id == user_id, Reflection.day == day)
    text = select(Reflection.text).where(*mine)
    updated = select(Reflection.updated_at).where(*mine)
    recent = _count_done(user_id, start, today)
    subqueries = (done, text, updated, recent)
    return db.session.execute(select(*(q.scalar_subquery() for q in subqueries))).one()


def _count_done(user_id: str, start: date, end: date):
    return select(func.count(Completion.id)).where(
        Completion.user_id == user_id, Completion.day >= start, Completion.day <= end
    )

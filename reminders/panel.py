"""What the reminders panel shows: on or off, the time, a pause, the back-off, the next one.

Not a blueprint: the push blueprint and the today page (practice) both build the panel from
here, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date

from sqlalchemy import func, select

from content.calendar import local_today
from models import Completion, PushSubscription, User, db
from reminders import config as reminder_config
from reminders.schedule import DEFAULT_TIME, zone


@dataclass(frozen=True)
class ReminderState:
    """What the reminders panel shows."""

    public_key: str
    devices: int
    time: str
    paused_until: date | None
    every: int
    next_local: str | None
    today_done: bool
    today: date

    @property
    def on(self) -> bool:
        return self.devices > 0

    @property
    def paused(self) -> bool:
        return self.paused_until is not None and self.paused_until > self.today


def reminder_state(user: User | None) -> ReminderState:
    """The panel for `user` (or for a visitor the server does not know yet), queried here."""
    if user is None:
        public_key = reminder_config.public_key() or ""
        return ReminderState(
            public_key, 0, DEFAULT_TIME.strftime("%H:%M"), None, 1, None, False, local_today("UTC")
        )
    today = max(local_today(user.time_zone), user.first_date)
    devices = db.session.scalar(
        select(func.count(PushSubscription.id)).where(PushSubscription.user_id == user.id)
    )
    done = db.session.scalar(
        select(Completion.id).where(Completion.user_id == user.id, Completion.day == today)
    )
    return panel_state(user, devices=devices or 0, today_done=done is not None, today=today)


def panel_state(user, *, devices: int, today_done: bool, today: date) -> ReminderState:
    """The panel from what the caller already loaded: the today page reads the user, the
    device count and the day's completion in its own queries and passes them in."""
    next_local = None
    if user.next_reminder_at is not None and user.next_reminder_day is not None:
        next_local = describe_next(user)
    return ReminderState(
        public_key=reminder_config.public_key() or "",
        devices=devices,
        time=(user.reminder_time or DEFAULT_TIME).strftime("%H:%M"),
        paused_until=user.reminder_paused_until,
        every=user.reminder_every or 1,
        next_local=next_local,
        today_done=today_done,
        today=today,
    )


def describe_next(user: User) -> str:
    """The next reminder in the user's own zone, e.g. "Friday 27 November at 08:30"."""
    moment = user.next_reminder_at.replace(tzinfo=UTC).astimezone(zone(user.time_zone))
    return f"{moment:%A} {moment.day} {moment:%B} at {moment:%H:%M}"

"""The state of one dispatch pass: its report, and each claimed user and device in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from reminders.jobs import Subscription
from reminders.schedule import day_to_remind, zone


@dataclass
class DispatchReport:
    claimed: int = 0  # users claimed in this pass
    reminded: int = 0  # users whose day was recorded as reminded
    sent: int = 0  # pushes accepted by push services
    skipped_done: int = 0  # today already practised: no reminder
    skipped_backoff: int = 0  # a quiet day of the every-other-day back-off
    skipped_stale: int = 0  # the day ended before we got to it, or was already reminded
    late: int = 0  # of `reminded`: a stale row's today, sent after its time (day_to_remind)
    backed_off: int = 0  # users moved to every other day in this pass
    gone: int = 0  # devices deleted after 404/410
    rejected: int = 0  # pushes refused for good (413, 400...)
    retry: int = 0  # pushes to try again later (429/5xx/network)
    released: int = 0  # users handed back unsent (lease running out)
    batches: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        parts = [f"{k}={v}" for k, v in self.__dict__.items() if k != "seconds"]
        return " ".join(parts) + f" seconds={self.seconds:.2f}"


@dataclass
class Device:
    id: int
    sub: Subscription | None  # None: stored keys that are not valid (dropped, never sent)
    last_sent_day: date | None
    outcome: str | None = None
    retry_after: float | None = None


@dataclass
class Work:
    """One claimed user being handled in this pass (`row` is their claimed row)."""

    row: object
    day: date
    every: int
    unanswered: int
    last_reminder: date | None = None
    link: tuple[date, date] | None = None  # (since, anchor) while linked with a partner
    late: bool = False  # `day` is today in place of the stale day the row pointed at
    devices: list[Device] = field(default_factory=list)
    pending: int = 0  # pushes sent and not yet answered
    message: bytes = b""
    ttl: int = 0

    @property
    def id(self) -> str:
        return self.row.id


def work_for(row, now: datetime) -> Work:
    """A claimed row (`claim.claim_due`) as this pass's Work, for the day it is due for at
    `now` (aware): the row's own day, or today for a stale row (`day_to_remind`)."""
    day = row.next_reminder_day
    if day is None and row.next_reminder_at is not None:  # an instant without its day
        day = row.next_reminder_at.replace(tzinfo=UTC).astimezone(zone(row.time_zone)).date()
    day = day or now.astimezone(zone(row.time_zone)).date()
    due = day_to_remind(
        day, row.reminder_time, row.time_zone, now, paused_until=row.reminder_paused_until
    )
    work = Work(row, due, row.reminder_every or 1, row.reminder_unanswered or 0)
    work.late = due != day
    return work

"""Bookkeeping kept only as long as a rule reads it: `flask maintenance prune`, and the worker.

Two tables grow by a row per write and per reminder, about a hundred million rows a year
for 100,000 people, and no rule reads a row after a few weeks. Both are pruned here, in
batches of short transactions, so a big table is never locked for long. What a person wrote
(completions, reflections) is never touched, nor any other table.

**Idempotency keys (`applied_writes`): kept KEY_DAYS = 60 days.** A key turns the replay of
a write already applied into a no-op. A replay comes from the offline outbox
(static/js/outbox.js), which gives a write up after ten answered failures over more than
three days, but keeps it for as long as the phone stays offline: network failures do not
count. So the danger is a write that reached us, whose answer was lost, on a phone then
offline for weeks. Sixty days is twenty times the give-up span and covers two months
offline. A replay after that is applied again, and is still safe: Done and Undo act by
state (Done on a done day adds nothing, Undo on an open day removes nothing, the same text
saved again changes nothing), and a write that is stale against a newer one (a Done that
another device has since undone, a reflection edited since) is refused by the revision it
carries (409, its text shown to the person), whatever became of its key.

**Reminder records (`reminders_sent`): kept REMINDER_DAYS = 40 days, and each user's latest
whatever its age.** The rules (reminders/policy.py) read only each user's latest record:
"never twice" compares the day being sent with it, the back-off's quiet days count from
it, and the counts live on the user's row. A record that is not its user's latest is never
read again, so deleting it cannot change a decision. Even without that guard the window
covers the longest the rules look back: a pause (MAX_PAUSE_DAYS) plus the back-off's
rhythm plus a day for time zones, with a week's margin; the rest is kept for support.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from time import monotonic

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import delete, exists, select

from content.calendar import now_utc
from models import AppliedWrite, ReminderSent, db
from reminders.policy import BACKOFF_EVERY
from reminders.schedule import MAX_PAUSE_DAYS

log = logging.getLogger("closer.bookkeeping")

KEY_DAYS = 60
REMINDER_LOOKBACK_DAYS = MAX_PAUSE_DAYS + BACKOFF_EVERY + 1  # the +1: time zones
REMINDER_DAYS = REMINDER_LOOKBACK_DAYS + 7
BATCH_SIZE = 5_000  # rows per transaction: milliseconds of locks, not minutes
PRUNE_EVERY_HOURS = 24.0  # the worker's rhythm; the windows are whole days

maintenance_cli = AppGroup("maintenance", help="Keep the database tidy.")


@dataclass
class PruneReport:
    applied_writes: int = 0
    reminders_sent: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"pruned applied_writes={self.applied_writes} "
            f"reminders_sent={self.reminders_sent} seconds={self.seconds:.2f}"
        )


def prune(
    now: datetime | None = None,
    *,
    batch_size: int = BATCH_SIZE,
    key_days: int = KEY_DAYS,
    reminder_days: int = REMINDER_DAYS,
) -> PruneReport:
    """Delete the keys and reminder records no rule reads any more (see the module doc)."""
    started = monotonic()
    now = now or now_utc()
    now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now  # as stored
    report = PruneReport()
    keys = AppliedWrite.__table__
    report.applied_writes = _delete_in_batches(
        keys, keys.c.key, keys.c.applied_at < now - timedelta(days=key_days), batch_size
    )
    sent, newer = ReminderSent.__table__, ReminderSent.__table__.alias("newer")
    not_latest = exists().where(newer.c.user_id == sent.c.user_id, newer.c.day > sent.c.day)
    report.reminders_sent = _delete_in_batches(
        sent,
        sent.c.id,
        (sent.c.day < now.date() - timedelta(days=reminder_days)) & not_latest,
        batch_size,
    )
    report.seconds = monotonic() - started
    return report


def _delete_in_batches(table, key, condition, batch_size: int) -> int:
    """DELETE ... WHERE key IN (up to batch_size matching keys), committed batch by batch."""
    total = 0
    while True:
        chosen = select(key).where(condition).limit(batch_size)
        # The inner SELECT names its own table: no correlation to the DELETE's.
        deleted = db.session.execute(
            delete(table).where(key.in_(chosen.correlate(None).scalar_subquery()))
        ).rowcount
        db.session.commit()
        total += deleted
        if deleted < batch_size:
            return total


class PruneTimer:
    """The worker's rhythm: prune at its first pass, then every `hours` (0: never)."""

    def __init__(self, hours: float = PRUNE_EVERY_HOURS) -> None:
        self.every = hours * 3600
        self.next_at = monotonic()

    def run_if_due(self) -> PruneReport | None:
        if self.every <= 0 or monotonic() < self.next_at:
            return None
        self.next_at = monotonic() + self.every
        try:
            return prune()
        except Exception:  # the database away: the reminders still go out; next time then
            db.session.rollback()
            log.exception("pruning the bookkeeping failed")
            return None


def init_app(app: Flask) -> None:
    app.cli.add_command(maintenance_cli)


@maintenance_cli.command("prune")
@click.option("--now", "now_text", metavar="ISO-8601", help="Run the clock (default: now).")
@click.option("--batch-size", type=click.IntRange(1), default=BATCH_SIZE, show_default=True)
def prune_command(now_text: str | None, batch_size: int) -> None:
    """Delete idempotency keys older than 60 days and reminder records no rule reads."""
    from reminders.cli import parse_now

    report = prune(parse_now(now_text), batch_size=batch_size)
    click.echo(report.line())

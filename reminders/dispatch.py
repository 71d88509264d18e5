"""One dispatch pass: claim the users who are due, send their reminder, record it, move on.

Run by `flask reminders dispatch` (cron) or `flask reminders worker` (a loop), as many at once
as you like, on one machine or many, against one database.

How a pass works
----------------
1. **Claim** a batch atomically: one `UPDATE users SET reminder_lease_until = now + lease
   WHERE id IN (SELECT id ... WHERE next_reminder_at <= now AND lease expired ORDER BY
   next_reminder_at LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING ...`, committed at once. The
   inner select walks `ix_users_next_reminder_at` from its low end and stops after n due rows,
   so its cost does not grow with the users who are not due. Concurrent dispatchers skip each
   other's locked rows (PostgreSQL) or queue on the write lock (SQLite) and never claim the
   same user while a lease is live.
2. **Decide** per user, for the local day D the reminder is for: the day is already over or
   already reminded → just move on; today's practice is done → skip (no reminder), move on;
   the every-other-day back-off says today is a quiet day → move on. Otherwise send to every
   device that has not yet accepted D's reminder.
3. **Send** with bounded concurrency (`PushSender`), TTL to the end of the user's day D,
   `Urgency: normal`, `Topic: closer-<D>`.
4. **Commit outcomes as they arrive**, every few dozen results or 50 ms: a device that
   accepted gets `last_sent_day = D`; 404/410 delete the device; 413 and other refusals are
   logged and not retried; 429/5xx keep D open and set `next_reminder_at = now +
   Retry-After` (at least `MIN_RETRY_SECONDS`), so the next pass sends to the devices still
   missing it and to no other. When a user's devices are all settled, `(user, D)` goes into
   `reminders_sent` (unique), the next instant is computed, and the lease is cleared, all in
   one transaction fenced on the lease we took (a dispatcher that lost its lease writes
   nothing).

The guarantee, precisely
------------------------
- **Exactly once in the database.** `(user, D)` is recorded at most once (unique constraint,
  `ON CONFLICT DO NOTHING`), and once recorded, D is never sent again, to any device.
- **Exactly once per device without crashes,** with any number of dispatchers: a user is
  held by one lease at a time and a device that accepted D is never sent D again (test:
  four processes, 5,000 users, 5,000 pushes).
- **Nothing lost on a crash.** A dispatcher killed at any point leaves its users due; when
  the lease runs out another pass claims them and sends what is missing.
- **What a crash can repeat.** The only pushes sent twice are those a killed dispatcher had
  on the wire or had seen accepted but not yet committed: at most the in-flight window
  (`2 × REMINDER_CONCURRENCY`) plus one commit interval's results. No protocol can close this
  window (the push service accepts before we can write that it did), so we keep it small
  and make the repeat harmless: it carries the same `Topic`, so a push service that has not
  yet delivered the first replaces it (RFC 8030 §5.4), and the same notification `tag`, so a
  device that already shows it replaces it silently. The person sees one reminder.
"""

from __future__ import annotations

import logging
import multiprocessing
import time as _time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from content.calendar import now_utc
from models import Completion, PushSubscription, ReminderSent, User, db
from reminders import config as reminder_config
from reminders import payload as payloads
from reminders.schedule import UNANSWERED_BEFORE_BACKOFF, end_of_day, next_slot, zone
from reminders.webpush import PushJob, PushResult, PushSender, Subscription

log = logging.getLogger("closer.reminders")

MIN_RETRY_SECONDS = 30
FLUSH_EVERY = 64  # results
FLUSH_INTERVAL = 0.05  # seconds
MIN_TTL = 60


@dataclass
class DispatchReport:
    claimed: int = 0  # users claimed in this pass
    reminded: int = 0  # users whose day was recorded as reminded
    sent: int = 0  # pushes accepted by push services
    skipped_done: int = 0  # today already practised: no reminder
    skipped_backoff: int = 0  # a quiet day of the every-other-day back-off
    skipped_stale: int = 0  # the day ended before we got to it, or was already reminded
    backed_off: int = 0  # users moved to every other day in this pass
    gone: int = 0  # devices deleted after 404/410
    rejected: int = 0  # pushes refused for good (413, 400...)
    retry: int = 0  # pushes to try again later (429/5xx/network)
    released: int = 0  # users handed back unsent (lease running out)
    batches: int = 0
    processes: int = 1
    seconds: float = 0.0

    def add(self, other: DispatchReport) -> None:
        """Count another process's pass into this one (the caller sets processes, seconds)."""
        for name, value in other.__dict__.items():
            if name not in ("processes", "seconds"):
                setattr(self, name, getattr(self, name) + value)

    def line(self) -> str:
        parts = [f"{k}={v}" for k, v in self.__dict__.items() if k != "seconds"]
        return " ".join(parts) + f" seconds={self.seconds:.2f}"


@dataclass
class _Device:
    id: int
    sub: Subscription | None
    last_sent_day: date | None
    outcome: str | None = None
    retry_after: float | None = None


@dataclass
class _Work:
    """One claimed user being handled in this pass."""

    id: str
    zone: str
    first_date: date
    reminder_time: time | None
    paused_until: date | None
    every: int
    unanswered: int
    day: date
    last_reminder: date | None
    devices: list[_Device] = field(default_factory=list)
    pending: int = 0
    message: bytes = b""
    ttl: int = 0


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class Dispatcher:
    def __init__(self, sender: PushSender, now: datetime, report: DispatchReport) -> None:
        cfg = current_app.config
        self.sender = sender
        self.now = _naive(now)
        self.now_aware = self.now.replace(tzinfo=UTC)
        self.report = report
        self.batch_size = int(cfg["REMINDER_BATCH_SIZE"])
        self.lease_seconds = int(cfg["REMINDER_LEASE_SECONDS"])
        self.retry_seconds = int(cfg["REMINDER_RETRY_SECONDS"])
        self.window = 2 * int(cfg["REMINDER_CONCURRENCY"])
        self.library = current_app.extensions["library"]
        self.is_postgres = db.engine.dialect.name == "postgresql"
        self.messages: dict[tuple[date, date], bytes] = {}

    # -- claim ---------------------------------------------------------------------------

    def claim(self) -> tuple[datetime, list]:
        users = User.__table__
        lease = self.now + timedelta(seconds=self.lease_seconds)
        due = (
            select(users.c.id)
            .where(
                users.c.next_reminder_at <= self.now,
                or_(
                    users.c.reminder_lease_until.is_(None),
                    users.c.reminder_lease_until < self.now,
                ),
            )
            .order_by(users.c.next_reminder_at)
            .limit(self.batch_size)
        )
        if self.is_postgres:
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(users)
            .where(users.c.id.in_(due.scalar_subquery()))
            .values(reminder_lease_until=lease)
            .returning(
                users.c.id,
                users.c.time_zone,
                users.c.first_date,
                users.c.reminder_time,
                users.c.reminder_paused_until,
                users.c.reminder_every,
                users.c.reminder_unanswered,
                users.c.next_reminder_at,
                users.c.next_reminder_day,
            )
        )
        rows = db.session.execute(stmt).all()
        db.session.commit()
        return lease, rows

    # -- one batch -------------------------------------------------------------------------

    def run_batch(self, lease: datetime, rows: list) -> None:
        self.lease = lease
        self.report.claimed += len(rows)
        self.report.batches += 1
        ids = [r.id for r in rows]
        works = {r.id: self._work_from(r) for r in rows}
        self._load(ids, works)

        self.user_writes: list[dict] = []
        self.sent_marks: list[dict] = []
        self.gone_ids: list[int] = []
        self.records: list[dict] = []
        jobs: list[tuple[_Work, _Device]] = []
        for work in works.values():
            self._decide(work, jobs)
        self._send(jobs)
        self._flush()

    def _work_from(self, row) -> _Work:
        tz = zone(row.time_zone)
        day = row.next_reminder_day
        if day is None and row.next_reminder_at is not None:
            day = row.next_reminder_at.replace(tzinfo=UTC).astimezone(tz).date()
        return _Work(
            id=row.id,
            zone=row.time_zone,
            first_date=row.first_date,
            reminder_time=row.reminder_time,
            paused_until=row.reminder_paused_until,
            every=row.reminder_every or 1,
            unanswered=row.reminder_unanswered or 0,
            day=day or self.now_aware.astimezone(tz).date(),
            last_reminder=None,
        )

    def _load(self, ids: list[str], works: dict[str, _Work]) -> None:
        subs = PushSubscription.__table__
        for row in db.session.execute(
            select(
                subs.c.id,
                subs.c.user_id,
                subs.c.endpoint,
                subs.c.p256dh,
                subs.c.auth,
                subs.c.last_sent_day,
            )
            .where(subs.c.user_id.in_(ids))
            .order_by(subs.c.id)
        ):
            try:
                sub = Subscription(row.endpoint, row.p256dh, row.auth)
            except ValueError:
                sub = None  # a corrupt row: dropped below, never sent
            works[row.user_id].devices.append(_Device(row.id, sub, row.last_sent_day))
        sent = ReminderSent.__table__
        for user_id, last in db.session.execute(
            select(sent.c.user_id, func.max(sent.c.day))
            .where(sent.c.user_id.in_(ids))
            .group_by(sent.c.user_id)
        ):
            works[user_id].last_reminder = last
        done = Completion.__table__
        self.last_practice: dict[str, date] = dict(
            db.session.execute(
                select(done.c.user_id, func.max(done.c.day))
                .where(done.c.user_id.in_(ids))
                .group_by(done.c.user_id)
            ).all()
        )
        pairs = [(w.id, w.day) for w in works.values()]
        self.done_today = (
            {
                user_id
                for (user_id,) in db.session.execute(
                    select(done.c.user_id).where(tuple_(done.c.user_id, done.c.day).in_(pairs))
                )
            }
            if pairs
            else set()
        )

    # -- decisions -------------------------------------------------------------------------

    def _decide(self, work: _Work, jobs: list) -> None:
        report = self.report
        tz = zone(work.zone)
        for device in work.devices:
            if device.sub is None:
                log.warning("dropping a stored push subscription with invalid keys")
                self.gone_ids.append(device.id)
        work.devices = [d for d in work.devices if d.sub is not None]
        if work.reminder_time is None or not work.devices:
            self._finish(work, next_at=None)
            return
        if self.now_aware >= end_of_day(work.day, tz):
            report.skipped_stale += 1
            self._advance(work, last_day=work.last_reminder)
            return
        if work.last_reminder is not None and work.last_reminder >= work.day:
            report.skipped_stale += 1
            self._advance(work, last_day=work.last_reminder)
            return
        practised = self.last_practice.get(work.id)
        if practised is not None and (
            work.last_reminder is None or practised >= work.last_reminder
        ):
            # They practised since the last reminder: count afresh, and daily again.
            work.unanswered, work.every = 0, 1
        if work.id in self.done_today:
            report.skipped_done += 1
            self._advance(work, last_day=work.day)
            return
        if work.unanswered >= UNANSWERED_BEFORE_BACKOFF and work.every == 1:
            work.every = 2
            report.backed_off += 1
        if (
            work.every >= 2
            and work.last_reminder is not None
            and (work.day - work.last_reminder).days < work.every
        ):
            report.skipped_backoff += 1
            self._advance(work, last_day=work.last_reminder)
            return
        missing = [d for d in work.devices if d.last_sent_day != work.day]
        if not missing:
            self._settle(work)  # every device already has it (an earlier pass): record it
            return
        work.message = self._message(work.first_date, work.day)
        work.ttl = int((end_of_day(work.day, tz) - self.now_aware).total_seconds())
        work.ttl = max(MIN_TTL, work.ttl)
        work.pending = len(missing)
        for device in missing:
            jobs.append((work, device))

    def _message(self, first_date: date, day: date) -> bytes:
        # Everyone who started on the same date gets the same practice on the same day.
        key = (first_date, day)
        message = self.messages.get(key)
        if message is None:
            message = payloads.encode(payloads.reminder_message(self.library, first_date, day))
            self.messages[key] = message
        return message

    def _advance(self, work: _Work, last_day: date | None) -> None:
        # Always the next day, even under the back-off: the quiet day is decided here at
        # dispatch time (see _decide), so a practice on the quiet day brings daily back at once.
        slot = next_slot(
            work.reminder_time,
            work.zone,
            self.now,
            paused_until=work.paused_until,
            last_day=last_day,
        )
        self._finish(work, next_at=slot.at, next_day=slot.day)

    def _finish(self, work: _Work, next_at: datetime | None, next_day: date | None = None) -> None:
        self.user_writes.append(
            {
                "uid": work.id,
                "next_at": next_at,
                "next_day": next_day,
                "every": work.every,
                "unanswered": work.unanswered,
            }
        )

    def _settle(self, work: _Work) -> None:
        """All of a user's devices have an outcome for D: record, retry later, or move on."""
        tz = zone(work.zone)
        report = self.report
        devices = [d for d in work.devices if d.outcome != "gone"]
        accepted = any(d.last_sent_day == work.day for d in devices)
        retrying = [d for d in devices if d.outcome == "retry"]
        if retrying:
            wait_for = max(
                (d.retry_after for d in retrying if d.retry_after is not None),
                default=self.retry_seconds,
            )
            at = self.now + timedelta(seconds=max(MIN_RETRY_SECONDS, wait_for))
            if at.replace(tzinfo=UTC) < end_of_day(work.day, tz):
                self._finish(work, next_at=at, next_day=work.day)
                return
            # The day ends before the push service will take it: give the day up.
        if accepted:
            self.records.append({"user_id": work.id, "day": work.day, "sent_at": self.now})
            work.unanswered += 1
            report.reminded += 1
            work.last_reminder = work.day
            self._advance(work, last_day=work.day)
        elif not devices:
            self._finish(work, next_at=None)
        else:
            self._advance(work, last_day=work.last_reminder or work.day)

    # -- sending -------------------------------------------------------------------------

    def _send(self, jobs: list[tuple[_Work, _Device]]) -> None:
        # The whole batch goes to the sender at once. It starts no send after the deadline,
        # well before the lease ends (those users stay due), and keeps at most `window`
        # pushes started and not yet recorded here (a chunk counts until the next
        # `results()` call); with a flush every FLUSH_EVERY records, a crash can repeat at
        # most `window + FLUSH_EVERY` pushes.
        deadline = _time.monotonic() + self.lease_seconds / 2
        batch = self.sender.start(
            [
                PushJob(device.sub, work.message, work.ttl, payloads.topic_for(work.day))
                for work, device in jobs
            ],
            deadline=deadline,
            window=self.window,
        )
        unsent: dict[str, _Work] = {}
        last_flush, unflushed = _time.monotonic(), 0
        try:
            while not batch.done:
                for index, result in batch.results(timeout=FLUSH_INTERVAL):
                    work, device = jobs[index]
                    if result is None:
                        unsent[work.id] = work
                        continue
                    self._record_result(work, device, result)
                    unflushed += 1
                    if unflushed >= FLUSH_EVERY:  # mid-chunk too: the crash bound needs it
                        self._flush()
                        last_flush, unflushed = _time.monotonic(), 0
                if _time.monotonic() - last_flush >= FLUSH_INTERVAL:
                    self._flush()
                    last_flush, unflushed = _time.monotonic(), 0
        finally:
            if not batch.done:  # a failed flush (database gone...): send nothing more
                batch.cancel()
        if unsent:
            self.report.released += len(unsent)
            self._release(list(unsent))

    def _record_result(self, work: _Work, device: _Device, result: PushResult) -> None:
        device.outcome = result.outcome
        report = self.report
        if result.outcome == "sent":
            report.sent += 1
            device.last_sent_day = work.day
            self.sent_marks.append({"sid": device.id, "day": work.day})
        elif result.outcome == "gone":
            report.gone += 1
            self.gone_ids.append(device.id)
        elif result.outcome == "retry":
            report.retry += 1
            device.retry_after = result.retry_after
        else:
            report.rejected += 1
            log.warning(
                "push refused for good: status=%s origin=%s",
                result.status,
                device.sub.origin if device.sub else "?",
            )
        work.pending -= 1
        if work.pending == 0:
            self._settle(work)

    # -- writes --------------------------------------------------------------------------

    def _flush(self) -> None:
        """Commit everything learnt so far in one short transaction."""
        if not (self.sent_marks or self.gone_ids or self.user_writes or self.records):
            return
        subs = PushSubscription.__table__
        users = User.__table__
        # One statement per day (nearly always just one), not one per device.
        for day, device_ids in _group_by_day(self.sent_marks).items():
            db.session.execute(
                update(subs).where(subs.c.id.in_(device_ids)).values(last_sent_day=day)
            )
        if self.gone_ids:
            db.session.execute(delete(subs).where(subs.c.id.in_(self.gone_ids)))
        if self.user_writes:
            # Fence: only users whose lease is still ours (nobody reclaimed them meanwhile).
            ids = [w["uid"] for w in self.user_writes]
            held_query = select(users.c.id).where(
                users.c.id.in_(ids), users.c.reminder_lease_until == self.lease
            )
            if self.is_postgres:
                held_query = held_query.with_for_update()
            held = set(db.session.scalars(held_query))
            lost = len(ids) - len(held)
            if lost:
                log.warning("%d users were reclaimed by another dispatcher; not writing them", lost)
            writes = [w for w in self.user_writes if w["uid"] in held]
            records = [r for r in self.records if r["user_id"] in held]
            if records:
                db.session.execute(
                    _insert_ignore(ReminderSent.__table__, self.is_postgres), records
                )
            if writes:
                db.session.execute(
                    update(users)
                    .where(users.c.id == _bind("uid"))
                    .values(
                        next_reminder_at=_bind("next_at"),
                        next_reminder_day=_bind("next_day"),
                        reminder_every=_bind("every"),
                        reminder_unanswered=_bind("unanswered"),
                        reminder_lease_until=None,
                    ),
                    writes,
                )
        db.session.commit()
        self.sent_marks, self.gone_ids, self.user_writes, self.records = [], [], [], []

    def _release(self, ids: list[str]) -> None:
        users = User.__table__
        db.session.execute(
            update(users)
            .where(users.c.id.in_(ids), users.c.reminder_lease_until == self.lease)
            .values(reminder_lease_until=None)
        )
        db.session.commit()


def _group_by_day(marks: list[dict]) -> dict[date, list[int]]:
    groups: dict[date, list[int]] = {}
    for mark in marks:
        groups.setdefault(mark["day"], []).append(mark["sid"])
    return groups


def _bind(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


def _insert_ignore(table, is_postgres: bool):
    insert = pg_insert if is_postgres else sqlite_insert
    return insert(table).on_conflict_do_nothing(index_elements=["user_id", "day"])


def make_sender(app=None) -> PushSender:
    app = app or current_app
    key = reminder_config.private_key(app)
    if key is None:
        raise RuntimeError(
            f"No VAPID key at {reminder_config.key_path(app)}: run `flask push init-keys` first."
        )
    return PushSender(
        key,
        app.config["VAPID_SUBJECT"],
        max_workers=int(app.config["REMINDER_CONCURRENCY"]),
        timeout=float(app.config["PUSH_TIMEOUT"]),
        public_only=True,
        allow_loopback=reminder_config.truthy(app.config.get("PUSH_ALLOW_INSECURE_ENDPOINTS")),
    )


def dispatch(now: datetime | None = None, sender: PushSender | None = None) -> DispatchReport:
    """Run one pass until no due user is left unclaimed; see the module docstring."""
    started = _time.monotonic()
    report = DispatchReport()
    own_sender = sender is None
    sender = sender or make_sender()
    try:
        dispatcher = Dispatcher(sender, now or now_utc(), report)
        while True:
            lease, rows = dispatcher.claim()
            if not rows:
                break
            dispatcher.run_batch(lease, rows)
    finally:
        if own_sender:
            sender.close()
        db.session.rollback()
    report.seconds = _time.monotonic() - started
    return report


def dispatch_in_processes(processes: int, now: datetime | None = None) -> DispatchReport:
    """One pass run by `processes` forked processes at once, on one core each.

    A dispatcher process is held to one core by the GIL, and the claim's leases already keep
    any number of dispatchers apart (see the module docstring), so this is that design on one
    machine: each child runs an ordinary `dispatch()` until no due user is left unclaimed.
    Fork (not spawn) hands each child the loaded app without re-reading its configuration.
    """
    if processes <= 1:
        return dispatch(now)
    started = _time.monotonic()
    app = current_app._get_current_object()
    db.session.remove()
    db.engine.dispose()  # no pooled connection may be shared with the children
    context = multiprocessing.get_context("fork")
    children = []
    for _ in range(processes):
        receiver, sender_end = context.Pipe(duplex=False)
        child = context.Process(target=_pass_in_child, args=(app, now, sender_end))
        child.start()
        sender_end.close()
        children.append((child, receiver))
    report, failures = DispatchReport(processes=processes), []
    for child, receiver in children:
        try:
            outcome = receiver.recv()
        except EOFError:
            outcome = f"exited with {child.exitcode} before reporting"
        child.join()
        if isinstance(outcome, DispatchReport):
            report.add(outcome)
        else:
            failures.append(outcome)
    report.seconds = _time.monotonic() - started
    if failures:
        # What the others sent is recorded; what the failed one held stays due (its leases).
        raise RuntimeError(f"{len(failures)} dispatcher processes failed: {failures}")
    return report


def _pass_in_child(app, now: datetime | None, results) -> None:
    try:
        with app.app_context():
            report = dispatch(now)
        results.send(report)
    except Exception as exc:  # reported to the parent, which fails the command
        results.send(f"{type(exc).__name__}: {exc}")
    finally:
        results.close()

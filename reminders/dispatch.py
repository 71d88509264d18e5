"""One dispatch pass: claim the users who are due, send their reminder, record it, move on.

Run by `flask reminders dispatch` (cron) or `flask reminders worker` (a loop), as many at once
as you like, on one machine or many, against one database: to use more cores, run more
workers; the leases keep them apart.

How a pass works
----------------
1. **Claim** a batch under a lease (`claim.py`).
2. **Decide** per user, for the local day D the reminder is for (`policy.decide`): move on,
   skip, or send to every device that has not yet accepted D's reminder. D is the day the
   row points at, unless that day has ended: then D is today if today's time has passed
   (`schedule.day_to_remind`), so a reminder is late rather than lost.
3. **Send** with bounded concurrency (`sender.PushSender`: pywebpush on one aiohttp session),
   TTL to the end of the user's day D, `Urgency: normal`, `Topic: closer-<D>`.
4. **Commit outcomes as they arrive**, every FLUSH_EVERY results or FLUSH_INTERVAL seconds,
   fenced on the lease (`claim.write_outcomes`): accepted → `last_sent_day = D`; 404/410 →
   device deleted; 413 and other refusals → logged, not retried; 429/5xx → D stays open until
   Retry-After, for the devices still missing it only (`policy.settle`). Once all of a user's
   devices have answered: `(user, D)` recorded, next instant computed, lease cleared.

The guarantee, precisely
------------------------
- **Exactly once in the database.** `(user, D)` is recorded at most once (unique constraint,
  `ON CONFLICT DO NOTHING`), and once recorded, D is never sent again, to any device.
- **Exactly once per device without crashes,** with any number of dispatchers: a user is
  held by one lease at a time and a device that accepted D is never sent D again.
- **Nothing lost on a crash.** A dispatcher killed at any point leaves its users due; when
  the lease runs out another pass claims them and sends what is missing.
- **What a crash can repeat.** Only the pushes a killed dispatcher had on the wire or had
  seen accepted but not yet committed: at most `2 × REMINDER_CONCURRENCY + FLUSH_EVERY`. No
  protocol can close this window (the push service accepts before we can write that it did),
  so it is kept small and the repeat made harmless: the same `Topic` (a push service that has
  not delivered the first replaces it, RFC 8030 §5.4) and the same notification `tag` (a
  device that shows it replaces it silently). The person sees one reminder.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from time import monotonic

from flask import current_app

from content.calendar import now_utc
from models import db
from reminders import claim, partner_notices, policy
from reminders import payload as payloads
from reminders.jobs import PushJob, PushResult, Subscription
from reminders.schedule import end_of_day, next_slot, zone
from reminders.sender import PushSender, make_sender
from reminders.work import Device, DispatchReport, Work, work_for

log = logging.getLogger("closer.reminders")

FLUSH_EVERY = 64  # results
FLUSH_INTERVAL = 0.05  # seconds
# A user skipped for the day, and the report's counter for it.
SKIPPED = {
    policy.STALE: "skipped_stale",
    policy.DONE: "skipped_done",
    policy.QUIET: "skipped_backoff",
}


class Dispatcher:
    def __init__(self, sender: PushSender | None, now: datetime, report: DispatchReport) -> None:
        cfg = current_app.config
        self.sender = sender
        self.now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
        self.now_aware = self.now.replace(tzinfo=UTC)
        self.report = report
        self.batch_size = int(cfg["REMINDER_BATCH_SIZE"])
        self.lease_seconds = int(cfg["REMINDER_LEASE_SECONDS"])
        self.retry_seconds = int(cfg["REMINDER_RETRY_SECONDS"])
        self.window = 2 * int(cfg["REMINDER_CONCURRENCY"])
        self.library = current_app.extensions["library"]
        self.is_postgres = db.engine.dialect.name == "postgresql"
        self.messages: dict[tuple[date, date], bytes] = {}
        self.outcomes = claim.Outcomes()

    def claim(self) -> tuple[datetime, list]:
        return claim.claim_due(
            db.session, self.now, self.lease_seconds, self.batch_size, self.is_postgres
        )

    def run_batch(self, lease: datetime, rows: list) -> None:
        self.lease = lease
        self.report.claimed += len(rows)
        self.report.batches += 1
        works = {row.id: work_for(row, self.now_aware) for row in rows}
        done_today, last_practice = self._load(works)
        jobs: list[tuple[Work, Device]] = []
        for work in works.values():
            self._decide(work, work.id in done_today, last_practice.get(work.id), jobs)
        self._send(jobs)
        self._flush()

    def _load(self, works: dict[str, Work]) -> tuple[set[str], dict[str, date]]:
        """Devices and last reminder into `works`; returns who practised D, and when each
        last practised."""
        loaded = claim.load(db.session, [(w.id, w.day) for w in works.values()])
        for row in loaded.devices:
            try:
                sub = Subscription(row.endpoint, row.p256dh, row.auth)
            except ValueError:
                sub = None
            works[row.user_id].devices.append(Device(row.id, sub, row.last_sent_day))
        for user_id, last in loaded.last_reminder.items():
            works[user_id].last_reminder = last
        for user_id, link in loaded.links.items():
            works[user_id].link = link
        return loaded.done_today, loaded.last_practice

    # -- decisions -----------------------------------------------------------------------

    def _decide(self, work: Work, done_today: bool, last_practice, jobs: list) -> None:
        for device in work.devices:
            if device.sub is None:
                log.warning("dropping a stored push subscription with invalid keys")
                self.outcomes.gone.append(device.id)
        work.devices = [d for d in work.devices if d.sub is not None]
        missing = [d for d in work.devices if d.last_sent_day != work.day]
        tz = zone(work.row.time_zone)
        decision = policy.decide(
            policy.UserDay(
                day=work.day,
                day_over=self.now_aware >= end_of_day(work.day, tz),
                has_time=work.row.reminder_time is not None,
                devices=len(work.devices),
                devices_missing=len(missing),
                last_reminder=work.last_reminder,
                last_practice=last_practice,
                done_today=done_today,
                unanswered=work.unanswered,
                every=work.every,
            )
        )
        work.unanswered, work.every = decision.unanswered, decision.every
        self.report.backed_off += decision.backed_off
        action = decision.action
        if action == policy.OFF:
            self._finish(work, next_at=None)
        elif action in SKIPPED:
            counter = SKIPPED[action]
            setattr(self.report, counter, getattr(self.report, counter) + 1)
            self._advance(work, last_day=work.day if action == policy.DONE else work.last_reminder)
        elif action == policy.RECORD:
            self._settle(work)  # every device already has it (an earlier pass): record it
        else:
            work.message = self._message(work.row.first_date, work.day, work.link)
            work.ttl = policy.ttl_seconds(self.now_aware, end_of_day(work.day, tz))
            work.pending = len(missing)
            jobs.extend((work, device) for device in missing)

    def _message(self, first_date: date, day: date, link) -> bytes:
        # Everyone who started on the same date (or shares a partner calendar) gets the same
        # practice on the same day.
        key = (first_date, day, link)
        if key not in self.messages:
            message = payloads.reminder_message(self.library, first_date, day, link)
            self.messages[key] = payloads.encode(message)
        return self.messages[key]

    def _advance(self, work: Work, last_day: date | None) -> None:
        # Always the next day, even under the back-off: the quiet day is decided at dispatch
        # time (policy.decide), so a practice on the quiet day brings daily back at once.
        row = work.row
        slot = next_slot(
            row.reminder_time,
            row.time_zone,
            self.now,
            paused_until=row.reminder_paused_until,
            last_day=last_day,
        )
        self._finish(work, next_at=slot.at, next_day=slot.day)

    def _finish(self, work: Work, next_at: datetime | None, next_day: date | None = None) -> None:
        self.outcomes.users.append((work.id, next_at, next_day, work.every, work.unanswered))

    def _settle(self, work: Work) -> None:
        """All of a user's devices have an outcome for D: record, retry later, or move on."""
        devices = [d for d in work.devices if d.outcome != "gone"]
        settlement = policy.settle(
            accepted=any(d.last_sent_day == work.day for d in devices),
            retry_afters=[d.retry_after for d in devices if d.outcome == "retry"],
            devices_left=len(devices),
            now=self.now_aware,
            day_end=end_of_day(work.day, zone(work.row.time_zone)),
            default_wait=self.retry_seconds,
        )
        if settlement.action == policy.RETRY:
            retry_at = settlement.retry_at.astimezone(UTC).replace(tzinfo=None)
            self._finish(work, next_at=retry_at, next_day=work.day)
        elif settlement.action == policy.REMINDED:
            self.outcomes.records.append((work.id, work.day, self.now))
            work.unanswered += 1
            self.report.reminded += 1
            self.report.late += work.late
            work.last_reminder = work.day
            self._advance(work, last_day=work.day)
        elif settlement.action == policy.OFF:
            self._finish(work, next_at=None)
        else:
            self._advance(work, last_day=work.last_reminder or work.day)

    # -- sending -------------------------------------------------------------------------

    def _send(self, jobs: list[tuple[Work, Device]]) -> None:
        # The whole batch goes to the sender at once. It starts no send after the deadline,
        # well before the lease ends (those users stay due), and keeps at most `window`
        # pushes started and not yet recorded here (a chunk counts until the next
        # `results()` call); with a flush every FLUSH_EVERY records, a crash can repeat at
        # most `window + FLUSH_EVERY` pushes.
        deadline = monotonic() + self.lease_seconds / 2
        pushes = [
            PushJob(device.sub, work.message, work.ttl, payloads.topic_for(work.day))
            for work, device in jobs
        ]
        batch = self.sender.start(pushes, deadline=deadline, window=self.window)
        unsent: dict[str, Work] = {}
        last_flush, unflushed = monotonic(), 0
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
                        last_flush, unflushed = monotonic(), 0
                if monotonic() - last_flush >= FLUSH_INTERVAL:
                    self._flush()
                    last_flush, unflushed = monotonic(), 0
        finally:
            if not batch.done:  # a failed flush (database gone...): send nothing more
                batch.cancel()
        if unsent:
            self.report.released += len(unsent)
            claim.release(db.session, list(unsent), self.lease)

    def _record_result(self, work: Work, device: Device, result: PushResult) -> None:
        device.outcome = result.outcome
        if result.outcome == "sent":
            self.report.sent += 1
            device.last_sent_day = work.day
            self.outcomes.sent.append((device.id, work.day))
        elif result.outcome == "gone":
            self.report.gone += 1
            self.outcomes.gone.append(device.id)
        elif result.outcome == "retry":
            self.report.retry += 1
            device.retry_after = result.retry_after
        else:
            self.report.rejected += 1
            log.warning(
                "push refused for good: status=%s origin=%s", result.status, device.sub.origin
            )
        work.pending -= 1
        if work.pending == 0:
            self._settle(work)

    def _flush(self) -> None:
        """Commit everything learnt so far in one short transaction (fenced on the lease)."""
        if not self.outcomes:
            return
        lost = claim.write_outcomes(db.session, self.outcomes, self.lease, self.is_postgres)
        if lost:
            log.warning("%d users were reclaimed by another dispatcher; not writing them", lost)
        self.outcomes = claim.Outcomes()


def dispatch(now: datetime | None = None, sender: PushSender | None = None) -> DispatchReport:
    """Run one pass until no due user is left unclaimed; see the module docstring."""
    started = monotonic()
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
        partner_notices.dispatch_notices(sender, dispatcher.now, dispatcher.retry_seconds)
    finally:
        if own_sender:
            sender.close()
        db.session.rollback()
    report.seconds = monotonic() - started
    return report

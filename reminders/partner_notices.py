"""Send the pushes owed to partners (`partner_notices`), exactly once in the database.

Runs inside every reminder dispatch pass (reminders/dispatch.py calls `dispatch_notices`
after the daily reminders), so any number of dispatchers may run at once:
1. **Claim** notices one by one with a conditional UPDATE that sets a lease only while the
   notice is unsent and unleased: of several dispatchers exactly one wins each notice.
2. **Decide** again (together/notices.py): the link may have ended, the switch gone off, quiet
   hours begun, or the receiver practised since. Then the notice is settled without a push.
3. **Send** to each of the receiver's devices. The payload says only "<name> sent you a
   thank-you" or "<name> did today's practice": never a note's text.
4. **Settle or retry**, by the daily reminder's rule (`policy.settle`), with writes fenced on
   the lease, so a dispatcher whose lease ran out writes nothing:
   - a device accepted it: `sent_at` is written. A partial success counts: the person has
     seen it on one phone, and retrying the others would need a record per device (a table),
     or would push it again to the phone that has it;
   - no device accepted and one answered 429/5xx or not at all: the lease is moved to the
     retry time (its Retry-After, else REMINDER_RETRY_SECONDS, at least MIN_RETRY_SECONDS),
     so a pass after it claims the notice again, and step 2 decides afresh then;
   - that retry would come after the notice's deadline, or every device was gone (404/410,
     deleted) or refused it: `sent_at` is written without a push (given up).
   The deadline of a "did it" is the start of quiet hours (21:30) on the receiver's day in
   their zone, so it never arrives in quiet hours; a thank-you's is the end of the receiver's
   day after the notice's day (local midnight), a day and more to get through.
   A crash between 3 and 4 can repeat a push (as with reminders), with the same `tag`, so the
   device shows one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update

from content.calendar import zone
from models import PartnerNotice, PushSubscription, User, db
from reminders import payload as payloads
from reminders import policy
from reminders.jobs import PushResult, Subscription
from reminders.schedule import end_of_day, local_instant
from together.access import partner_of
from together.notices import DID_IT, QUIET_FROM, did_it_allowed

log = logging.getLogger("closer.reminders")

LEASE = timedelta(minutes=2)
BATCH = 200
THANKS_TTL = 24 * 3600


def dispatch_notices(sender, now: datetime, retry_seconds: float) -> int:
    """Send every notice that is due and unclaimed; returns how many pushes were accepted.
    `retry_seconds` is the wait after a 429/5xx without Retry-After (REMINDER_RETRY_SECONDS)."""
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    naive = now.replace(tzinfo=None)
    accepted = 0
    while ids := _claim(naive):
        lease = naive + LEASE
        for notice_id in ids:
            accepted += _deliver(sender, notice_id, now, lease, retry_seconds)
    return accepted


def _open(now):
    return (
        PartnerNotice.sent_at.is_(None),
        or_(PartnerNotice.lease_until.is_(None), PartnerNotice.lease_until < now),
    )


def _claim(now: datetime) -> list[int]:
    candidates = db.session.scalars(
        select(PartnerNotice.id).where(*_open(now)).order_by(PartnerNotice.id).limit(BATCH)
    ).all()
    mine = []
    for notice_id in candidates:
        won = db.session.execute(
            update(PartnerNotice)
            .where(PartnerNotice.id == notice_id, *_open(now))
            .values(lease_until=now + LEASE)
        )
        if won.rowcount == 1:
            mine.append(notice_id)
    db.session.commit()
    return mine


def _deliver(sender, notice_id: int, now: datetime, lease: datetime, retry_seconds: float) -> int:
    notice = db.session.get(PartnerNotice, notice_id)
    receiver = db.session.get(User, notice.receiver_id) if notice else None
    message = _message(notice, receiver, now) if receiver else None
    results = []
    if message is not None:
        results = _send(sender, receiver, message, _ttl(notice, receiver, now))
    values = {"sent_at": now.replace(tzinfo=None)}  # no push due, or no device to take it
    if results:
        values = _after_sending(notice, receiver, results, now, retry_seconds)
    db.session.execute(
        update(PartnerNotice)
        .where(PartnerNotice.id == notice_id, PartnerNotice.lease_until == lease)
        .values(**values)
    )
    db.session.commit()
    return sum(1 for r in results if r.outcome == "sent")


def _after_sending(
    notice: PartnerNotice, receiver: User, results: list[PushResult], now: datetime, wait: float
) -> dict:
    """What to write once every device has answered: `sent_at` (settled), or the retry's time
    as the lease, which keeps every pass off the notice until then."""
    accepted = any(r.outcome == "sent" for r in results)
    settlement = policy.settle(
        accepted=accepted,
        # A partial success is settled (module docstring): no retry once any device has it.
        retry_afters=[] if accepted else [r.retry_after for r in results if r.outcome == "retry"],
        devices_left=sum(1 for r in results if r.outcome != "gone"),
        now=now,
        day_end=_deadline(notice, receiver),
        default_wait=wait,
    )
    if settlement.action == policy.RETRY:
        return {"lease_until": settlement.retry_at.astimezone(UTC).replace(tzinfo=None)}
    return {"sent_at": now.replace(tzinfo=None)}


def _message(notice: PartnerNotice, receiver: User, now: datetime) -> dict | None:
    """What the push says, or None when the rules now say no push."""
    partner = partner_of(receiver)
    if partner is None:
        return None  # unlinked since: nothing of the other person any more
    if notice.kind == DID_IT:
        if did_it_allowed(receiver, now) != notice.day:
            return None
        body, tag = f"{partner.name} did today's practice", f"closer-did-{notice.day}"
    else:
        if not receiver.thanks_notifications:
            return None
        body, tag = f"{partner.name} sent you a thank-you", f"closer-thanks-{notice.id}"
    return {"title": "Closer", "body": body, "url": "/", "tag": tag}


def _deadline(notice: PartnerNotice, receiver: User) -> datetime:
    """The last moment worth a retry (module docstring): 21:30 on the receiver's day for a
    "did it", the end of the receiver's next day for a thank-you. Aware UTC."""
    tz = zone(receiver.time_zone)
    if notice.kind == DID_IT:
        return local_instant(notice.day, QUIET_FROM, tz)
    return end_of_day(notice.day + timedelta(days=1), tz)


def _ttl(notice: PartnerNotice, receiver: User, now: datetime) -> int:
    """A "did it" must never arrive in quiet hours: it expires at 21:30 on the receiver's day."""
    if notice.kind != DID_IT:
        return THANKS_TTL
    return max(0, int((_deadline(notice, receiver) - now).total_seconds()))


def _send(sender, receiver: User, message: dict, ttl: int) -> list[PushResult]:
    """Push to every usable device of the receiver; the devices that are gone are deleted."""
    rows = db.session.scalars(
        select(PushSubscription).where(PushSubscription.user_id == receiver.id)
    ).all()
    jobs = []
    for row in rows:
        try:
            jobs.append((Subscription(row.endpoint, row.p256dh, row.auth), row.id))
        except ValueError:
            continue  # a stored subscription that cannot be used; the reminders log it
    if not jobs:
        return []
    body = payloads.encode(message)
    results = sender.send_many([(sub, body, ttl, None) for sub, _ in jobs])
    gone = [row_id for (_, row_id), r in zip(jobs, results, strict=True) if r.outcome == "gone"]
    if gone:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(gone)))
    return results

"""The dispatcher's SQL: claim due users under a lease, write outcomes fenced on that lease.

1. **Claim** a batch atomically: one `UPDATE users SET reminder_lease_until = now + lease
   WHERE id IN (SELECT id ... WHERE next_reminder_at <= now AND lease expired ORDER BY
   next_reminder_at LIMIT n [FOR UPDATE SKIP LOCKED]) RETURNING ...`, committed at once. The
   inner select walks `ix_users_next_reminder_at` from its low end and stops after n due rows,
   so its cost does not grow with the users who are not due. Concurrent dispatchers skip each
   other's locked rows (PostgreSQL) or queue on the write lock (SQLite) and never claim the
   same user while a lease is live.
2. **Write** what a pass learnt in one short transaction (`write_outcomes`): devices that
   accepted D, devices gone, and, only for users whose lease is still the one we took (the
   fence), the `(user, D)` record and the user's next reminder. A dispatcher that lost its
   lease (it ran past it and another claimed the user) writes nothing about that user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models import Completion, PartnerLink, PushSubscription, ReminderSent, User


def claim_due(session, now: datetime, lease_seconds: int, limit: int, is_postgres: bool):
    """Lease up to `limit` due users; returns `(lease, rows)`, committed."""
    users = User.__table__
    lease = now + timedelta(seconds=lease_seconds)
    due = (
        select(users.c.id)
        .where(
            users.c.next_reminder_at <= now,
            or_(users.c.reminder_lease_until.is_(None), users.c.reminder_lease_until < now),
        )
        .order_by(users.c.next_reminder_at)
        .limit(limit)
    )
    if is_postgres:
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
    rows = session.execute(stmt).all()
    session.commit()
    return lease, rows


@dataclass(frozen=True)
class Loaded:
    """What the rules need about a claimed batch, beyond the claimed rows."""

    devices: list  # rows: id, user_id, endpoint, p256dh, auth, last_sent_day
    last_reminder: dict[str, date]  # user -> the last day recorded as reminded
    last_practice: dict[str, date]  # user -> the last day practised
    done_today: set[str]  # users who practised the day their reminder is for
    links: dict  # user -> (since, anchor) of their partner link: whose calendar names the day


def load(session, user_days: list[tuple[str, date]]) -> Loaded:
    """Five indexed queries for the whole batch of `(user id, day D)`."""
    ids = [uid for uid, _day in user_days]
    subs, sent, done = PushSubscription.__table__, ReminderSent.__table__, Completion.__table__
    devices = session.execute(
        select(subs.c.id, subs.c.user_id, subs.c.endpoint, subs.c.p256dh, subs.c.auth)
        .add_columns(subs.c.last_sent_day)
        .where(subs.c.user_id.in_(ids))
        .order_by(subs.c.id)
    ).all()
    last_reminder = session.execute(
        select(sent.c.user_id, func.max(sent.c.day))
        .where(sent.c.user_id.in_(ids))
        .group_by(sent.c.user_id)
    ).all()
    last_practice = session.execute(
        select(done.c.user_id, func.max(done.c.day))
        .where(done.c.user_id.in_(ids))
        .group_by(done.c.user_id)
    ).all()
    done_today = set()
    if user_days:
        pair = tuple_(done.c.user_id, done.c.day)
        done_today = set(session.scalars(select(done.c.user_id).where(pair.in_(user_days))))
    link = PartnerLink.__table__
    links = session.execute(
        select(link.c.user_id, link.c.since, link.c.anchor).where(link.c.user_id.in_(ids))
    ).all()
    links = {row.user_id: (row.since, row.anchor) for row in links}
    return Loaded(devices, dict(last_reminder), dict(last_practice), done_today, links)


@dataclass
class Outcomes:
    """What a pass has learnt and not yet written."""

    sent: list[tuple[int, date]] = field(default_factory=list)  # (device id, D)
    gone: list[int] = field(default_factory=list)  # device ids
    # (user id, next reminder at, its day D, every, unanswered)
    users: list[tuple[str, datetime | None, date | None, int, int]] = field(default_factory=list)
    records: list[tuple[str, date, datetime]] = field(default_factory=list)  # (user, D, at)

    def __bool__(self) -> bool:
        return bool(self.sent or self.gone or self.users or self.records)


def write_outcomes(session, outcomes: Outcomes, lease: datetime, is_postgres: bool) -> int:
    """Write and commit `outcomes`; user rows only where `lease` is still held (the fence).
    Returns how many users were not written because their lease was lost."""
    subs, users = PushSubscription.__table__, User.__table__
    for day, device_ids in _by_day(outcomes.sent).items():  # nearly always one day
        session.execute(update(subs).where(subs.c.id.in_(device_ids)).values(last_sent_day=day))
    if outcomes.gone:
        session.execute(delete(subs).where(subs.c.id.in_(outcomes.gone)))
    lost = 0
    if outcomes.users:
        held = held_by(session, [user[0] for user in outcomes.users], lease, is_postgres)
        lost = len(outcomes.users) - len(held)
        records = [
            {"user_id": uid, "day": day, "sent_at": at}
            for uid, day, at in outcomes.records
            if uid in held
        ]
        if records:
            insert = pg_insert if is_postgres else sqlite_insert
            ignore = insert(ReminderSent.__table__).on_conflict_do_nothing(
                index_elements=["user_id", "day"]
            )
            session.execute(ignore, records)
        names = ("uid", "next_at", "next_day", "every", "unanswered")
        writes = [dict(zip(names, user, strict=True)) for user in outcomes.users if user[0] in held]
        if writes:
            session.execute(
                update(users)
                .where(users.c.id == bindparam("uid"))
                .values(
                    next_reminder_at=bindparam("next_at"),
                    next_reminder_day=bindparam("next_day"),
                    reminder_every=bindparam("every"),
                    reminder_unanswered=bindparam("unanswered"),
                    reminder_lease_until=None,
                ),
                writes,
            )
    session.commit()
    return lost


def held_by(session, ids: list[str], lease: datetime, is_postgres: bool) -> set[str]:
    """Those of `ids` whose lease is still `lease` (locked until commit on PostgreSQL)."""
    users = User.__table__
    query = select(users.c.id).where(users.c.id.in_(ids), users.c.reminder_lease_until == lease)
    if is_postgres:
        query = query.with_for_update()
    return set(session.scalars(query))


def release(session, ids: list[str], lease: datetime) -> None:
    """Hand users back unsent (still due) if we still hold them."""
    users = User.__table__
    session.execute(
        update(users)
        .where(users.c.id.in_(ids), users.c.reminder_lease_until == lease)
        .values(reminder_lease_until=None)
    )
    session.commit()


def _by_day(sent: list[tuple[int, date]]) -> dict[date, list[int]]:
    groups: dict[date, list[int]] = {}
    for device_id, day in sent:
        groups.setdefault(day, []).append(device_id)
    return groups

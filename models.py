"""The database schema: typed SQLAlchemy 2 models with their behaviour on them.

Everything a user writes hangs off `user.id` with `ON DELETE CASCADE`, so deleting the user
row deletes every trace: idempotency keys, the reminder schedule, devices (one per browser)
with their push subscriptions, single-use codes, and Together's rows (read across two users
only through together/access.py).
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    event,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)

REFLECTION_MAX = 2000
THANKS_MAX = 140


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_user_id() -> str:
    """128 random bits: unguessable, so a leaked id in a log line cannot be enumerated."""
    return secrets.token_hex(16)


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_user_id)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # IANA zone; "UTC" until the browser tells us its own.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    time_zone_confirmed: Mapped[bool] = mapped_column(default=False)
    # Day 1, a local date. Never changes after the first action, so a date always keeps its
    # practice whatever the zone (no day skipped or repeated).
    first_date: Mapped[date] = mapped_column(Date)

    # Reminder schedule (read and written by the reminders package).
    reminder_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    reminder_paused_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    reminder_every: Mapped[int] = mapped_column(Integer, default=1)  # 1 daily, 2 every other day
    reminder_unanswered: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The user's local date that next_reminder_at is for. A retry after a 429/5xx moves the
    # instant but keeps the day, so a retry that runs late can never become "tomorrow's".
    next_reminder_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    reminder_lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    thanks_notifications: Mapped[bool] = mapped_column(default=True, server_default=true())
    partner_did_it_notifications: Mapped[bool] = mapped_column(default=True, server_default=true())

    completions: Mapped[list[Completion]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    reflections: Mapped[list[Reflection]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    subscriptions: Mapped[list[PushSubscription]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    devices: Mapped[list[Device]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    # This user's side of a partner link, loaded with the user (devices.signed_in), so a page
    # asks for it once; None while not linked. Written only through together/links.py.
    partner_link: Mapped[PartnerLink | None] = relationship(
        foreign_keys="PartnerLink.user_id", viewonly=True
    )

    __table_args__ = (
        # The dispatcher's claim scans only users that are due: a partial-style index on the
        # instant keeps the claim cost independent of how many users are not due.
        Index("ix_users_next_reminder_at", "next_reminder_at"),
        # The daily claim rewrites each due user's row; 10% free space per page lets
        # PostgreSQL update it in place (HOT) instead of touching both indexes again.
        {"postgresql_with": {"fillfactor": 90}},
    )

    def has_activity(self) -> bool:
        return bool(self.completions or self.reflections)


class Completion(db.Model):
    """A day marked done. One row per user and local date; undo deletes it."""

    __tablename__ = "completions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    practice_id: Mapped[str] = mapped_column(String(40))
    done_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="completions")

    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_completion_user_day"),)


class Reflection(db.Model):
    """What the user wrote about a day's practice. One per user and date, editable."""

    __tablename__ = "reflections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    practice_id: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # "Share with <name>": off by default; together/access.py decides who may see it.
    shared: Mapped[bool] = mapped_column(default=False, server_default=false())

    user: Mapped[User] = relationship(back_populates="reflections")

    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_reflection_user_day"),)


class AppliedWrite(db.Model):
    """Idempotency keys: the outbox may replay a write any number of times (flapping
    network, two tabs); its client UUID makes every replay after the first a no-op."""

    __tablename__ = "applied_writes"

    key: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    applied_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Device(db.Model):
    """One browser signed in to a user. The session cookie holds a random token; this row
    keeps only its SHA-256 (`token_hash`, looked up by its unique index on every request),
    so a copy of the database cannot sign anyone in. `id` is a separate random id that
    pages show (the Remove buttons), never the token."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_user_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(80))  # "Chrome on Android", from the User-Agent
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Day precision on purpose: updated at most once a day, not on every request.
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="devices")


class Code(db.Model):
    """A single-use secret a person passes to someone (or to their own other phone): kind
    "device" (use on another device, 10 minutes) or "invite" (a partner invite, issue 15).
    Only the SHA-256 of the code is stored; `used_at` is set once, atomically, on use."""

    __tablename__ = "codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # What the code's maker chose to be called (a partner invite's name); None for devices.
    label: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class PushSubscription(db.Model):
    """One browser/device that accepts our pushes. A user may have several."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The browser that subscribed: removing the device removes its reminders. Null for
    # subscriptions made before devices existed (they stay with the user).
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True, nullable=True
    )
    endpoint: Mapped[str] = mapped_column(String(1024), unique=True)
    p256dh: Mapped[str] = mapped_column(String(128))
    auth: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The local date whose reminder this device has accepted (push service answered 2xx).
    # With several devices, a retry for one of them never re-sends to the others.
    last_sent_day: Mapped[date | None] = mapped_column(Date, nullable=True)

    user: Mapped[User] = relationship(back_populates="subscriptions")


class ReminderSent(db.Model):
    """(user, local date) once: the unique constraint is what makes a reminder exactly-once."""

    __tablename__ = "reminders_sent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_reminder_user_day"),)


class PartnerLink(db.Model):
    """One side of a couple (a link is two rows, one per person). The primary key and the
    unique `partner_id` make one partner at a time a database rule; both columns cascade, so
    deleting either person unlinks. `partner_name`: what the partner chose to be called, NULL
    for none ("your partner"); `since`: the joiner's local date of joining, when the shared
    calendar starts; `anchor`: its Day 1, the inviter's own, so the inviter's days never move."""

    __tablename__ = "partner_links"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    partner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    partner_name: Mapped[str | None] = mapped_column(String(40), nullable=True)
    since: Mapped[date] = mapped_column(Date)
    anchor: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ThankYou(db.Model):
    """A note between partners; `day` is the sender's local date (three a day)."""

    __tablename__ = "thank_yous"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    receiver_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(String(THANKS_MAX))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    seen_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class PartnerNotice(db.Model):
    """A push owed to a partner, kind "thanks" or "did_it", sent once under a lease
    (reminders/partner_notices.py). `once` is unique: per thank-you, per receiver's day."""

    __tablename__ = "partner_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receiver_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    day: Mapped[date] = mapped_column(Date)  # the receiver's local date
    once: Mapped[str] = mapped_column(String(80), unique=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)


# Every table holding a user's rows, for export and the delete check (Together's: together/).
USER_TABLES = (Completion, Reflection, AppliedWrite, Device, Code, PushSubscription, ReminderSent)


def init_app(app: Flask) -> None:
    """Bind the database to the app (create_app calls this); SQLite files get their pragmas
    on every new connection."""
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL lets readers and one writer work at once; the busy timeout makes writers queue
    instead of failing; foreign keys make ON DELETE CASCADE real on SQLite."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()

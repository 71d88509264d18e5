"""Thank-you notes between partners: send (three presets or your own words, at most 140
characters, at most three a day), the receiver's unseen notes, and closing one.

A thank-you may come through the offline outbox, replayed any number of times: like the
practice writes it carries a client UUID, recorded once in `applied_writes`, so it is stored
exactly once. Only the current partner's notes are ever shown (unlinking hides them), and a
push about one says only "<name> sent you a thank-you": the text stays here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func, select

import idempotency
from days import user_today
from models import THANKS_MAX, ThankYou, User, db
from together.access import partner_of
from together.notices import owe_thanks

PER_DAY = 3
PRESETS = (
    "Thank you for doing this with me.",
    "I loved our moment today.",
    "I noticed your effort. Thank you.",
)


class ThanksRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


NOT_LINKED = ThanksRefused(404, "You are not linked with a partner, so there is no one to thank.")
EMPTY = ThanksRefused(422, "Pick one of the lines or write your own.")
TOO_LONG = ThanksRefused(422, f"A thank-you can be up to {THANKS_MAX} characters.")
BAD_TEXT = ThanksRefused(422, "This thank-you contains characters we cannot store.")
# 422, not 429: a client (the outbox, static/js/replay.js) retries a 429 later, and this is a
# refusal for the day; replayed, it is dropped with a notice that gives this reason.
TOO_MANY = ThanksRefused(
    422, f"You have sent {PER_DAY} thank-yous today, the most for one day. Try tomorrow."
)


def clean_text(preset: str, own: str) -> str:
    """The note: the person's own words if they wrote some, else the preset they picked."""
    text = " ".join(own.split()) or preset.strip()
    if not text:
        raise EMPTY
    if len(text) > THANKS_MAX:
        raise TOO_LONG
    if "\x00" in text:
        raise BAD_TEXT
    return text


def sent_today(sender_id: str, today: date) -> int:
    query = select(func.count(ThankYou.id)).where(
        ThankYou.sender_id == sender_id, ThankYou.day == today
    )
    return db.session.scalar(query) or 0


def left_today(sender: User | None) -> int:
    """How many more thank-yous the sender may send on their today."""
    if sender is None:
        return 0
    return max(0, PER_DAY - sent_today(sender.id, user_today(sender)))


def send(sender: User, text: str, today: date, now: datetime, key: str | None) -> ThankYou | None:
    """Store a thank-you to the sender's partner; None when `key` was applied before (a
    replay, a no-op). `today` is the sender's local date. The caller commits."""
    partner = partner_of(sender)
    if partner is None:
        raise NOT_LINKED
    if key is not None and not _claim(sender, key, now):
        return None
    if sent_today(sender.id, today) >= PER_DAY:
        raise TOO_MANY
    note = ThankYou(
        sender_id=sender.id, receiver_id=partner.user.id, day=today, text=text, created_at=now
    )
    db.session.add(note)
    db.session.flush()
    owe_thanks(note, now.replace(tzinfo=UTC))
    return note


def _claim(sender: User, key: str, now: datetime) -> bool:
    """Record the outbox key as the practice writes do; False for a replay (a no-op)."""
    try:
        return idempotency.claim(sender.id, key, "thanks", now)
    except idempotency.KeyOfAnotherUser:
        raise ThanksRefused(409, "This change was already used. Reload and try again.") from None


@dataclass(frozen=True)
class Note:
    id: int
    text: str
    name: str  # who sent it, as the reader calls them, as a sentence starts
    name_mid: str  # the same in mid-sentence


def unseen(user: User | None) -> list[Note]:
    """Thank-yous from the current partner the user has not closed yet, oldest first."""
    partner = partner_of(user)
    if partner is None:
        return []
    query = (
        select(ThankYou)
        .where(
            ThankYou.receiver_id == user.id,
            ThankYou.sender_id == partner.user.id,
            ThankYou.seen_at.is_(None),
        )
        .order_by(ThankYou.id)
    )
    notes = db.session.scalars(query)
    return [Note(t.id, t.text, partner.name, partner.name_mid) for t in notes]


def mark_seen(user: User, note_id: int, now: datetime) -> bool:
    """Close a note the user received from their current partner; False for any other id
    (someone else's note, an old partner's, none at all). The caller commits."""
    partner = partner_of(user)
    if partner is None:
        return False
    note = db.session.get(ThankYou, note_id)
    if note is None or note.receiver_id != user.id or note.sender_id != partner.user.id:
        return False
    if note.seen_at is None:
        note.seen_at = now
    return True

"""Single-use codes a person passes on by hand, by link or by QR code: make, read, redeem.

One table (`models.Code`) serves every kind: "device" codes (use Closer on another device,
valid 10 minutes) and "invite" codes (a partner invite, issue 15, valid 7 days). No HTTP
here: the blueprints turn a `CodeRefused` into a 4xx page.

A code is 12 characters from Crockford's base32 alphabet without 0 and 1 (Crockford already
leaves out I, L, O and U), so nothing can be misread: 30 symbols, 30**12 = 5.3e17 codes, or
58.9 bits of entropy. People see it in groups of four ("K7QX-3MPA-W9RT") and may type it in
any case, with or without spaces and dashes. Only its SHA-256 is stored: a copy of the
database cannot be used to link a phone. A plain hash (no salt, no slow hash) is enough
because the code is random and long, not chosen by a person.

An invite travels only as a link (nobody types it) and lives a week, so it is longer: 27
symbols of the same alphabet, 30**27 = 2**132.5, at least the 128 bits issue 15 asks for.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from models import Code, db

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
GROUP = 4
DEVICE = "device"
INVITE = "invite"
LENGTHS = {DEVICE: LENGTH, INVITE: 27}
LIFETIMES = {DEVICE: timedelta(minutes=10), INVITE: timedelta(days=7)}


class CodeRefused(Exception):
    """A code that cannot be used; `status` is the HTTP status a page should answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


NOT_A_CODE = CodeRefused(
    404, "That code is not one we know. Check it against your other phone, or make a new one."
)
USED = CodeRefused(
    410,
    "That code has been used already. Each code works once: make a new one on your other phone.",
)
EXPIRED = CodeRefused(
    410, "That code has expired: codes last 10 minutes. Make a new one on your other phone."
)


def new_code(length: int = LENGTH) -> str:
    """A fresh code, ungrouped: `length` symbols drawn by `secrets`."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def grouped(code: str) -> str:
    """The code as people read it: "K7QX-3MPA-W9RT"."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalise(text: str, length: int = LENGTH) -> str | None:
    """The code someone typed, or None when it cannot be one: case, spaces and dashes do not
    matter; anything else outside the alphabet does."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t")
    if len(cleaned) != length or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def make(user_id: str, kind: str, now: datetime, label: str | None = None) -> str:
    """A new code of `kind` for the user, replacing every earlier code of that kind they
    made (open or not): at most one open code per person and kind, and the table does not
    grow. Returns the code itself, which is never stored. The caller commits."""
    db.session.execute(delete(Code).where(Code.user_id == user_id, Code.kind == kind))
    code = new_code(LENGTHS[kind])
    db.session.add(
        Code(
            kind=kind,
            token_hash=token_hash(code),
            user_id=user_id,
            label=label,
            created_at=now,
            expires_at=now + LIFETIMES[kind],
        )
    )
    return code


@dataclass(frozen=True)
class OpenCode:
    id: int
    user_id: str
    label: str | None


def find(text: str, kind: str, now: datetime) -> OpenCode:
    """The open code `text` names, or CodeRefused (404 unknown, 410 used or expired)."""
    code = normalise(text, LENGTHS[kind])
    if code is None:
        raise NOT_A_CODE
    row = db.session.scalar(
        select(Code).where(Code.token_hash == token_hash(code), Code.kind == kind)
    )
    if row is None:
        raise NOT_A_CODE
    if row.used_at is not None:
        raise USED
    if row.expires_at <= now:
        raise EXPIRED
    return OpenCode(id=row.id, user_id=row.user_id, label=row.label)


def redeem(text: str, kind: str, now: datetime) -> OpenCode:
    """Use the code, once: a conditional UPDATE marks it used only while it is still open,
    so of two phones redeeming it at the same moment exactly one wins (the other gets
    USED). The caller does the rest of the work in the same transaction and commits."""
    found = find(text, kind, now)
    claimed = db.session.execute(
        update(Code)
        .where(Code.id == found.id, Code.used_at.is_(None), Code.expires_at > now)
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise USED
    return found

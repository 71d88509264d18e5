"""Idempotency keys (models.AppliedWrite): each client-generated UUID is applied at most once.

The offline outbox may replay a write any number of times (a lost answer, a flapping
network, two tabs); the key makes every replay after the first a no-op. A key also names the
write it came with: a form the offline layer draws after a write that is still waiting says
its text follows that write (revision "key:<uuid>", see revisions.py), and once that write
is applied, `applied_at` tells which revision it made (the write stores the same instant).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError

from models import AppliedWrite, db


class KeyOfAnotherUser(Exception):
    """The key was applied for someone else: never a replay of this user's write."""


def claim(user_id: str, key: str, kind: str, stamp: datetime) -> bool:
    """Record the key as applied at `stamp`; False if it was applied before (a replay)."""
    existing = db.session.get(AppliedWrite, key)
    if existing is not None:
        if existing.user_id != user_id:
            raise KeyOfAnotherUser(key)
        return False
    db.session.add(AppliedWrite(key=key, user_id=user_id, kind=kind, applied_at=stamp))
    try:
        db.session.flush()
    except IntegrityError:
        # Another request with the same key won the race: this one is the replay.
        db.session.rollback()
        return False
    return True


def applied_at(user_id: str, key: str, kind: str) -> datetime | None:
    """When this user's write with `key` (of `kind`) was applied; None if it was not (or
    its record has been pruned)."""
    row = db.session.get(AppliedWrite, key)
    if row is None or row.user_id != user_id or row.kind != kind:
        return None
    return row.applied_at

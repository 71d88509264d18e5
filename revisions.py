"""The revision rule: a write never replaces what its page did not show.

Every page that can write a day's reflection, or undo its Done, is rendered with the
revision of what it shows: the reflection's `updated_at`, or the completion's `done_at`, as
integer microseconds since the epoch ("0" when there is none). The write sends it back in a
hidden `revision` field. The server compares it with the current revision:

- a reflection write is applied when the revisions match, when the new text equals the
  stored one (nothing changes), or when nothing is stored (nothing can be lost); otherwise it
  is a conflict: refused, nothing changed, and the person sees both texts;
- an Undo is applied when the revisions match; when the day is not done it is a no-op; when
  the day was marked done again after the page was drawn, it is refused (still done);
- a write without a revision (a page cached before revisions existed, an outbox entry queued
  on a phone before then, or a form the offline layer drew from its template) is "unknown":
  a reflection is applied only under the two content rules above, an Undo always (the
  person asked for it, and no words are lost by it);
- "key:<uuid>" names instead the write (its idempotency key) whose text the form shows: the
  offline layer draws such a form after a reflection that is still waiting in the outbox, so
  a second edit made offline follows the first without a conflict. The revision is the one
  that write made once applied (idempotency.applied_at), else unknown.

Pure logic on values: no HTTP, no database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

NONE = "0"  # the revision of a reflection or completion that does not exist
KEY_PREFIX = "key:"  # a revision naming the write it follows
_EPOCH = datetime(1970, 1, 1)
_MAX_DIGITS = 20


class BrokenRevision(ValueError):
    """A revision field that is neither empty nor a revision we wrote."""


def revision_of(stamp: datetime | None) -> str:
    """The revision a page carries for a row last written at `stamp` (naive UTC)."""
    if stamp is None:
        return NONE
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(UTC).replace(tzinfo=None)
    delta = stamp - _EPOCH
    return str((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def parse_revision(raw: str | None) -> str | None:
    """The revision a write was based on, or None when it did not say (unknown)."""
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if raw.startswith(KEY_PREFIX):
        try:
            return KEY_PREFIX + str(uuid.UUID(raw.removeprefix(KEY_PREFIX)))
        except ValueError:
            raise BrokenRevision(raw) from None
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_DIGITS:
        raise BrokenRevision(raw)
    return str(int(raw))


def reflection_conflicts(base: str | None, current: str, stored: str, text: str) -> bool:
    """True when writing `text` on a page drawn at revision `base` would replace `stored`
    (at revision `current`), words the writer's page never showed."""
    if text == stored or stored == "":
        return False
    return base != current


def undo_is_stale(base: str | None, current: str) -> bool:
    """True when an Undo from a page drawn at `base` would undo a newer Done (`current`)."""
    if base is None or current == NONE:
        return False
    return base != current

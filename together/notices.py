"""Which pushes a partner is owed, decided when something happens (issue 15, items 4-5).

- A thank-you: one notice per note, unless the receiver switched thank-you notifications off.
- "<name> did it": when someone marks today done, their partner is owed at most one a day
  (the unique `once` key), only outside quiet hours (21:30-08:00 in the receiver's zone:
  then it is not sent at all, not postponed), only if the receiver has not practised that
  day, and only with the receiver's switch on.
The dispatcher (reminders/partner_notices.py) checks the same rules again when it sends,
because time passes and the receiver may practise in between.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from content.calendar import now_utc, zone
from days import user_today
from models import Completion, PartnerNotice, ThankYou, User, db
from together.access import partner_of

QUIET_FROM = time(21, 30)
QUIET_UNTIL = time(8, 0)
THANKS = "thanks"
DID_IT = "did_it"


def is_quiet(receiver: User, now: datetime) -> bool:
    """21:30 to 08:00 on the receiver's clock. `now` is aware UTC."""
    local = now.astimezone(zone(receiver.time_zone)).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def practised(user: User, day: date) -> bool:
    query = select(Completion.id).where(Completion.user_id == user.id, Completion.day == day)
    return db.session.scalar(query) is not None


def did_it_allowed(receiver: User, now: datetime) -> date | None:
    """The receiver's day a "did it" may be sent for now, or None when the rules say no."""
    day = user_today(receiver, now)
    if not receiver.partner_did_it_notifications or is_quiet(receiver, now):
        return None
    return None if practised(receiver, day) else day


def owe_thanks(note: ThankYou, now: datetime) -> None:
    """Queue the push for a thank-you just stored (flushed, so it has an id)."""
    receiver = db.session.get(User, note.receiver_id)
    if receiver is None or not receiver.thanks_notifications:
        return
    day = user_today(receiver, now)
    _add(PartnerNotice(receiver_id=receiver.id, kind=THANKS, day=day, once=f"thanks-{note.id}"))


def owe_did_it(doer: User, now: datetime | None = None) -> None:
    """Queue "<name> did it" for the doer's partner, if the rules allow. The lead calls this
    where a day is marked done (one line in blueprints/practice.py's _apply_done)."""
    now = now or now_utc()
    partner = partner_of(doer)
    if partner is None:
        return
    day = did_it_allowed(partner.user, now)
    if day is None:
        return
    once = f"did-{partner.user.id}-{day.isoformat()}"
    _add(PartnerNotice(receiver_id=partner.user.id, kind=DID_IT, day=day, once=once))


def _add(notice: PartnerNotice) -> None:
    """Insert unless its `once` key exists: a savepoint keeps the caller's transaction."""
    try:
        with db.session.begin_nested():
            db.session.add(notice)
    except IntegrityError:
        pass  # already owed (the second "did it" of a day, a replayed thank-you)

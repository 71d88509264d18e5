"""THE one place where a read crosses from one user to another. Nothing else in the app
queries a partner's rows: the privacy story of Together is this file and its tests.

The rules (issue 15, item 6):
- only while linked now (`partner_of`), and only for dates since the link began;
- a partner's Done state for a date;
- a partner's reflection only if they switched "Share with <name>" on AND the reader has
  saved their own reflection for that date (mutual reveal); switching it off hides it at
  once, because nothing is copied: every read asks again;
- thank-yous only from the current partner (together/thanks.py asks `partner_of` first);
- the name the partner sees the reader as (`shown_as`): a column of the partner's row, but
  it names the reader, who chose it and may change it (together/links.py `rename`).
Nothing else of either person (unshared reflections, reminders, devices, the export) is
ever read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, select
from sqlalchemy.orm import aliased

from models import Completion, PartnerLink, Reflection, User, db
from together.names import called


@dataclass(frozen=True)
class Partner:
    link: PartnerLink  # the reader's side: partner_name is what the reader calls them
    user: User

    @property
    def name(self) -> str:
        """The partner's name as a sentence starts ("Your partner" when they gave none)."""
        return called(self.link.partner_name, start=True)

    @property
    def name_mid(self) -> str:
        """The same in mid-sentence ("Share with your partner")."""
        return called(self.link.partner_name, start=False)


def partner_of(user: User | None) -> Partner | None:
    """The user's partner while they are linked, else None."""
    if user is None:
        return None
    link = user.partner_link
    if link is None:
        return None
    partner = db.session.get(User, link.partner_id)
    return Partner(link=link, user=partner) if partner is not None else None


def shown_as(user: User | None) -> str | None:
    """The name the user's partner sees them as (None: no name, or not linked)."""
    partner = partner_of(user)
    if partner is None or partner.user.partner_link is None:
        return None
    return partner.user.partner_link.partner_name


@dataclass(frozen=True)
class PartnerDay:
    """What the reader may see of their partner's `day`."""

    name: str  # as a sentence starts: every line of the partner part begins with it
    day: date
    done: bool
    # The partner's shared reflection, only once the reader has written their own.
    reflection: str | None
    # The partner shared one the reader cannot see yet: "write yours to see theirs".
    waiting: bool


def partner_view(user: User | None, day: date) -> PartnerDay | None:
    """The partner's `day` as the reader may see it, or None (not linked, or a date before
    the link began: what happened before was not shared)."""
    partner = partner_of(user)
    if partner is None or day < partner.link.since:
        return None
    done = select(Completion.id).where(Completion.user_id == partner.user.id, Completion.day == day)
    theirs = select(Reflection.text).where(
        Reflection.user_id == partner.user.id, Reflection.day == day, Reflection.shared
    )
    mine = select(Reflection.id).where(Reflection.user_id == user.id, Reflection.day == day)
    query = select(done.exists(), theirs.scalar_subquery(), mine.exists())
    is_done, shared_text, wrote = db.session.execute(query).one()
    return PartnerDay(
        name=partner.name,
        day=day,
        done=bool(is_done),
        reflection=shared_text if shared_text is not None and wrote else None,
        waiting=shared_text is not None and not wrote,
    )


def days_both_practised(user: User | None) -> list[date]:
    """The dates since the link began on which both partners marked the practice done
    (Progress shows the count and marks them on the calendar). Empty when not linked."""
    partner = partner_of(user)
    if partner is None:
        return []
    theirs = aliased(Completion)
    query = (
        select(Completion.day)
        .join(
            theirs,
            and_(theirs.day == Completion.day, theirs.user_id == partner.user.id),
        )
        .where(Completion.user_id == user.id, Completion.day >= partner.link.since)
        .order_by(Completion.day)
    )
    return list(db.session.scalars(query))


def set_shared(user: User, day: date, shared: bool) -> bool:
    """Switch "Share with <name>" on the user's own reflection of `day`; False when they
    have none that day. Only the user's own row is touched. The caller commits."""
    row = db.session.scalar(
        select(Reflection).where(Reflection.user_id == user.id, Reflection.day == day)
    )
    if row is None:
        return False
    row.shared = shared
    return True


def own_share_state(user: User | None, day: date) -> bool | None:
    """Whether the user's own reflection of `day` is shared; None when they wrote none."""
    if user is None:
        return None
    query = select(Reflection.shared).where(Reflection.user_id == user.id, Reflection.day == day)
    return db.session.scalar(query)

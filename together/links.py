"""Making, naming and ending a partner link: invite, join, rename, unlink.

An invite is a `codes` row of kind "invite" (27 symbols, 132 bits, hashed, single use, 7
days; a new one replaces the open one) whose label is the name the inviter chose. Joining
redeems it and writes the link's two rows in one transaction; the primary key on
`partner_links.user_id` and the unique `partner_id` make "one partner at a time" hold even
when two joins race. A name is optional: none is stored as NULL (together/names.py words it).

Renaming yourself writes your partner's row (what they call you): besides making and ending
a link, the one write to the other person's data, and only to that column of that row.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

import codes
from models import Code, PartnerLink, User, db
from together.names import called

NAME_MAX = 40


class LinkRefused(Exception):
    """An invite or join that cannot go ahead; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# A replaced invite is deleted (codes.make), so it cannot be told from a mistyped link.
UNKNOWN = LinkRefused(
    404,
    "We do not know this invite. It may have been replaced by a newer one, or the link may be"
    " incomplete. Ask your partner to send you their latest invite link.",
)
USED = LinkRefused(410, "This invite has been used already. Ask your partner for a new one.")
EXPIRED = LinkRefused(410, "This invite has expired: invites last 7 days. Ask for a new one.")
OWN = LinkRefused(409, "This is your own invite. Send the link to your partner's phone.")
TAKEN = LinkRefused(409, "This invite can no longer be used. Ask your partner for a new one.")
BAD_NAME = LinkRefused(
    422, f"Names can be up to {NAME_MAX} letters, with no special control characters."
)

_FROM_CODES = {codes.NOT_A_CODE: UNKNOWN, codes.USED: USED, codes.EXPIRED: EXPIRED}


def clean_name(text: str) -> str | None:
    """The name someone chose, tidied (spaces collapsed), or BAD_NAME. None when they gave
    none: they are then called "your partner"."""
    name = " ".join(text.split())
    if len(name) > NAME_MAX or any(unicodedata.category(ch).startswith("C") for ch in name):
        raise BAD_NAME
    return name or None


def link_of(user_id: str) -> PartnerLink | None:
    return db.session.get(PartnerLink, user_id)


def invite(user: User, name: str, now: datetime) -> str:
    """A new invite (replacing the open one) carrying the name the partner will see; returns
    the token, which is never stored. Refused while linked. The caller commits."""
    if link_of(user.id) is not None:
        raise LinkRefused(409, "You already practise with a partner. Unlink first to invite.")
    return codes.make(user.id, codes.INVITE, now, label=clean_name(name))


def open_invite(user_id: str, now: datetime) -> Code | None:
    """The user's invite that can still be used, if any (Settings says until when)."""
    return db.session.scalar(
        select(Code).where(
            Code.user_id == user_id,
            Code.kind == codes.INVITE,
            Code.used_at.is_(None),
            Code.expires_at > now,
        )
    )


@dataclass(frozen=True)
class Invitation:
    inviter: User
    chosen: str | None  # what the inviter chose to be called, if anything

    @property
    def name(self) -> str:
        return called(self.chosen, start=True)

    @property
    def name_mid(self) -> str:
        return called(self.chosen, start=False)


def find(token: str, visitor: User | None, now: datetime) -> Invitation:
    """The invite `token` names, checked against who is asking (LinkRefused otherwise)."""
    try:
        found = codes.find(token, codes.INVITE, now)
    except codes.CodeRefused as refused:
        raise _FROM_CODES.get(refused, UNKNOWN) from None
    inviter = db.session.get(User, found.user_id)
    if inviter is None:
        raise UNKNOWN
    if visitor is not None and visitor.id == inviter.id:
        raise OWN
    if visitor is not None and (link := link_of(visitor.id)) is not None:
        raise LinkRefused(
            409,
            f"You already practise with {called(link.partner_name, start=False)}. "
            "To join someone else, unlink first in Settings.",
        )
    if link_of(inviter.id) is not None:
        raise TAKEN
    return Invitation(inviter=inviter, chosen=found.label)


def join(visitor: User, token: str, name: str, today: date, now: datetime) -> PartnerLink:
    """Link the visitor to the invite's maker from `today` (the visitor's local date): both
    then follow the inviter's calendar, so the inviter's days never move and the visitor's
    past keeps its own practices. Refusals change nothing. Commits."""
    chosen = clean_name(name)
    invitation = find(token, visitor, now)
    try:
        codes.redeem(token, codes.INVITE, now)
    except codes.CodeRefused as refused:
        raise _FROM_CODES.get(refused, USED) from None
    anchor = invitation.inviter.first_date
    mine = PartnerLink(
        user_id=visitor.id,
        partner_id=invitation.inviter.id,
        partner_name=invitation.chosen,
        since=today,
        anchor=anchor,
    )
    theirs = PartnerLink(
        user_id=invitation.inviter.id,
        partner_id=visitor.id,
        partner_name=chosen,
        since=today,
        anchor=anchor,
    )
    db.session.add_all([mine, theirs])
    # Neither may keep an invite open: it would offer a second partner. (The used one stays,
    # so opening it again says "used", not "unknown".)
    db.session.execute(
        delete(Code).where(
            Code.kind == codes.INVITE,
            Code.used_at.is_(None),
            Code.user_id.in_([visitor.id, invitation.inviter.id]),
        )
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another join won the race for one of the two people
        raise TAKEN from None
    return mine


def unlink(user: User) -> bool:
    """End the link for both people at once; each keeps their own history. The caller
    commits. False if there was no link."""
    link = link_of(user.id)
    if link is None:
        return False
    db.session.execute(
        delete(PartnerLink).where(PartnerLink.user_id.in_([user.id, link.partner_id]))
    )
    return True


def rename(user: User, name: str) -> bool:
    """Change the name the user's partner sees them as (empty: none, "your partner"). Only
    the current partner's row is written, and only its `partner_name`. False when not
    linked; BAD_NAME changes nothing. The caller commits."""
    mine = link_of(user.id)
    theirs = link_of(mine.partner_id) if mine is not None else None
    if theirs is None:
        return False
    theirs.partner_name = clean_name(name)
    return True

"""What a person's export holds about Together: their link (the partner's chosen name, null
when they chose none, and the dates, never the partner's id), the thank-yous they sent and
received, and which of their reflections are shared (the reflections themselves are
exported as before, with their `shared` column). Nothing of the partner beyond the notes
they sent this person."""

from __future__ import annotations

from sqlalchemy import or_, select

from models import PartnerLink, ThankYou, User, db


def export_together(user: User) -> dict:
    link = db.session.get(PartnerLink, user.id)
    notes = db.session.scalars(
        select(ThankYou)
        .where(or_(ThankYou.sender_id == user.id, ThankYou.receiver_id == user.id))
        .order_by(ThankYou.id)
    )
    return {
        "link": None
        if link is None
        else {
            "partner_name": link.partner_name,
            "since": link.since.isoformat(),
        },
        "thank_yous": [
            {
                "direction": "sent" if note.sender_id == user.id else "received",
                "day": note.day.isoformat(),
                "text": note.text,
                "created_at": note.created_at.isoformat() + "Z",
                "seen": note.seen_at is not None,
            }
            for note in notes
        ],
        "thanks_notifications": user.thanks_notifications,
        "partner_did_it_notifications": user.partner_did_it_notifications,
    }

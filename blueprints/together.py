"""Together (issue 15): the partner pages. Invite, join by link, No thanks, unlink, the name
your partner sees you as, the two notification switches, "Share with <name>" on a
reflection, the partner's state for a day, and thank-yous.

The rules live in together/ (links, access, thanks); every read of the partner goes through
together/access.py. The Today card and Settings draw partials that ask the template globals
below for what they show, so the lead's views pass nothing new.

Brute force on invites is hopeless (132-bit tokens) but joins are still rate-limited, per
client address and per visitor, like device codes.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

import codes
from content.calendar import now_utc, zone
from days import DayOutOfReach, user_today, viewable_day
from identity import current_user, require_user, stored_now, wants_fragment, write_key
from models import db
from qr import qr_code
from security import limit_guesses, limit_writes, limiter
from together import access, links, thanks
from together.calendar import together_day

bp = Blueprint("together", __name__, url_prefix="/together")

JOIN_PER_CLIENT = "30 per 10 minutes"
JOIN_PER_VISITOR = "10 per 10 minutes"
NEW_INVITES_PER_USER = "5 per 10 minutes"


limit_join_guesses = limit_guesses("join", JOIN_PER_CLIENT, JOIN_PER_VISITOR)


@bp.after_request
def _private(response):
    """Invites are secrets and partner state must be fresh on every online load."""
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------- template globals


@bp.app_template_global()
def your_partner() -> access.Partner | None:
    """The visitor's partner (for Settings and the offer), or None."""
    return access.partner_of(g.get("user"))


@bp.app_template_global()
def partner_today(day=None) -> access.PartnerDay | None:
    """The partner's state for `day` (default the visitor's today), for the Today card."""
    user = g.get("user")
    if user is None:
        return None
    return access.partner_view(user, day or user_today(user))


@bp.app_template_global()
def day_together(day) -> int | None:
    partner = your_partner()
    return together_day(partner.link if partner else None, day)


@bp.app_template_global()
def open_invite_until():
    user = g.get("user")
    found = links.open_invite(user.id, stored_now()) if user is not None else None
    return found.expires_at if found is not None else None


@bp.app_template_global()
def checked_at() -> str:
    """The time the partner's state was read, in the visitor's zone ("as of 08:10")."""
    user = g.get("user")
    return now_utc().astimezone(zone(user.time_zone if user else "UTC")).strftime("%H:%M")


def _visitors(read):
    """`read(user, ...)` as a template global: always of the visitor's own (g.user)."""
    return lambda *args: read(g.get("user"), *args)


# The dates both partners practised since the link began (Progress: count, calendar); the
# partner's thank-yous not yet closed; whether the visitor's reflection of a day is shared;
# how many more thank-yous today allows.
bp.add_app_template_global(_visitors(access.days_both_practised), "days_together")
bp.add_app_template_global(_visitors(thanks.unseen), "thanks_to_show")
bp.add_app_template_global(_visitors(access.own_share_state), "reflection_shared")
bp.add_app_template_global(_visitors(thanks.left_today), "thanks_left")
bp.add_app_template_global(uuid.uuid4, "thanks_key")
bp.add_app_template_global(thanks.PRESETS, "thanks_presets")
bp.add_app_template_global(thanks.PER_DAY, "thanks_per_day")
bp.add_app_template_global(access.shown_as, "shown_as")  # shown_as(g.user): the rename form


# ---------------------------------------------------------------- pages


@bp.get("")
def index():
    return render_template("together/index.html")


@bp.post("/invite")
@limit_writes
@limiter.limit(NEW_INVITES_PER_USER)
def invite():
    user = require_user()
    try:
        token = links.invite(user, request.form.get("name", ""), stored_now())
    except links.LinkRefused as refused:
        html = render_template("together/index.html", error=refused.message)
        return html, refused.status
    db.session.commit()
    link = url_for("together.join_page", token=token, _external=True)
    days = codes.LIFETIMES[codes.INVITE].days
    return render_template("together/invite.html", link=link, qr=qr_code(link), days=days)


@bp.get("/join/<token>")
@limit_join_guesses
def join_page(token: str):
    invitation = _invitation_or_abort(token)
    return render_template("together/join.html", token=token, inviter=invitation)


@bp.post("/join/<token>")
@limit_join_guesses
def join(token: str):
    invitation = _invitation_or_abort(token)
    try:
        name = request.form.get("name", "")
        links.clean_name(name)  # a bad name is refused before a new visitor is made
        user = current_user()  # a brand-new visitor joins too: this form post opens a page
        links.join(user, token, name, user_today(user), stored_now())
    except links.LinkRefused as refused:
        db.session.rollback()
        html = render_template(
            "together/join.html", token=token, inviter=invitation, error=refused.message
        )
        return html, refused.status
    return redirect(url_for("practice.today"), code=303)


def _invitation_or_abort(token: str) -> links.Invitation:
    try:
        return links.find(token, g.get("user"), stored_now())
    except links.LinkRefused as refused:
        abort(refused.status, description=refused.message)


@bp.get("/unlink")
def confirm_unlink():
    if your_partner() is None:
        abort(404, description="You are not linked with a partner.")
    return render_template("together/unlink.html")


@bp.post("/unlink")
@limit_writes
def unlink():
    user = require_user()
    partner = access.partner_of(user)
    name = partner.name_mid if partner else None  # read first: the name goes with the link
    if partner is None or not links.unlink(user):
        abort(404, description="You are not linked with a partner.")
    db.session.commit()
    flash(f"You are no longer linked with {name}.")  # shown once, on Together
    return redirect(url_for("together.index"), code=303)


@bp.post("/name")
@limit_writes
def rename():
    """The name the partner sees the visitor as: it lives in the partner's row."""
    try:
        if not links.rename(require_user(), request.form.get("name", "")):
            abort(404, description="You are not linked with a partner.")
    except links.LinkRefused as refused:
        db.session.rollback()
        return render_template("together/index.html", name_error=refused.message), refused.status
    db.session.commit()
    flash("Name saved.")
    return redirect(url_for("together.index"), code=303)


@bp.post("/settings")
@limit_writes
def notification_settings():
    user = require_user()
    user.thanks_notifications = request.form.get("thanks") == "1"
    user.partner_did_it_notifications = request.form.get("did_it") == "1"
    db.session.commit()
    return redirect(url_for("together.index"), code=303)


# ---------------------------------------------------------------- a day, shared


def _day_or_404(user, day_text: str):
    try:
        return viewable_day(day_text, user.first_date, user_today(user))
    except DayOutOfReach as out:
        abort(404, description=out.message)


@bp.get("/day/<day_text>")
def partner_day(day_text: str):
    """The partner's state for a day: the partial the Today card loads fresh."""
    user = current_user(create=False)
    if user is None:
        abort(404)
    view = access.partner_view(user, _day_or_404(user, day_text))
    if view is None:
        abort(404, description="You are not linked with a partner on that day.")
    return render_template("together/_partner_state.html", partner=view)


@bp.post("/day/<day_text>/share")
@limit_writes
def share(day_text: str):
    user = require_user()
    day = _day_or_404(user, day_text)
    partner = access.partner_of(user)
    if partner is None or not access.set_shared(user, day, request.form.get("shared") == "1"):
        abort(404, description="There is no reflection of yours to share on that day.")
    db.session.commit()
    if wants_fragment():
        return render_template("together/_share_switch.html", day=day, partner=partner)
    return redirect(url_for("practice.day", day_text=day.isoformat(), _anchor="reflection"), 303)


@bp.post("/thanks")
@limit_writes
def send_thanks():
    user = require_user()
    try:
        text = thanks.clean_text(request.form.get("preset", ""), request.form.get("text", ""))
        key = write_key(thanks.ThanksRefused(400, "This thank-you carried a broken id. Reload."))
        thanks.send(user, text, user_today(user), stored_now(), key)
        db.session.commit()
    except thanks.ThanksRefused as refused:
        db.session.rollback()
        page = "together/_thanks.html" if wants_fragment() else "together/thanks.html"
        kept = {"thanks_text": request.form.get("text", "")[:200]}
        kept["thanks_preset"] = request.form.get("preset", "")
        return render_template(page, error=refused.message, **kept), refused.status
    if wants_fragment():
        return render_template("together/_thanks.html", thanks_state="sent")
    return redirect(url_for("practice.today", _anchor="card"), code=303)


@bp.get("/thanks")
def thanks_page():
    if your_partner() is None:
        abort(404, description="You are not linked with a partner.")
    return render_template("together/thanks.html")


@bp.post("/thanks/<note_id>/seen")
@limit_writes
def close_note(note_id: str):
    # A plain <note_id>, not <int:>: a mistyped id reaches CSRF and gets this 404 like any id.
    plain = note_id.isascii() and note_id.isdigit() and len(note_id) <= 9  # fits any INTEGER
    found = plain and thanks.mark_seen(require_user(), int(note_id), stored_now())
    if not found:
        abort(404, description="We could not find that thank-you among yours.")
    db.session.commit()
    if wants_fragment():
        return ""
    return redirect(url_for("practice.today"), code=303)

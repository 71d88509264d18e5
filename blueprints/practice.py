"""Today's practice, any day's practice, and the three writes on a day: done, undo, reflect.

Each write answers an htmx request with the partial it replaces and a plain form POST with a
303 back to the day, so the page works with JavaScript off. Every write may carry a client
UUID (`key`): the offline outbox replays writes, and a key already applied is a no-op. A
reflection write and an Undo carry the `revision` their page was drawn with; one based on
an older revision is refused with 409 and changes nothing (the rule is in revisions.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select

import idempotency
from content.library import Practice
from days import (
    WRITE_AHEAD_DAYS,
    DayOutOfReach,
    build_day,
    may_write,
    new_user_today,
    progress_sentence,
    user_today,
    viewable_day,
)
from identity import current_user, page_zone, require_user, wants_fragment, write_key, zone_state
from models import REFLECTION_MAX, Completion, PushSubscription, Reflection, User, db, utcnow
from reminders.panel import panel_state
from revisions import (
    KEY_PREFIX,
    BrokenRevision,
    parse_revision,
    reflection_conflicts,
    revision_of,
    undo_is_stale,
)
from security import limit_writes
from together.calendar import schedule_number
from together.notices import owe_did_it

bp = Blueprint("practice", __name__)
bp.add_app_template_global(progress_sentence)


class WriteRejected(Exception):
    def __init__(self, status: int, message: str, conflict: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.conflict = conflict  # a reflection newer than the page: show both texts


STALE_UNDO = (
    "This day was marked done again on another page after this one was opened, "
    "so it stays done. Undo it here if you like."
)
CONFLICT = "This reflection was changed on another page after this one was opened."


def _library():
    return current_app.extensions["library"]


def _day_or_404(text: str, first_date: date, today: date) -> date:
    try:
        return viewable_day(text, first_date, today)
    except DayOutOfReach as out:
        abort(404, description=out.message)


@bp.get("/")
def today():
    user = current_user()
    today = user_today(user)
    return _render_day(user, today, today)


@bp.get("/day/<day_text>")
def day(day_text: str):
    if current_user(create=False) is None:
        # A first visit may come through a day's link; only a day the new visitor could
        # open creates them, so a 404 (a mistyped or stale link) changes nothing.
        first = new_user_today()
        _day_or_404(day_text, first, first)
    user = current_user()
    today = user_today(user)
    return _render_day(user, _day_or_404(day_text, user.first_date, today), today)


def _render_day(user: User, day: date, today: date, status: int = 200, ahead: int = 0, **extra):
    # One reading of the date for the card and the reminders panel.
    view = build_day(_library(), user, day, today, ahead=ahead)
    reminders = panel_state(user, devices=_device_count(user), today_done=view.done, today=today)
    html = render_template(
        "practice/day.html",
        view=view,
        new_key=uuid.uuid4,
        reminders=reminders,
        zone_state=zone_state(user),
        page_zone=page_zone(user),
        **extra,
    )
    response = make_response(html, status)
    if zone := page_zone(user):
        # Offline, the worker opens today's card from the cached `/`: this says whose today.
        response.headers["Closer-Time-Zone"] = zone
    return response


@bp.get("/day/<day_text>/card")
def card(day_text: str):
    """The day's card again, for a page brought back from a cache (static/js/fresh.js): 204
    when the `revision` and `done` it shows are still the server's, else the fresh card."""
    user = current_user(create=False)
    if user is None:
        return "", 204
    today = user_today(user)
    view = build_day(_library(), user, _day_or_404(day_text, user.first_date, today), today)
    args = request.args
    if args.get("revision") == view.revision and args.get("done") == view.done_revision:
        return "", 204
    return render_template("practice/_card.html", view=view, new_key=uuid.uuid4)


def _device_count(user: User) -> int:
    """How many devices take reminders, for the panel drawn on the today page."""
    count = select(func.count(PushSubscription.id)).where(PushSubscription.user_id == user.id)
    return db.session.scalar(count) or 0


@bp.post("/day/<day_text>/done")
@limit_writes
def mark_done(day_text: str):
    return _write(day_text, "done", _apply_done)


@bp.post("/day/<day_text>/undo")
@limit_writes
def undo_done(day_text: str):
    return _write(day_text, "undo", _apply_undo)


@bp.post("/day/<day_text>/reflection")
@limit_writes
def save_reflection(day_text: str):
    return _write(day_text, "reflect", _apply_reflection)


def _write(day_text: str, kind: str, apply):
    user = require_user()
    today = user_today(user)
    day = _day_or_404(day_text, user.first_date, today)
    try:
        if not may_write(day, today):
            raise WriteRejected(409, "You can mark this day once it has come.")
        key = write_key(
            WriteRejected(400, "This change carried a broken id. Reload and try again.")
        )
        stamp = utcnow()  # the write's revision, and when its key was applied
        if key is None or idempotency.claim(user.id, key, kind, stamp):
            apply(user, day, stamp)
        db.session.commit()
    except idempotency.KeyOfAnotherUser:
        db.session.rollback()
        rejected = WriteRejected(409, "This change was already used. Reload and try again.")
        return _rejected(user, day, today, kind, rejected)
    except WriteRejected as rejected:
        db.session.rollback()
        return _rejected(user, day, today, kind, rejected)
    if not wants_fragment():
        target = "practice.today" if day == today else "practice.day"
        anchor = "reflection" if kind == "reflect" else "card"
        params = {} if target == "practice.today" else {"day_text": day.isoformat()}
        return redirect(url_for(target, **params, _anchor=anchor), code=303)
    view = build_day(_library(), user, day, today, ahead=WRITE_AHEAD_DAYS)
    template = "practice/_reflection.html" if kind == "reflect" else "practice/_done.html"
    return render_template(template, view=view, new_key=uuid.uuid4, saved=kind == "reflect")


def _rejected(user: User, day: date, today: date, kind: str, rejected: WriteRejected):
    """The card part the write was for, as it is now, with why the write was refused; a
    conflict shows both texts. htmx swaps it in place of the part (HX-Retarget, as the app's
    error handler does); without JavaScript it is the whole day page."""
    extra = {
        "error": rejected.message,
        "draft": _submitted_text() if kind == "reflect" else "",
        "conflict": rejected.conflict,
        "base_revision": _base_revision(strict=False) or "",
    }
    if not wants_fragment():
        return _render_day(user, day, today, rejected.status, WRITE_AHEAD_DAYS, **extra)
    view = build_day(_library(), user, day, today, ahead=WRITE_AHEAD_DAYS)
    part = "reflection" if kind == "reflect" else "done"
    html = render_template(f"practice/_{part}.html", view=view, new_key=uuid.uuid4, **extra)
    return html, rejected.status, {"HX-Retarget": f"#{part}", "HX-Reswap": "outerHTML"}


def _base_revision(strict: bool = True) -> str | None:
    """The revision the write's page was drawn with; None when it did not say. A broken one
    is a 400, or unknown when only re-drawing a refused draft (`strict=False`)."""
    try:
        return parse_revision(request.form.get("revision"))
    except BrokenRevision:
        if not strict:
            return None
        raise WriteRejected(400, "This page is out of date. Reload it and try again.") from None


def _submitted_text() -> str:
    text = request.form.get("text", "")
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _apply_done(user: User, day: date, stamp: datetime) -> None:
    exists = db.session.scalar(
        select(Completion.id).where(Completion.user_id == user.id, Completion.day == day)
    )
    if exists is None:
        practice = _practice_for(user, day)
        db.session.add(Completion(user_id=user.id, day=day, practice_id=practice.id, done_at=stamp))
        owe_did_it(user)  # a partner may be told "<name> did it" (together/notices.py)


def _apply_undo(user: User, day: date, stamp: datetime) -> None:
    base = _base_revision()
    row = db.session.scalar(
        select(Completion).where(Completion.user_id == user.id, Completion.day == day)
    )
    if row is None:
        return  # not done (undone elsewhere, or never): nothing to undo
    if undo_is_stale(base, revision_of(row.done_at)):
        raise WriteRejected(409, STALE_UNDO)
    db.session.delete(row)


def _apply_reflection(user: User, day: date, stamp: datetime) -> None:
    base = _base_revision()
    if base is not None and base.startswith(KEY_PREFIX):
        # Drawn by the offline layer after a write that waited: the revision that write made.
        written = idempotency.applied_at(user.id, base.removeprefix(KEY_PREFIX), "reflect")
        base = revision_of(written) if written is not None else None
    text = _submitted_text()
    if len(text) > REFLECTION_MAX:
        raise WriteRejected(
            422,
            f"Reflections can be up to {REFLECTION_MAX:,} characters; this one is {len(text):,}.",
        )
    if "\x00" in text:
        raise WriteRejected(422, "This reflection contains characters we cannot store.")
    row = db.session.scalar(
        select(Reflection).where(Reflection.user_id == user.id, Reflection.day == day)
    )
    stored = row.text if row is not None else ""
    current = revision_of(row.updated_at if row is not None else None)
    if reflection_conflicts(base, current, stored, text):
        raise WriteRejected(409, CONFLICT, conflict=True)
    if text == stored:
        return  # the same words: nothing to write, and the revision stays
    if not text:
        if row is not None:
            db.session.delete(row)
        return
    if row is None:
        practice = _practice_for(user, day)
        row = Reflection(user_id=user.id, day=day, practice_id=practice.id, created_at=stamp)
        db.session.add(row)
    row.text = text
    row.updated_at = stamp


def _practice_for(user: User, day: date) -> Practice:
    return _library().for_day(schedule_number(user, day))[1]

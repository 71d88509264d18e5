"""Today's practice, any day's practice, and the three writes on a day: done, undo, reflect.

Each write answers an htmx request with the partial it replaces and a plain form POST with a
303 back to the day, so the page works with JavaScript off. Every write may carry a client
UUID (`key`): the offline outbox replays writes, and a key already applied is a no-op.
"""

from __future__ import annotations

import uuid
from datetime import date

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
from sqlalchemy.exc import IntegrityError

from content.library import Practice, day_number
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
from identity import current_user, page_zone, require_user, wants_fragment, zone_state
from models import REFLECTION_MAX, AppliedWrite, Completion, PushSubscription, Reflection, User, db
from reminders.panel import panel_state
from security import limit_writes

bp = Blueprint("practice", __name__)
bp.add_app_template_global(progress_sentence)


class WriteRejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


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


def _render_day(user: User, day: date, today: date):
    # One reading of the date for the card and the reminders panel.
    view = build_day(_library(), user, day, today)
    reminders = panel_state(user, devices=_device_count(user), today_done=view.done, today=today)
    html = render_template(
        "practice/day.html",
        view=view,
        new_key=uuid.uuid4,
        reminders=reminders,
        zone_state=zone_state(user),
        page_zone=page_zone(user),
    )
    response = make_response(html)
    if zone := page_zone(user):
        # Offline, the worker opens today's card from the cached `/`: this says whose today.
        response.headers["Closer-Time-Zone"] = zone
    return response


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
        key = _idempotency_key()
        if key is None or _claim_key(user, key, kind):
            apply(user, day)
        db.session.commit()
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
    view = build_day(_library(), user, day, today, ahead=WRITE_AHEAD_DAYS)
    if wants_fragment():
        template = "practice/_reflection.html" if kind == "reflect" else "practice/_done.html"
    else:
        template = "practice/day.html"
    html = render_template(
        template,
        view=view,
        new_key=uuid.uuid4,
        error=rejected.message,
        draft=request.form.get("text", ""),
    )
    return html, rejected.status


def _idempotency_key() -> str | None:
    raw = request.form.get("key") or request.headers.get("Idempotency-Key")
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise WriteRejected(400, "This change carried a broken id. Reload and try again.") from None


def _claim_key(user: User, key: str, kind: str) -> bool:
    """Record the key; False if it was applied before (this write is a replay)."""
    existing = db.session.get(AppliedWrite, key)
    if existing is not None:
        if existing.user_id != user.id:
            raise WriteRejected(409, "This change was already used. Reload and try again.")
        return False
    db.session.add(AppliedWrite(key=key, user_id=user.id, kind=kind))
    try:
        db.session.flush()
    except IntegrityError:
        # Another request with the same key won the race: this one is the replay.
        db.session.rollback()
        return False
    return True


def _apply_done(user: User, day: date) -> None:
    exists = db.session.scalar(
        select(Completion.id).where(Completion.user_id == user.id, Completion.day == day)
    )
    if exists is None:
        practice = _practice_for(user, day)
        db.session.add(Completion(user_id=user.id, day=day, practice_id=practice.id))


def _apply_undo(user: User, day: date) -> None:
    db.session.execute(
        Completion.__table__.delete().where(Completion.user_id == user.id, Completion.day == day)
    )


def _apply_reflection(user: User, day: date) -> None:
    text = request.form.get("text", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
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
    if not text:
        if row is not None:
            db.session.delete(row)
        return
    if row is None:
        practice = _practice_for(user, day)
        db.session.add(Reflection(user_id=user.id, day=day, practice_id=practice.id, text=text))
    else:
        row.text = text


def _practice_for(user: User, day: date) -> Practice:
    return _library().for_day(day_number(user.first_date, day))[1]

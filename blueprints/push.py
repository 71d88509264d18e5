"""Daily reminders, the user's side: the public key, this browser's subscription, and the
reminder settings (time, pause, back to daily, off).

The subscription endpoints speak JSON (the page's script calls them after the person taps
**Remind me daily** and grants permission). The settings are plain forms that htmx upgrades:
with JavaScript they swap the reminders panel in place, without it they post and redirect
back (303), so time, pause and off all work with JavaScript turned off. Only subscribing
itself needs JavaScript, and the page says so.
"""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from content.calendar import now_utc
from days import user_today
from identity import current_user, wants_fragment
from models import PushSubscription, User, db
from reminders import config as reminder_config
from reminders.panel import reminder_state
from reminders.schedule import DEFAULT_TIME, MAX_PAUSE_DAYS, reschedule
from reminders.subscriptions import MAX_BODY, MAX_ENDPOINT, Invalid, clean, parse_body, parse_time
from security import limit_writes

bp = Blueprint("push", __name__, url_prefix="/push")

MAX_DEVICES = 10  # per user; the oldest goes when an eleventh subscribes
# Where a plain form post returns to (the page the panel was on).
RETURN_TO = {"today": "practice.today", "settings": "settings.index"}


@bp.app_context_processor
def _panel_context() -> dict:
    return {"reminder_panel": lambda: reminder_state(current_user(create=False))}


# -- keys ---------------------------------------------------------------------------------


@bp.get("/key")
def key():
    public = reminder_config.public_key()
    if public is None:
        # 404, not 503: nothing is down, this server simply has no key (local set-up).
        return jsonify(error="Reminders are not set up on this server yet."), 404
    return jsonify(publicKey=public)


@bp.get("/panel")
def panel():
    """The reminders panel alone, for the page script to refresh it after subscribing."""
    user = current_user()
    return render_template("push/_reminders.html", reminders_from=_from(), user=user)


# -- subscriptions (JSON) -------------------------------------------------------------------


def _json_error(status: int, message: str):
    return jsonify(error=message), status


@bp.post("/subscriptions")
@limit_writes
def subscribe():
    if not request.is_json:
        return _json_error(415, "Send the subscription as JSON (Content-Type: application/json).")
    if (request.content_length or 0) > MAX_BODY:
        return _json_error(413, f"A subscription is at most {MAX_BODY} bytes.")
    try:
        data = parse_body(request.get_data(cache=False))
        sub = clean(data, allow_insecure=_insecure_allowed())
    except Invalid as bad:
        return _json_error(bad.status, bad.message)
    user = current_user()
    previous_owner = _store(user, sub.endpoint, sub.p256dh, sub.auth)
    if sub.reminder_time is not None:
        user.reminder_time = sub.reminder_time
    elif user.reminder_time is None:
        user.reminder_time = DEFAULT_TIME
    now = now_utc()
    reschedule(user, now)
    if previous_owner is not None and previous_owner != user.id:
        other = db.session.get(User, previous_owner)
        if other is not None:
            reschedule(other, now)
    db.session.commit()
    state = reminder_state(user)
    return jsonify(
        ok=True,
        reminderTime=state.time,
        devices=state.devices,
        message=f"Reminders are on. We will remind you at {state.time} each day.",
    ), 201


def _store(user: User, endpoint: str, p256dh: str, auth: str) -> str | None:
    """Insert or re-point the row for this endpoint; returns the previous owner's id. The row
    names this browser's device, so removing the device stops its reminders."""
    device = g.get("device")
    device_id = device.id if device is not None else None
    for _attempt in range(2):
        row = db.session.scalar(
            select(PushSubscription).where(PushSubscription.endpoint == endpoint)
        )
        if row is not None:
            previous = row.user_id
            row.user_id, row.p256dh, row.auth = user.id, p256dh, auth
            row.device_id = device_id
            db.session.flush()
            return previous
        db.session.add(
            PushSubscription(
                user_id=user.id, endpoint=endpoint, p256dh=p256dh, auth=auth, device_id=device_id
            )
        )
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()  # the same browser raced us: re-point the row it made
            continue
        _trim_devices(user)
        return None
    raise RuntimeError("could not store subscription")  # pragma: no cover


def _trim_devices(user: User) -> None:
    ids = db.session.scalars(
        select(PushSubscription.id)
        .where(PushSubscription.user_id == user.id)
        .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
        .offset(MAX_DEVICES)
    ).all()
    if ids:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(ids)))


@bp.delete("/subscriptions")
@limit_writes
def unsubscribe():
    if not request.is_json:
        return _json_error(415, "Send the endpoint as JSON (Content-Type: application/json).")
    if (request.content_length or 0) > MAX_BODY:
        return _json_error(413, f"That is more than {MAX_BODY} bytes.")
    try:
        data = parse_body(request.get_data(cache=False))
    except Invalid as bad:
        return _json_error(bad.status, bad.message)
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not 0 < len(endpoint) <= MAX_ENDPOINT:
        return _json_error(422, "Say which subscription to remove (its endpoint).")
    user = current_user(create=False)
    if user is None:  # nobody here yet: nothing to remove, and nothing to create
        return jsonify(ok=True, removed=0, devices=0, message="Reminders are off.")
    removed = db.session.execute(
        delete(PushSubscription).where(
            PushSubscription.endpoint == endpoint, PushSubscription.user_id == user.id
        )
    ).rowcount
    reschedule(user, now_utc())
    db.session.commit()
    state = reminder_state(user)
    message = "Reminders are off on this phone." if state.devices else "Reminders are off."
    return jsonify(ok=True, removed=removed, devices=state.devices, message=message)


def _insecure_allowed() -> bool:
    return reminder_config.truthy(current_app.config.get("PUSH_ALLOW_INSECURE_ENDPOINTS"))


# -- reminder settings (forms; htmx swaps the panel) ---------------------------------------


def _from() -> str:
    value = request.values.get("from", "settings")
    return value if value in RETURN_TO else "settings"


def _answer(user: User, message: str | None = None, error: str | None = None):
    status = 422 if error else 200
    if wants_fragment():
        return render_template(
            "push/_reminders.html",
            reminders_from=_from(),
            user=user,
            push_message=message,
            push_error=error,
        ), status
    if error:
        return render_template(
            "settings/settings.html",
            user=user,
            push_error=error,
            reminders_from="settings",
        ), status
    return redirect(url_for(RETURN_TO[_from()], _anchor="reminders"), code=303)


def _refuse(message: str):
    """A rejected settings write: say why, and create nothing (not even a user row)."""
    user = current_user(create=False)
    if user is None:
        abort(422, description=message)
    return _answer(user, error=message)


@bp.post("/time")
@limit_writes
def set_time():
    value = parse_time(request.form.get("reminder_time", ""))
    if value is None:
        return _refuse("Please pick a reminder time, like 08:30.")
    user = current_user()
    user.reminder_time = value
    reschedule(user, now_utc())
    db.session.commit()
    has_devices = reminder_state(user).on
    message = f"Saved: reminders at {value:%H:%M}."
    if not has_devices:
        message += (
            " To get them, tap Remind me daily on this phone (it needs JavaScript and "
            "permission to show notifications)."
        )
    return _answer(user, message=message)


@bp.post("/pause")
@limit_writes
def pause():
    try:
        days = int(request.form.get("days", ""))
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_PAUSE_DAYS:
        return _refuse(f"Pause for 1 to {MAX_PAUSE_DAYS} days.")
    user = current_user()
    today = user_today(user)
    user.reminder_paused_until = today + timedelta(days=days)
    reschedule(user, now_utc())
    db.session.commit()
    # The panel's status line says until when; the note only confirms the tap.
    return _answer(user, message="Paused.")


@bp.post("/resume")
@limit_writes
def resume():
    user = current_user()
    user.reminder_paused_until = None
    reschedule(user, now_utc())
    db.session.commit()
    return _answer(user, message="Reminders are back on.")


@bp.post("/daily")
@limit_writes
def daily():
    """One tap back to daily after the every-other-day back-off."""
    user = current_user()
    user.reminder_every = 1
    user.reminder_unanswered = 0
    reschedule(user, now_utc())
    db.session.commit()
    return _answer(user, message="Daily reminders again.")


@bp.post("/off")
@limit_writes
def off():
    """Turn reminders off on every device (the page script also unsubscribes this browser)."""
    user = current_user()
    db.session.execute(delete(PushSubscription).where(PushSubscription.user_id == user.id))
    reschedule(user, now_utc())
    db.session.commit()
    return _answer(user, message="Reminders are off on all your devices.")

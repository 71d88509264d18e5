"""Settings: time zone, export everything, restore from an export, delete everything.

Export and delete walk `models.USER_TABLES`, the one list of tables that hold a user's rows,
so a table added later is exported and deleted without touching this module. Restore reads
a file with `export_file` and merges it with `restore` (the rules are there).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from content.calendar import (
    is_valid_zone,
    local_today,
    now_utc,
    zone_choices,
    zone_label,
    zone_names,
)
from days import user_today
from export_file import FORMATS, MAX_BYTES, ExportRefused, read_export
from identity import current_user, forget_user, require_user, wants_fragment
from models import USER_TABLES, User, db
from reminders.schedule import reschedule
from restore import merge, plan_restore
from security import EXPORT_LIMIT, csrf, limit_read, limit_writes
from together.export import export_together

bp = Blueprint("settings", __name__, url_prefix="/settings")

# The time zone picker (settings/_timezone.html), wherever the panel is drawn.
bp.add_app_template_global(zone_choices)
bp.add_app_template_global(zone_names)
bp.add_app_template_global(zone_label)


@bp.get("")
def index():
    user = current_user()
    return render_template("settings/settings.html", user=user)


@bp.post("/timezone")
@limit_writes
def set_time_zone():
    user = require_user()
    name = request.form.get("time_zone", "")
    if not is_valid_zone(name):
        message = "Please pick a time zone from the list."
        if wants_fragment():
            return render_template("settings/_timezone.html", user=user, error=message), 422
        return render_template("settings/settings.html", user=user, error=message), 422
    detected = request.form.get("detected") == "1"
    change_time_zone(user, name, detected=detected)
    db.session.commit()
    if detected and wants_fragment():
        # The page's silent first-visit report shows nothing: no settings fragment to send.
        return "", 204
    if wants_fragment():
        return render_template("settings/_timezone.html", user=user, saved=True)
    return redirect(url_for("settings.index", _anchor="time-zone"), code=303)


def change_time_zone(user: User, name: str, detected: bool) -> None:
    """Set the zone. The browser's first report may re-anchor Day 1 to the user's real local
    date, but only before they have done anything; after that a date keeps its practice."""
    if detected and user.time_zone_confirmed:
        return  # a choice the user made by hand beats what the browser guesses later
    user.time_zone = name
    if not user.time_zone_confirmed and not user.has_activity():
        user.first_date = local_today(name)
    user.time_zone_confirmed = True
    # The reminder follows the zone: 08:30 means 08:30 wherever the user now lives.
    reschedule(user, now_utc())


@bp.get("/export")
@limit_read(EXPORT_LIMIT)
def export():
    user = current_user()
    payload = export_user(user)
    body = json.dumps(payload, indent=2, ensure_ascii=False, default=_json_default)
    stamp = user_today(user).isoformat()
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="closer-export-{stamp}.json"',
            "Cache-Control": "no-store",
        },
    )


def export_user(user: User) -> dict:
    """Every row stored about the user. Restore reads this back (export_file.read_export):
    a change it could not read needs a new entry in export_file.FORMATS, and the old ones
    stay readable."""
    payload = {
        "format": FORMATS[0],
        "about": (
            "journal: your days in plain words. The other entries: every row we store about "
            "you, exactly as stored; their times are UTC."
        ),
        "journal": [],
        "user": _row_dict(user),
    }
    for model in USER_TABLES:
        rows = db.session.scalars(select(model).where(model.user_id == user.id)).all()
        # Token hashes are how a device or code is found, not something the person wrote.
        payload[model.__tablename__] = [_row_dict(r, skip={"user_id", "token_hash"}) for r in rows]
    payload["journal"] = _journal(payload["completions"], payload["reflections"])
    payload["together"] = export_together(user)
    return payload


def _journal(completions: list[dict], reflections: list[dict]) -> list[dict]:
    """Each day practised or written about: its practice by name, done, the reflection."""
    library = current_app.extensions["library"]
    days: dict[date, dict] = {}
    for row in sorted(completions + reflections, key=lambda r: r["day"]):
        practice = library.practice(row["practice_id"])
        entry = days.setdefault(
            row["day"],
            {
                "day": row["day"],
                "practice": practice.title if practice else row["practice_id"],
                "done": False,
                "reflection": None,
            },
        )
        if "text" in row:
            entry["reflection"] = row["text"]
        else:
            entry["done"] = True
    return list(days.values())


def _row_dict(row, skip: set[str] = frozenset()) -> dict:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def _json_default(value):
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.isoformat() + "Z"  # stored as naive UTC: say so
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")


# The restore forms carry a file of up to 1 MB (MAX_BYTES): larger than the 64 KB that
# MAX_CONTENT_LENGTH allows every other request, so these two routes set their own limits.
UPLOAD_LIMIT = MAX_BYTES + 64 * 1024  # the file and the form around it
# The confirm form carries the file's content back as a field (see restore_preview),
# written compactly and without the rows a restore leaves out. Only a time the file wrote
# short ("2026-11-02", or without its "Z") comes back longer: never twice the file's size.
CONFIRM_LIMIT = 2 * MAX_BYTES
TOO_LARGE = "That file is larger than 1 MB. A Closer export is much smaller."
RESTORE_RACE = "Your practice changed while it was being restored, so nothing was. Try again."


@bp.get("/restore")
def restore():
    current_user()
    return _restore_page()


@bp.post("/restore")
@csrf.exempt  # checked in _read_form, once this route's size limit is in place
@limit_writes
def restore_preview():
    """Read the chosen file and show what restoring it would do; nothing changes yet. The
    page carries the file's content (as read, in the current format) in its confirm form,
    so the person picks the file once and the server keeps nothing between the two steps."""
    try:
        _read_form(UPLOAD_LIMIT)
        user = require_user()
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ExportRefused("Please choose your export file first.", status=400)
        file = read_export(upload.stream.read(MAX_BYTES + 1), now_utc().date())
    except ExportRefused as refused:
        return _restore_page(error=refused.message, status=refused.status)
    document = json.dumps(file.to_document(), ensure_ascii=False, separators=(",", ":"))
    return _restore_page(plan=plan_restore(user, file), document=document)


@bp.post("/restore/confirm")
@csrf.exempt  # checked in _read_form, once this route's size limit is in place
@limit_writes
def restore_confirm():
    """Merge the content the preview showed, in one transaction (see restore.py)."""
    try:
        _read_form(CONFIRM_LIMIT)
        user = require_user()
        data = request.form.get("document", "").encode()
        file = read_export(data, now_utc().date(), limit=CONFIRM_LIMIT)
        plan = merge(user, file, now_utc())
        db.session.commit()
    except ExportRefused as refused:
        db.session.rollback()
        return _restore_page(error=refused.message, status=refused.status)
    except IntegrityError:  # a write for the same day landed first: the merge is undone
        db.session.rollback()
        return _restore_page(error=RESTORE_RACE, status=409)
    return _restore_page(done=plan)


def _read_form(limit: int) -> None:
    """Parse the form under this route's own size limit (Flask 3.1 sets it per request),
    then check its CSRF token as every other write does."""
    request.max_content_length = limit
    request.max_form_memory_size = limit
    try:
        request.form.get("csrf_token")
    except RequestEntityTooLarge:
        raise ExportRefused(TOO_LARGE, status=413) from None
    if current_app.config["WTF_CSRF_ENABLED"]:
        csrf.protect()


def _restore_page(status: int = 200, **context):
    html = render_template("settings/restore.html", **context)
    # The preview and the result show reflections: no cache keeps them.
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/delete")
def confirm_delete():
    user = current_user(create=False)
    if user is None:
        return redirect(url_for("settings.deleted"), code=303)
    return render_template("settings/delete.html")


@bp.post("/delete")
@limit_writes
def delete_everything():
    user = current_user(create=False)
    if user is not None:
        delete_user(user)
    forget_user()
    response = redirect(url_for("settings.deleted"), code=303)
    # This phone keeps copies too: cached pages show reflections, and the offline outbox may
    # hold writes that would otherwise replay into a new account. The browser clears its
    # caches, storage and service worker for this origin before it shows the next page;
    # pwa.js does the same on that page for browsers without Clear-Site-Data.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


def delete_user(user: User) -> None:
    for model in USER_TABLES:
        db.session.execute(delete(model).where(model.user_id == user.id))
    db.session.execute(delete(User).where(User.id == user.id))
    db.session.commit()


@bp.get("/deleted")
def deleted():
    if current_user(create=False) is not None:
        abort(404)
    return render_template("settings/deleted.html", forget_device=True)

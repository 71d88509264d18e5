"""Use Closer on another device: the code page, linking a phone by code or link, and the
device list in Settings with Remove.

The pages live here; the rules live in devices.py (sessions) and codes.py (single-use
codes). Settings draws `devices/_settings_section.html`, which asks `your_devices()` (a
template global registered below) for its rows, so the settings view passes nothing.

Brute force: a code is one of 30**12 = 5.3e17 (58.9 bits) and lives 10 minutes. Every
request that looks a code up (GET /link/<code>, POST /link, POST /link/<code>) spends from
two budgets: LINK_PER_CLIENT per client address and LINK_PER_VISITOR per visitor (their user,
else their address). One address gets 30 guesses per code lifetime; a million addresses, 3e7:
with 10,000 codes open at once the chance that any guess hits one is 3e7 * 1e4 / 5.3e17, or
about 1 in 1.8 million per 10 minutes.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

import codes
import devices
from identity import current_user, forget_user, require_user, start_session, stored_now
from models import User, db
from qr import qr_code
from security import limit_guesses, limit_writes, limiter

bp = Blueprint("devices", __name__)

LINK_PER_CLIENT = "30 per 10 minutes"
LINK_PER_VISITOR = "10 per 10 minutes"
NEW_CODES_PER_USER = "5 per 10 minutes"
JUST_LINKED = "just_linked"  # one-shot session flag: the linked page clears old copies once


limit_code_guesses = limit_guesses("link-code", LINK_PER_CLIENT, LINK_PER_VISITOR)


@bp.after_request
def _kept_in_no_cache(response):
    """Codes are secrets and these pages are about one moment (a code, a link, a sign-out):
    no browser cache or offline copy may keep them."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_global()
def your_devices() -> list[devices.DeviceRow]:
    """The visitor's devices for Settings, this one first (used by _settings_section)."""
    user, device = g.get("user"), g.get("device")
    if user is None:
        return []
    return devices.listed(user.id, device.id if device is not None else None)


# ---------------------------------------------------------------- the phone that has it


@bp.post("/devices/code")
@limit_writes
@limiter.limit(NEW_CODES_PER_USER)
def new_code():
    """A new code (replacing the open one), shown once: only its hash is stored."""
    user = require_user()
    code = codes.make(user.id, codes.DEVICE, stored_now())
    db.session.commit()
    link = url_for("devices.show_code", code=codes.grouped(code), _external=True)
    html = render_template(
        "devices/code.html",
        code=codes.grouped(code),
        link=link,
        qr=qr_code(link),
        minutes=int(codes.LIFETIMES[codes.DEVICE].total_seconds() // 60),
    )
    return html


@bp.post("/devices/<device_id>/remove")
@limit_writes
def remove(device_id: str):
    """Sign a device out at once: its next request finds no session and gets a new visitor
    (and its page clears its cached copies, see identity.load_user)."""
    user = require_user()
    current = g.get("device")
    try:
        removed = devices.remove(user.id, device_id)
    except devices.LastDevice:
        abort(
            409,
            description="This is the only device with your practice, so it stays. To end "
            "everything, use Delete all my data.",
        )
    if not removed:
        abort(404, description="We could not find that device among yours.")
    db.session.commit()
    if current is not None and current.id == device_id:
        return redirect(url_for("devices.signed_out"), code=303)
    return redirect(url_for("settings.index", _anchor="devices"), code=303)


@bp.get("/devices/signed-out")
def signed_out():
    if current_user(create=False) is not None:
        abort(404)
    forget_user()  # the cookie named the removed device: "Start fresh" is a clean visit
    return render_template("devices/signed_out.html", forget_device=True)


# ---------------------------------------------------------------- the phone that joins


@bp.get("/link")
def enter_code():
    return render_template("devices/link.html")


@bp.post("/link")
@limit_code_guesses
def find_code():
    typed = request.form.get("code", "")
    try:
        found = codes.find(typed, codes.DEVICE, stored_now())
    except codes.CodeRefused as refused:
        html = render_template("devices/link.html", error=refused.message, typed=typed[:40])
        return html, refused.status
    return _confirm_page(found, codes.normalise(typed))


@bp.get("/link/<code>")
@limit_code_guesses
def show_code(code: str):
    return _confirm_page(_find_or_abort(code), codes.normalise(code))


@bp.post("/link/<code>")
@limit_code_guesses
def link_device(code: str):
    """Make this browser a device of the code's user. A phone that holds its own practice
    (any day marked or written) must say so explicitly (`replace`), after being offered
    its export: linking replaces what this phone shows, and its own practice is deleted
    when no other device has it (see devices.move_browser)."""
    found = _find_or_abort(code)
    owner = _owner_or_abort(found)
    user = current_user(create=False)
    _refuse_own_practice(user, owner)
    if user is not None and user.has_activity() and request.form.get("replace") != "1":
        message = "Tick the box to confirm that this phone's own practice will be replaced."
        return _confirm_page(found, codes.normalise(code), error=message, status=409)
    try:
        codes.redeem(code, codes.DEVICE, stored_now())
    except codes.CodeRefused as refused:
        abort(refused.status, description=refused.message)
    device, token = devices.move_browser(
        g.get("device"), user, owner.id, request.headers.get("User-Agent", ""), stored_now()
    )
    db.session.commit()
    start_session(owner, device, token)
    session[JUST_LINKED] = True
    return redirect(url_for("devices.linked"), code=303)


@bp.get("/link/done")
def linked():
    """Once, right after linking: this phone forgets the copies it kept of what it showed
    before (cached pages, queued writes), then opens the joined practice."""
    if not session.pop(JUST_LINKED, False) or current_user(create=False) is None:
        return redirect(url_for("practice.today"), code=303)
    return render_template("devices/linked.html", forget_device=True)


def _find_or_abort(code: str) -> codes.OpenCode:
    try:
        return codes.find(code, codes.DEVICE, stored_now())
    except codes.CodeRefused as refused:
        abort(refused.status, description=refused.message)


def _owner_or_abort(found: codes.OpenCode) -> User:
    owner = db.session.get(User, found.user_id)
    if owner is None:
        abort(404, description=codes.NOT_A_CODE.message)
    return owner


def _refuse_own_practice(user: User | None, owner: User) -> None:
    if user is not None and user.id == owner.id:
        abort(409, description="This phone already shows that practice: nothing to link.")


def _confirm_page(found: codes.OpenCode, code: str | None, error: str = "", status: int = 200):
    owner = _owner_or_abort(found)
    user = current_user(create=False)
    _refuse_own_practice(user, owner)
    html = render_template(
        "devices/confirm.html",
        code=codes.grouped(code or ""),
        joins=devices.summary(owner).sentence(),
        own=devices.summary(user).sentence() if user and user.has_activity() else "",
        error=error,
    )
    return html, status

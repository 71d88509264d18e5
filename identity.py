"""Who is asking: an anonymous user, signed in on this browser by a device session, and how
they asked.

No signup. Flask's own session cookie (signed with SECRET_KEY, HttpOnly, SameSite=Lax,
Secure behind https) carries a random device token and the date it was last seen; the
`devices` table says which user that browser belongs to (devices.py), so one user may have
several browsers and each can be signed out on its own. `load_user` runs before each
request (create_app registers it) and puts the ORM `User`, or None, in `g.user` and the
browser's `Device` in `g.device`, as Flask's tutorial does.
"""

from __future__ import annotations

import uuid

from flask import abort, g, request, session

import devices
from content.calendar import now_utc
from days import new_user_today
from models import Device, User, db

DEVICE_KEY = "did"  # the session key holding the device token
LEGACY_USER_KEY = "uid"  # cookies from before device sessions held the user id itself


def load_user() -> None:
    """Load the visitor's user once per request; never creates one (see `current_user`).

    The cookie lasts PERMANENT_SESSION_LIFETIME (400 days) from when it was last set. Flask
    would re-sign it on every response (SESSION_REFRESH_EACH_REQUEST, off in app.py): a
    signature and a Set-Cookie header per page view. Instead the session notes the day it
    was last seen, so it changes, and Flask sends it again, once a day at most."""
    if request.endpoint == "static":
        return  # shared, year-long cached files: no session, no Vary: Cookie
    g.user = g.device = None
    token = session.get(DEVICE_KEY)
    if isinstance(token, str):
        _load_device(token)
    elif isinstance(session.get(LEGACY_USER_KEY), str):
        _adopt_legacy_cookie(session[LEGACY_USER_KEY])
    if g.user is not None:
        _mark_seen()


def _load_device(token: str) -> None:
    found = devices.signed_in(token)
    if found is None:
        # This browser was signed out (Remove on another device, or "Delete everything"
        # there). Its cached pages and outbox belong to a practice it may no longer see:
        # the next page it draws says so (base.html's data-forget-device), and the cookie
        # is kept until a new visitor is made, so every page until then says it too.
        g.forget_device = True
        return
    g.device, g.user = found
    devices.mark_seen(g.device, stored_now())


def _adopt_legacy_cookie(uid: str) -> None:
    """A cookie from before device sessions names its user directly: turn it into a device
    session on this request, so nobody loses their practice and no data migration is
    needed. Such cookies are rewritten on their first request, so this path can go once
    PERMANENT_SESSION_LIFETIME (400 days) has passed since device sessions shipped. (Two
    requests racing here both get a device: the spare one is never seen again, and can be
    removed in Settings.)"""
    user = db.session.get(User, uid)
    if user is None:
        return
    device, token = devices.add(user.id, request.headers.get("User-Agent", ""), stored_now())
    db.session.commit()
    session.pop(LEGACY_USER_KEY)
    session[DEVICE_KEY] = token
    session.permanent = True
    g.user, g.device = user, device


def stored_now():
    """Now, as the database stores instants (naive UTC)."""
    return now_utc().replace(tzinfo=None)


def _mark_seen() -> None:
    today = now_utc().date().isoformat()
    if session.get("seen") != today:
        session["seen"] = today


def current_user(create: bool = True) -> User | None:
    """The visitor's user, created on the first visit (that visit is their Day 1)."""
    user = g.get("user")
    if user is None and create:
        user = _create_user()
    return user


def _create_user() -> User:
    if not _opens_a_page():
        abort(401, "Open Closer to start: this request cannot start a new Day 1.")
    user = User(time_zone="UTC", first_date=new_user_today())
    db.session.add(user)
    db.session.flush()
    _sign_in(user)
    return user


def _sign_in(user: User) -> None:
    """Make this browser a new device of `user`: a fresh session holding a fresh token.
    Commits."""
    device, token = devices.add(user.id, request.headers.get("User-Agent", ""), stored_now())
    db.session.commit()
    start_session(user, device, token)


def start_session(user: User, device: Device, token: str) -> None:
    """A fresh session cookie for a device token already stored and committed."""
    session.clear()
    session[DEVICE_KEY] = token
    session.permanent = True
    _mark_seen()
    g.user = user
    g.device = device


def _opens_a_page() -> bool:
    """Only a page the person opens starts a new user; a browser marks it with
    Sec-Fetch-Mode: navigate. A background fetch (the service worker refreshing its pages
    after the cookie was lost or deleted, a script) must not make a ghost account, or bring
    one back after "delete everything". Clients that send no Sec-Fetch headers (curl, the
    bench, the test client) count as opening a page."""
    mode = request.headers.get("Sec-Fetch-Mode")
    return mode is None or mode == "navigate"


def require_user() -> User:
    """The user a write is for. Writes never create a user: a page view always has, so a
    write without one comes from a lost or deleted cookie, and must change nothing."""
    user = current_user(create=False)
    if user is None:
        abort(
            403,
            description="We could not find your practice on this phone. "
            "Reload the page to start again.",
        )
    return user


def zone_state(user) -> str:
    """Whether the page should ask the browser for its time zone: until it is confirmed."""
    if user is None:
        return ""
    return "confirmed" if user.time_zone_confirmed else "unknown"


def page_zone(user) -> str:
    """The zone the user's "today" follows, once confirmed, for the page's scripts and the
    offline worker ("" until then: they use the device's own zone)."""
    if user is None or not user.time_zone_confirmed:
        return ""
    return user.time_zone


def forget_user() -> None:
    session.clear()
    g.pop("user", None)
    g.pop("device", None)


def wants_fragment() -> bool:
    """htmx asked for a swap: answer with the partial. Boosted navigations and history
    restores want the whole page, as does every request without JavaScript."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def write_key(broken: Exception) -> str | None:
    """The idempotency key a write came with (the form's `key`, or the `Idempotency-Key`
    header), as a canonical UUID; None without one. A key that is no UUID raises `broken`,
    the refusal of the blueprint asking."""
    raw = request.form.get("key") or request.headers.get("Idempotency-Key")
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise broken from None

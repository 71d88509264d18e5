"""Who is asking: an anonymous user kept in a long-lived signed cookie, and how they asked.

No signup. The Flask session cookie (signed with SECRET_KEY, HttpOnly, SameSite=Lax, Secure
behind https) carries only the random user id; everything else lives in the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import abort, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

from content.calendar import local_today
from models import User, db

# The cookie lasts PERMANENT_SESSION_LIFETIME (400 days) from its last signing. Re-signing it
# once a day keeps it alive for a returning user; re-signing it on every response, as Flask
# does, cost a signature and a Set-Cookie header on every page view.
REFRESH_AFTER = timedelta(days=1)


class PageSession(SecureCookieSession):
    signed_at: float | None = None  # when the cookie it came from was signed (Unix time)


class PageSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, refreshed at most once a day. Static files are cached
    for a year and shared; they never carry a Set-Cookie (it would also cost bytes on every
    file of a first visit)."""

    session_class = PageSession

    def get_signing_serializer(self, app):
        # Flask builds a new serializer (and its signer) for every request; the keys change
        # only when the configuration does, so one is kept per key set.
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = app.extensions.get("session_serializer")
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            app.extensions["session_serializer"] = cached
        return cached[1]

    def open_session(self, app, request) -> PageSession | None:
        # Flask's own, except that it keeps the signing time, which Flask throws away.
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        session = self.session_class(data)
        session.signed_at = signed_at.timestamp()
        return session

    def should_set_cookie(self, app, session) -> bool:
        if request.endpoint == "static":
            return False
        if session.modified:
            return True
        return (
            session.permanent
            and app.config["SESSION_REFRESH_EACH_REQUEST"]
            and _older_than(session.signed_at, REFRESH_AFTER)
        )


def _older_than(signed_at: float | None, age: timedelta) -> bool:
    # Wall-clock seconds, as itsdangerous signs them (not the app's pinnable clock).
    return signed_at is None or time.time() - signed_at >= age.total_seconds()


@dataclass(frozen=True)
class NewVisitor:
    """Who a first visit creates: pages can check a day against them before creating them."""

    time_zone: str = "UTC"  # until the browser reports its own
    first_date: date = field(default_factory=lambda: local_today("UTC"))


def current_user(create: bool = True) -> User | None:
    """The visitor's user row, created on the first visit (that visit is their Day 1)."""
    if "user" in g:
        return g.user
    user = None
    uid = session.get("uid")
    if isinstance(uid, str):
        user = db.session.get(User, uid)
    if user is None and create:
        if not _opens_a_page():
            abort(401, "Open Closer to start: this request cannot start a new Day 1.")
        visitor = NewVisitor()
        user = User(time_zone=visitor.time_zone, first_date=visitor.first_date)
        db.session.add(user)
        db.session.commit()
        session.clear()
        session["uid"] = user.id
        session.permanent = True
    g.user = user
    return user


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


def wants_fragment() -> bool:
    """htmx asked for a swap: answer with the partial. Boosted navigations and history
    restores want the whole page, as does every request without JavaScript."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )

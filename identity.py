"""Who is asking: an anonymous user kept in a long-lived signed cookie, and how they asked.

No signup. The Flask session cookie (signed with SECRET_KEY, HttpOnly, SameSite=Lax, Secure
behind https) carries only the random user id; everything else lives in the database.
"""

from __future__ import annotations

from flask import abort, g, request, session
from flask.sessions import SecureCookieSessionInterface

from content.calendar import local_today
from models import User, db


class PageSessionInterface(SecureCookieSessionInterface):
    """Flask refreshes a permanent session's cookie on every response. Static files are
    cached for a year and shared; they never carry a Set-Cookie (it would also cost bytes on
    every file of a first visit)."""

    def should_set_cookie(self, app, session) -> bool:
        if request.endpoint == "static":
            return False
        return super().should_set_cookie(app, session)


def current_user(create: bool = True) -> User | None:
    """The visitor's user row, created on the first visit (that visit is their Day 1)."""
    if "user" in g:
        return g.user
    user = None
    uid = session.get("uid")
    if isinstance(uid, str):
        user = db.session.get(User, uid)
    if user is None and create:
        user = User(time_zone="UTC", first_date=local_today("UTC"))
        db.session.add(user)
        db.session.commit()
        session.clear()
        session["uid"] = user.id
        session.permanent = True
    g.user = user
    return user


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

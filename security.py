"""Cross-cutting protection: CSRF, rate limits, and locked-down response headers.

Chosen libraries, used as documented: Flask-WTF's CSRFProtect (session-bound tokens, a header
for htmx and a field for plain forms) and Flask-Limiter (limits declared on the views they
guard; in-memory by default, Redis through RATELIMIT_STORAGE_URI when several processes serve
the app).
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()


def visitor_key() -> str:
    """Limit per anonymous user where we know them (all their devices share it), else per
    client address. Decorated limits run in the view, after identity.load_user."""
    user = g.get("user")
    return user.id if user is not None else get_remote_address()


limiter = Limiter(key_func=visitor_key, default_limits=[])

# Every write shares one budget per user: generous enough for an offline outbox replaying a
# week of writes at once, tight enough to stop a script hammering the database.
WRITE_LIMIT = "120 per minute"
EXPORT_LIMIT = "10 per minute"

# One shared bucket for every write, whichever route it hits.
limit_writes = limiter.shared_limit(WRITE_LIMIT, scope="writes")


def limit_guesses(scope: str, per_client: str, per_visitor: str):
    """One decorator for a route that redeems a secret (a device code, an invite): guesses
    are limited per client address and per visitor, in buckets `<scope>-client` and
    `<scope>-visitor` shared by every route of that secret."""
    per_address = limiter.shared_limit(
        per_client, scope=f"{scope}-client", key_func=get_remote_address
    )
    per_person = limiter.shared_limit(per_visitor, scope=f"{scope}-visitor", key_func=visitor_key)
    return lambda view: per_address(per_person(view))


def limit_read(limit: str):
    """A rate limit of its own on a GET view (the export). Other reads have none: a page
    view never spends a user's write budget."""
    return limiter.limit(limit)


# The pages' policy: our own origin only, and no inline script at all (every script is a file).
# Fonts, connections, the manifest and workers fall back to default-src; scripts and styles
# are named for the reader (and the audits). frame-ancestors 'none' is X-Frame-Options: DENY
# in every browser that can run a service worker, so that header is not sent as well.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)


# Only what we use: notifications and push need no permission policy entry; everything
# powerful that we never touch is switched off. (Not `interest-cohort`: FLoC is gone, and
# Chromium reports the unknown name as an error on every page.)
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=()"
)


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request(_security_headers)


def _runs_as_a_document(response) -> bool:
    """A page or the worker: the only responses a browser runs, so the only ones that the
    document policies (and the referrer policy of the requests they make) apply to. A 204
    has no page to run, and static files make no requests of their own (the stylesheet's
    come from our origin only, by the CSP); on each of these the headers would cost a phone
    ~580 bytes of a first visit."""
    if request.path == "/service-worker.js":
        return True
    return response.mimetype == "text/html" and response.status_code != 204


def _security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    if _runs_as_a_document(response):
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if response.mimetype == "text/html" or request.path == "/service-worker.js":
        # A person's own state: never kept by a shared cache, never reused unasked (not
        # no-store: that would cost the back/forward cache; static/js/fresh.js revalidates).
        headers.setdefault("Cache-Control", "private, no-cache")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    return response

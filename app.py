"""Closer: a two-minute daily practice for closer relationships.

`create_app(config=None)` builds the Flask app. Configuration comes in layers, later ones
winning: defaults below, `instance/config.py`, environment variables (`FLASK_*`, plus
`DATABASE_URL`), generated secrets in `instance/`, then the `config` mapping (tests).
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, g, render_template, request
from flask_compress import Compress
from flask_migrate import Migrate
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import dbtools
import models
import security
from assets import Assets
from content.library import load_library
from identity import load_user, page_zone, wants_fragment, zone_state
from models import db
from reminders import config as reminder_config

ROOT = Path(__file__).resolve().parent
INSECURE_KEYS = {"", "dev", "change-me", "secret"}

log = logging.getLogger("closer")
migrate = Migrate()
compress = Compress()


class Defaults:
    SECRET_KEY = None
    SQLALCHEMY_DATABASE_URI = None  # instance/closer.db unless DATABASE_URL says otherwise
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}  # see _engine_options
    SESSION_COOKIE_NAME = "closer"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # True in production (behind https)
    PERMANENT_SESSION_LIFETIME = timedelta(days=400)  # the longest browsers keep a cookie
    # Flask's own signed-cookie session, sent again only when it changes: identity.load_user
    # changes it once a day, which keeps a returning user's cookie alive for 400 more days.
    SESSION_REFRESH_EACH_REQUEST = False
    MAX_CONTENT_LENGTH = 64 * 1024
    WTF_CSRF_TIME_LIMIT = None  # cached offline pages must still be able to write
    WTF_CSRF_HEADERS = ["X-CSRFToken"]
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    COMPRESS_MIMETYPES = [
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/manifest+json",
        "image/svg+xml",
    ]
    # Pages are compressed per response (static files once, see assets.py). Measured on `/`
    # for a returning user (14.3 KB of HTML): zstd level 3, 4,896 B in 0.050 ms; brotli
    # quality 3, 4,948 B in 0.077 ms (quality 4: 4,652 B in 0.138 ms); gzip 6, 4,714 B in
    # 0.098 ms. Brotli first, at quality 5: its built-in dictionary of web text pays on a
    # first visit (issue 13's 30 KB): `/` (11.8 KB) 3,370 B in 0.14 ms against zstd 3's
    # 3,862 B in 0.04 ms, /strategies 1,729 B against 2,012 B.
    COMPRESS_ALGORITHM = ["br", "zstd", "gzip"]
    COMPRESS_ZSTD_LEVEL = 3
    COMPRESS_BR_LEVEL = 5
    COMPRESS_MIN_SIZE = 256
    DEPLOYMENT = "local"  # "production" turns on every start-up refusal
    PROXY_FIX = 0  # number of trusted proxies in front of the app (0: none)
    CONTENT_PATH = None  # the practice library; tests point it at broken copies
    NOW_UTC = None  # tests pin the clock


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(ROOT / "instance"), instance_relative_config=True)
    _configure(app, config or {})
    _check_secrets(app)

    app.extensions["library"] = load_library(app.config["CONTENT_PATH"] or _default_content())
    models.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    compress.init_app(app)
    security.init_app(app)
    reminder_config.init_app(app)
    if app.config["PROXY_FIX"]:
        hops = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    app.before_request(load_user)  # g.user: the visitor's User or None, once per request
    app.context_processor(_page_context)
    _register_blueprints(app)
    _register_assets(app)
    _register_errors(app)
    _register_cli(app)
    dbtools.init_app(app)
    return app


def _page_context() -> dict:
    """Tell the page whether the browser should report its time zone (first visit only), and
    whether it must forget its copies (this browser was signed out: see identity.py)."""
    user = g.get("user")
    return {
        "zone_state": zone_state(user),
        "page_zone": page_zone(user),
        "forget_device": g.get("forget_device", False),
    }


def _default_content() -> Path:
    from content.library import DEFAULT_PATH

    return DEFAULT_PATH


def _configure(app: Flask, overrides: dict) -> None:
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    app.config.update(overrides)
    if not app.config["SECRET_KEY"]:
        key_file = Path(app.instance_path) / "secret_key"
        if key_file.exists():
            app.config["SECRET_KEY"] = key_file.read_text().strip()
    uri = app.config["SQLALCHEMY_DATABASE_URI"] or (
        f"sqlite:///{Path(app.instance_path) / 'closer.db'}"
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(uri)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )
    if app.config["DEPLOYMENT"] == "production":
        app.config["SESSION_COOKIE_SECURE"] = True


def _engine_options(uri: str, configured: dict) -> dict:
    """A database server can drop connections (restart, failover, idle timeout): check each
    one as it leaves the pool. An embedded SQLite file cannot, and the check is a query of
    its own on every request (a third of `/`'s statements), so it is off there."""
    return {"pool_pre_ping": not uri.startswith("sqlite"), **configured}


def normalise_database_url(uri: str) -> str:
    """Accept the common `postgres://` spellings and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def _check_secrets(app: Flask) -> None:
    """Refuse to serve real users with a guessable cookie-signing key."""
    if app.testing or app.debug:
        if not app.config["SECRET_KEY"]:
            app.config["SECRET_KEY"] = secrets.token_hex(32)
        return
    key = app.config["SECRET_KEY"]
    if not key or key in INSECURE_KEYS or len(key) < 32:
        raise RuntimeError(
            "SECRET_KEY is missing or too weak. Run `make run` (it writes instance/secret_key) "
            "or set FLASK_SECRET_KEY to at least 32 random characters."
        )


def _register_blueprints(app: Flask) -> None:
    from blueprints import devices, library, practice, progress, push, pwa, settings, together

    for module in (practice, library, progress, settings, pwa, push, devices, together):
        app.register_blueprint(module.bp)


def _register_assets(app: Flask) -> None:
    """Hashed, immutable, precompressed static files (see assets.py)."""
    Assets(app.static_folder).init_app(app)


ERROR_MESSAGES = {
    400: "That request did not make sense to us.",
    403: "That is not allowed.",
    404: "We could not find that page.",
    405: "That page does not accept this kind of request.",
    413: "That was too large to save.",
    429: "That was a lot of requests at once. Take a breath and try again in a minute.",
    500: "Something went wrong on our side. Nothing you wrote was lost.",
    503: "We are having trouble reaching our storage. Your changes are safe; try again soon.",
}


def error_heading(status: int) -> str:
    if status == 404:
        return "Not found"
    if status == 429:
        return "Slow down a little"
    return "Sorry" if status >= 500 else "Something is not right"


def _register_errors(app: Flask) -> None:
    def render_error(status: int, message: str | None = None):
        message = message or ERROR_MESSAGES.get(status, "Something went wrong.")
        heading = error_heading(status)
        if not wants_fragment():
            return render_template("errors/error.html", heading=heading, message=message), status
        # Not into the request's own target: a form (the time zone picker, the reminders
        # panel) must stay as it was, under a message saying what went wrong.
        html = render_template("errors/_error.html", heading=heading, message=message)
        return html, status, {"HX-Retarget": "#request-error", "HX-Reswap": "innerHTML"}

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        # Our own abort(..., description=...) messages are written for people; Werkzeug's
        # defaults are not, so those fall back to ours.
        # Flask-Limiter's 429 describes the limit ("120 per 1 minute"), also not for people.
        custom = exc.description != type(exc).description and exc.code != 429
        message = exc.description if custom else None
        if exc.code == 400 and exc.__class__.__name__ == "CSRFError":
            message = (
                "This page was open too long or lost its security token. Reload and try again."
            )
        return render_error(exc.code or 500, message)

    @app.errorhandler(OperationalError)
    def _database_down(exc):
        db.session.rollback()
        log.error("database unavailable: %s", exc.__class__.__name__)
        return render_error(503)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)


def _register_cli(app: Flask) -> None:
    """Feature packages add their own command groups (reminders, push) here."""
    import bookkeeping
    from reminders import cli as reminders_cli

    reminders_cli.init_app(app)
    bookkeeping.init_app(app)

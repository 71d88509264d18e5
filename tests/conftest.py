"""Shared fixtures, after Flask's tutorial: a fresh database per test, `app`, `client`, `runner`.

Database-backed tests run on SQLite and, through the `db_app` fixture, on PostgreSQL too
(TEST_DATABASE_URL, default the machine's local server). Under CI=true a missing PostgreSQL
fails the run instead of skipping.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from app import ROOT, create_app
from models import db
from tests.pushservice import PushService

CI = os.environ.get("CI") == "true"
POSTGRES_BASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Each test run gets its own schema, so two runs on one server (two developers, or a run and
# a benchmark) never drop each other's tables.
PG_SCHEMA = f"closer_test_{os.getpid()}"
POSTGRES_URL = (
    POSTGRES_BASE_URL
    + ("&" if "?" in POSTGRES_BASE_URL else "?")
    + f"options=-csearch_path%3D{PG_SCHEMA}"
)
FIXED_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
MIGRATIONS = ROOT / "migrations"


_pg_ready: bool | None = None


def postgres_available() -> bool:
    """True when the server answers; creates this run's schema the first time."""
    global _pg_ready
    if _pg_ready is None:
        try:
            engine = create_engine(POSTGRES_BASE_URL)
            with engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
            engine.dispose()
            _pg_ready = True
        except Exception:
            _pg_ready = False
    return _pg_ready


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_schema():
    yield
    if _pg_ready:
        engine = create_engine(POSTGRES_BASE_URL)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        engine.dispose()


def require_postgres():
    if postgres_available():
        return
    if CI:
        pytest.fail(f"PostgreSQL is required under CI=true but {POSTGRES_URL} is unreachable")
    pytest.skip("PostgreSQL not reachable (set TEST_DATABASE_URL); CI never skips this")


class Clock:
    """A settable clock for the app (config NOW_UTC)."""

    def __init__(self, now: datetime = FIXED_NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_app(tmp_path, database_url: str | None = None, **overrides):
    clock = overrides.pop("clock", None) or Clock()
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-000000",
        "SQLALCHEMY_DATABASE_URI": database_url or f"sqlite:///{tmp_path / 'test.db'}",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "NOW_UTC": clock,
    }
    config.update(overrides)
    app = create_app(config)
    app.extensions["test_clock"] = clock
    with app.app_context():
        db.drop_all()
        db.create_all()
    return app


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@contextmanager
def app_on(backend: str, tmp_path, factory=None, **overrides):
    """An app (from `factory`, default `make_app`) on "sqlite" or "postgres", cleaned up
    after: PostgreSQL tables are dropped, since the server outlives the test."""
    factory = factory or make_app
    if backend == "postgres":
        require_postgres()
        app = factory(tmp_path, POSTGRES_URL, **overrides)
    else:
        app = factory(tmp_path, **overrides)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            if backend == "postgres":
                db.drop_all()
            db.engine.dispose()


def unmigrated_app(tmp_path, database_url: str | None = None, **overrides):
    """`make_app` with an empty database (no tables, no alembic_version) for the migrations
    to build."""
    app = make_app(tmp_path, database_url, **overrides)
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
    return app


@contextmanager
def migrated_app(backend: str, tmp_path, old_revision: str, seed=(), to: str = "head"):
    """An app on "sqlite" or "postgres" whose database the migrations built up to
    `old_revision`, where the raw SQL statements `seed` wrote rows as that schema took them,
    then upgraded to `to`: for the tests that an upgrade keeps what was there. Everything,
    alembic_version too, is dropped after, since the PostgreSQL server outlives the test."""
    with app_on(backend, tmp_path, factory=unmigrated_app) as app:
        try:
            with app.app_context():
                upgrade(directory=str(MIGRATIONS), revision=old_revision)
                for statement in seed:
                    db.session.execute(text(statement))
                db.session.commit()
                upgrade(directory=str(MIGRATIONS), revision=to)
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.drop_all()
                db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
                db.session.commit()


@pytest.fixture
def service():
    """A loopback push service that verifies VAPID and decrypts what it is sent."""
    with PushService() as svc:
        yield svc


@pytest.fixture(params=["sqlite", "postgres"])
def db_app(request, tmp_path):
    """The same app on SQLite and on PostgreSQL, for tests about what is stored."""
    with app_on(request.param, tmp_path) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db_client(db_app):
    return db_app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def clock(app):
    return app.extensions["test_clock"]


HTMX = {"HX-Request": "true"}


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF meta tag"
    return match.group(1)


# ------------------------------------------------------------------------------------------
# Push senders (tests/test_webpush*.py)

VAPID_SUBJECT = "mailto:ops@closer.example"


@pytest.fixture(scope="module")
def vapid_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def make_sender(vapid_key):
    """`make(**kwargs)` builds a PushSender (5 s timeout unless given); all are closed after."""
    from reminders.sender import PushSender

    senders = []

    def make(**kwargs) -> PushSender:
        kwargs.setdefault("timeout", 5.0)
        sender = PushSender(vapid_key, VAPID_SUBJECT, **kwargs)
        senders.append(sender)
        return sender

    yield make
    for sender in senders:
        sender.close()

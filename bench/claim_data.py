"""The claim_cost benchmark's users and databases: generated rows, loaded in bulk into
SQLite (`executemany` in one transaction) or PostgreSQL (`COPY`), and the app on them.

PostgreSQL uses its own database, `closer_bench` (BENCH_PG_DB), created afresh and dropped
after, never the tests' `test`.
"""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from datetime import time as clock

from bench.common import ROOT

BATCH = 1000
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "closer_bench")

COLUMNS = (
    "id",
    "created_at",
    "time_zone",
    "time_zone_confirmed",
    "first_date",
    "reminder_time",
    "reminder_every",
    "reminder_unanswered",
    "next_reminder_at",
    "next_reminder_day",
)


class Population:
    """Generates user rows: a few due now, the rest due at some minute in the next 24 hours."""

    def __init__(self, now: datetime, seed: int = 6) -> None:
        self.now = now
        self.rng = random.Random(seed)
        self.created = now - timedelta(days=30)
        self.first = (now - timedelta(days=30)).date()

    def row(self, due: bool) -> tuple:
        if due:
            at = self.now - timedelta(seconds=self.rng.randrange(1, 600))
        else:
            at = (self.now + timedelta(minutes=self.rng.randrange(1, 24 * 60))).replace(
                second=0, microsecond=0
            )
        return (
            self.rng.randbytes(16).hex(),
            self.created,
            "UTC",
            True,
            self.first,
            clock(at.hour, at.minute),
            1,
            0,
            at,
            at.date(),
        )

    def rows(self, n: int, due: bool) -> list[tuple]:
        return [self.row(due) for _ in range(n)]


# -- loading ------------------------------------------------------------------------------


def sqlite_text(rows: list[tuple]) -> list[tuple]:
    """Rows as SQLAlchemy stores them in SQLite (its own string formats for dates and times),
    so the claim's comparisons see exactly what the app would have written."""
    from sqlalchemy import Date, DateTime, Time
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    as_dt, as_date, as_time = (
        kind().dialect_impl(dialect).bind_processor(dialect) for kind in (DateTime, Date, Time)
    )
    return [
        (
            uid,
            as_dt(created),
            zone,
            1 if ok else 0,
            as_date(first),
            as_time(t),
            e,
            u,
            as_dt(at),
            as_date(day),
        )
        for uid, created, zone, ok, first, t, e, u, at, day in rows
    ]


def load_sqlite(app, rows: list[tuple]) -> None:
    from models import db

    placeholders = ",".join("?" * len(COLUMNS))
    sql = f"INSERT INTO users ({','.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.executemany(sql, sqlite_text(rows))
            raw.commit()
        finally:
            raw.close()


def load_postgres(app, rows: list[tuple]) -> None:
    from models import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            with cursor.copy(f"COPY users ({','.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute("ANALYZE users")
            raw.commit()
        finally:
            raw.close()


def fresh_postgres_database() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{PG_DB}"


def drop_postgres_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def build_app(database_url: str):
    from app import create_app

    return create_app(
        {
            "SECRET_KEY": "bench-" + os.urandom(24).hex(),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REMINDER_BATCH_SIZE": BATCH,
        }
    )


def migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))

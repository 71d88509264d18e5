"""6. Due-claim cost: the time to claim a batch of 1,000 due users, with 10,000 and then
1,000,000 users who are not due, in SQLite and in PostgreSQL.

The claim is the dispatcher's own (`reminders.dispatch.Dispatcher.claim` with
`REMINDER_BATCH_SIZE = 1000`): one `UPDATE users SET reminder_lease_until = ... WHERE id IN
(SELECT ... WHERE next_reminder_at <= now AND lease expired ORDER BY next_reminder_at LIMIT
1000 [FOR UPDATE SKIP LOCKED]) RETURNING ...`, committed. Each timing covers that statement
and its commit; between timings the 1,000 leases are cleared again (not timed), so every
claim sees the same 1,000 due users.

The schema is the real one (Alembic migrations). Users are generated once per run and reused:
1,000 due (instants in the past few minutes) and 10,000 not due (instants over the next 24
hours, whole minutes, as reminder times are); then 990,000 more not-due users are added in
bulk (SQLite: `executemany` in one transaction; PostgreSQL: `COPY`) and the same 1,000 are
claimed again. PostgreSQL runs `ANALYZE` after loading and `VACUUM` between timings (not
timed), as autovacuum would.
PostgreSQL uses its own database, `closer_bench`, created afresh (never the tests' `test`).

"Does not grow" is judged on the work one claim does, which timing noise cannot blur:
SQLite's virtual-machine steps for the claim statement, PostgreSQL's entries read from the
due index (`EXPLAIN ANALYZE`, rolled back). The time ratio is shown beside it; it moves with
the neighbours and with cache misses in a 100x larger table, not with a scan.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from bench.common import Context, Result, Target, log, median, ratio

GROUP = "claim_cost"
BATCH = 1000
LIMIT_MS = 50.0
GROWTH_LIMIT = 1.5  # "does not grow": 100x more not-due users may cost at most 1.5x
DUE_INDEX = "ix_users_next_reminder_at"
WORK_UNITS = {"SQLite": "VM steps", "PostgreSQL": "due-index entries visited"}
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


# -- claiming ----------------------------------------------------------------------------


def vacuum(app) -> None:
    """PostgreSQL: clear the dead row versions the last claim and its reset left (not timed).

    Without it every repeat would leave 2,000 more dead versions in the due end of the index
    and each timing would be slower than the one before; in production autovacuum keeps the
    table in this state. SQLite updates in place and needs nothing."""
    from models import db

    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM users")


def time_claims(app, now: datetime, repeats: int) -> list[float]:
    """Milliseconds per claim of one batch (statement + commit); leases cleared in between."""
    from sqlalchemy import update

    from models import User, db
    from reminders.dispatch import Dispatcher, DispatchReport

    users = User.__table__
    timings = []
    with app.app_context():
        dispatcher = Dispatcher(None, now, DispatchReport())
        vacuum(app)
        for _ in range(repeats):
            started = time.perf_counter()
            _lease, rows = dispatcher.claim()
            timings.append((time.perf_counter() - started) * 1000)
            if len(rows) != BATCH:
                raise RuntimeError(f"claimed {len(rows)} users, expected {BATCH}")
            db.session.execute(
                update(users)
                .where(users.c.id.in_([r.id for r in rows]))
                .values(reminder_lease_until=None)
            )
            db.session.commit()
            vacuum(app)
        db.session.remove()
    return timings


class _Captured(Exception):
    pass


def claim_statement(app, now: datetime):
    """The dispatcher's own claim statement, caught on its way to the database (not run)."""
    from models import db
    from reminders.dispatch import Dispatcher, DispatchReport

    captured = []

    def capture(statement, *args, **kwargs):
        captured.append(statement)
        raise _Captured

    dispatcher = Dispatcher(None, now, DispatchReport())
    db.session.execute = capture  # the scoped session's attribute shadows its method
    try:
        dispatcher.claim()
    except _Captured:
        pass
    finally:
        del db.session.execute
    db.session.rollback()
    return captured[0]


def claim_work(app, now: datetime) -> int:
    """How much one claim reads, exactly, whatever the machine is doing: SQLite's virtual
    machine steps for the claim statement; PostgreSQL's entries visited in the due index
    (`EXPLAIN ANALYZE`, rolled back). Flat means the claim never looks at not-due users."""
    from models import db

    with app.app_context():
        statement = claim_statement(app, now)
        if db.engine.dialect.name == "sqlite":
            raw = db.session.connection().connection.dbapi_connection
            steps = [0]

            def count() -> int:
                steps[0] += 1
                return 0

            raw.set_progress_handler(count, 100)
            try:
                db.session.execute(statement).all()
            finally:
                raw.set_progress_handler(None, 0)
                db.session.rollback()
            return steps[0] * 100
        sql = str(
            statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        )
        try:
            plan = db.session.connection().exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
            tree = plan.scalar()
        finally:
            db.session.rollback()
        tree = json.loads(tree) if isinstance(tree, str) else tree
        return _due_index_entries(tree[0]["Plan"])


def _due_index_entries(node: dict) -> int:
    visited = 0
    if node.get("Index Name") == DUE_INDEX:
        visited += int(node.get("Actual Rows", 0)) + int(node.get("Rows Removed by Filter", 0))
    for child in node.get("Plans", []):
        visited += _due_index_entries(child)
    return visited


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

    from bench.common import ROOT

    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))


def _since(started: float) -> float:
    return time.perf_counter() - started


def one_database(name: str, database_url: str, loader, ctx: Context) -> list[Result]:
    small, large = 10_000, ctx.size(1_000_000, 100_000)
    repeats = ctx.size(9, 3)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    population = Population(now)
    app = build_app(database_url)
    migrate(app)

    started = time.perf_counter()
    loader(app, population.rows(BATCH, due=True) + population.rows(small, due=False))
    log(f"claim_cost {name}: loaded {BATCH + small:,} users in {_since(started):.1f} s")
    time_claims(app, now, 2)  # warm the connection and the statement cache
    few = time_claims(app, now, repeats)
    few_work = claim_work(app, now)

    started = time.perf_counter()
    chunk = 100_000
    for offset in range(0, large - small, chunk):
        loader(app, population.rows(min(chunk, large - small - offset), due=False))
    log(f"claim_cost {name}: grew to {BATCH + large:,} users in {_since(started):.1f} s")
    time_claims(app, now, 2)
    many = time_claims(app, now, repeats)
    many_work = claim_work(app, now)
    with app.app_context():
        from models import db

        db.engine.dispose()
    log(f"claim_cost {name}: {median(few):.1f} ms, then {median(many):.1f} ms")
    return [
        Result(
            GROUP,
            f"{name}: claim {BATCH:,} due, {small:,} not due",
            median(few),
            "ms",
            Target("<=", LIMIT_MS, "ms"),
            few,
        ),
        Result(
            GROUP,
            f"{name}: claim {BATCH:,} due, {large:,} not due",
            median(many),
            "ms",
            Target("<=", LIMIT_MS, "ms"),
            many,
        ),
        Result(
            GROUP,
            f"{name}: claim time, {large:,} vs {small:,} not due",
            ratio(median(many), median(few)),
            "x",
            note="timing noise and cache misses included; see the work figure",
        ),
        Result(
            GROUP,
            f"{name}: work per claim ({WORK_UNITS[name]}), {small:,} not due",
            few_work,
            "",
        ),
        Result(
            GROUP,
            f"{name}: work per claim, {large:,} vs {small:,} not due",
            ratio(many_work, few_work),
            "x",
            Target("<=", GROWTH_LIMIT, "x"),
            detail={"few": few_work, "many": many_work},
            note="1.00x = flat: the claim reads no more with 100x the users not due",
        ),
    ]


def run(ctx: Context) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="closer-bench-claim-") as tmpdir:
        url = f"sqlite:///{Path(tmpdir) / 'claim.db'}"
        results += one_database("SQLite", url, load_sqlite, ctx)
    try:
        url = fresh_postgres_database()
    except Exception as exc:  # no server: say so in the table rather than fail the whole run
        log(f"claim_cost PostgreSQL skipped: {exc}")
        ctx.note(f"claim_cost: PostgreSQL was not reachable ({type(exc).__name__}); not measured.")
        return results
    try:
        results += one_database("PostgreSQL", url, load_postgres, ctx)
    finally:
        drop_postgres_database()
    return results

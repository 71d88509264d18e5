"""6. Due-claim cost: the time to claim a batch of 1,000 due users, with 10,000 and then
1,000,000 users who are not due, in SQLite and in PostgreSQL.

The claim is the dispatcher's own (`dispatcher_claim` below, `REMINDER_BATCH_SIZE = 1000`),
committed. Each timing covers its statements and commit; between timings the 1,000 leases
are cleared again (not timed), so every claim sees the same 1,000 due users.

The schema is the real one (Alembic migrations). Users (bench/claim_data.py): 1,000 due
(instants in the past few minutes) and 10,000 not due (instants over the next 24 hours, whole
minutes, as reminder times are); then 990,000 more not-due users are added in bulk and the
same 1,000 are claimed again. PostgreSQL runs `ANALYZE` after loading and `VACUUM` between
timings (not timed), as autovacuum would.

"Does not grow" is judged on the work one claim does, which timing noise cannot blur:
SQLite's virtual-machine steps for the claim's statements, PostgreSQL's rows of `users` read
by every scan of the plan (`EXPLAIN ANALYZE`, rolled back), so a sequential scan would count
the whole table. The time ratio is shown beside it; it moves with the neighbours and with
cache misses in a 100x larger table.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.claim_data import (
    BATCH,
    Population,
    build_app,
    drop_postgres_database,
    fresh_postgres_database,
    load_postgres,
    load_sqlite,
    migrate,
)
from bench.common import Context, log
from bench.report import Result, Target, median, ratio

GROUP = "claim_cost"
LIMIT_MS = 50.0
GROWTH_LIMIT = 1.5  # "does not grow": 100x more not-due users may cost at most 1.5x
WORK_UNITS = {"SQLite": "VM steps", "PostgreSQL": "rows of users read"}

# -- claiming ----------------------------------------------------------------------------


def dispatcher_claim(now: datetime) -> list:
    """The dispatcher's own claim of one batch, committed; the ids it claimed. The one place
    that knows where the reminders package keeps its claim: adapt here if it moves."""
    from reminders.dispatch import Dispatcher, DispatchReport

    _lease, rows = Dispatcher(None, now, DispatchReport()).claim()
    return [row.id for row in rows]


def vacuum(app) -> None:
    """PostgreSQL: clear the dead row versions the last claim and its reset left (not timed),
    as autovacuum keeps the table in production; without it each timing would be slower than
    the one before. SQLite updates in place and needs nothing."""
    from models import db

    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM users")


def release(ids: list) -> None:
    """Hand the claimed users back (not timed), so the next claim sees the same 1,000."""
    from sqlalchemy import update

    from models import User, db

    users = User.__table__
    db.session.execute(update(users).where(users.c.id.in_(ids)).values(reminder_lease_until=None))
    db.session.commit()


def time_claims(app, now: datetime, repeats: int) -> list[float]:
    """Milliseconds per claim of one batch (its statements and commit)."""
    from models import db

    timings = []
    with app.app_context():
        vacuum(app)
        for _ in range(repeats):
            started = time.perf_counter()
            ids = dispatcher_claim(now)
            timings.append((time.perf_counter() - started) * 1000)
            if len(ids) != BATCH:
                raise RuntimeError(f"claimed {len(ids)} users, expected {BATCH}")
            release(ids)
            vacuum(app)
        db.session.remove()
    return timings


def claim_statements(app, now: datetime) -> list[tuple[str, object]]:
    """The SQL one claim sends that reads the due users, caught with SQLAlchemy's documented
    `before_cursor_execute` event while the claim really runs (then released)."""
    from sqlalchemy import event

    from models import db

    seen = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if "next_reminder_at" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        ids = dispatcher_claim(now)
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    release(ids)
    vacuum(app)  # as before every timed claim: no dead versions of these rows in the index
    return seen


def claim_work(app, now: datetime) -> int:
    """How much one claim reads, exactly, whatever the machine is doing: SQLite's virtual
    machine steps for the claim's statements; PostgreSQL's rows of `users` read by every
    scan of its plan (`EXPLAIN ANALYZE`). Each is run again on a raw connection and rolled
    back. Flat means the claim never looks at users who are not due."""
    from models import db

    with app.app_context():
        statements = claim_statements(app, now)
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if db.engine.dialect.name == "sqlite":
                steps = [0]

                def count() -> int:
                    steps[0] += 1
                    return 0

                raw.driver_connection.set_progress_handler(count, 100)
                for statement, parameters in statements:
                    cursor.execute(statement, parameters).fetchall()
                raw.driver_connection.set_progress_handler(None, 0)
                return steps[0] * 100
            visited = 0
            for statement, parameters in statements:
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
                tree = cursor.fetchone()[0]
                tree = json.loads(tree) if isinstance(tree, str) else tree
                visited += _rows_read(tree[0]["Plan"])
            return visited
        finally:
            raw.rollback()
            raw.close()


def _rows_read(node: dict) -> int:
    """Rows of `users` every scan in a plan read, index and table scans alike, filtered out
    or not, over all their loops: a sequential scan shows up as the whole table."""
    read = 0
    if node.get("Node Type") != "ModifyTable" and node.get("Relation Name") == "users":
        kept = int(node.get("Actual Rows", 0)) + int(node.get("Rows Removed by Filter", 0))
        read += kept * int(node.get("Actual Loops", 1))
    for child in node.get("Plans", []):
        read += _rows_read(child)
    return read


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

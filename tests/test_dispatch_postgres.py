"""Several dispatcher processes against one PostgreSQL: each reminder goes out once.

Real processes (`python -m flask reminders dispatch`), a real push service in its own
process (`python -m tests.pushservice --no-verify`, which counts every accepted push per
subscription and its Topic), and 5,000 due users in a schema of their own.

What "once" means under SIGKILL is spelt out in reminders/dispatch.py: nothing is ever lost,
and the only pushes that can go out twice are the few a killed process had on the wire or
had seen accepted but not yet committed. The test measures that set exactly (accepted by the
service, not recorded in the database when the process died) and checks that the rerun sent
those and only those again, each with the same Topic, so the push service and the device
collapse them into one notification.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, insert, select, text

from models import PushSubscription, ReminderSent, User, db
from reminders import vapid
from reminders.dispatch import FLUSH_EVERY
from tests.conftest import POSTGRES_BASE_URL, require_postgres
from tests.pushservice import PushService

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parent.parent
USERS = 5_000
KILL_USERS = 2_000
CONCURRENCY = 16
SCHEMA = f"closer_dispatch_{os.getpid()}"
DAY1, DAY2 = date(2026, 11, 27), date(2026, 11, 28)


def _url() -> str:
    sep = "&" if "?" in POSTGRES_BASE_URL else "?"
    return f"{POSTGRES_BASE_URL}{sep}options=-csearch_path%3D{SCHEMA}"


@pytest.fixture(scope="module")
def push_service():
    proc = subprocess.Popen(
        # 20 ms per push, as a near push service answers: without it a pass of 2,000 users
        # can end before the kill test has seen one under way.
        [
            sys.executable,
            "-m",
            "tests.pushservice",
            "--port",
            "0",
            "--no-verify",
            "--delay",
            "0.02",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready = proc.stdout.readline().split()
        assert ready and ready[0] == "READY", ready
        yield ready[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def database(tmp_path_factory, push_service):
    require_postgres()
    admin = create_engine(POSTGRES_BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine = create_engine(_url())
    db.metadata.create_all(engine)
    keys = PushService().new_subscriber().subscription_info["keys"]  # one real key pair
    ids = [f"{i:032x}" for i in range(USERS)]
    due = datetime(2026, 11, 27, 8, 30)
    with engine.begin() as conn:
        conn.execute(
            insert(User.__table__),
            [
                {
                    "id": uid,
                    "created_at": due,
                    "time_zone": "UTC",
                    "time_zone_confirmed": True,
                    "first_date": date(2026, 11, 26),
                    "reminder_time": clock_time(8, 30),
                    "reminder_every": 1,
                    "reminder_unanswered": 0,
                    "next_reminder_at": due,
                    "next_reminder_day": DAY1,
                }
                for uid in ids
            ],
        )
        conn.execute(
            insert(PushSubscription.__table__),
            [
                {
                    "user_id": uid,
                    "endpoint": f"{push_service}/push/{uid}",
                    "p256dh": keys["p256dh"],
                    "auth": keys["auth"],
                    "created_at": due,
                }
                for uid in ids
            ],
        )
    key = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    vapid.create_key_file(key)
    env = {
        **os.environ,
        "DATABASE_URL": _url(),
        "FLASK_SECRET_KEY": "s" * 48,
        "FLASK_VAPID_PRIVATE_KEY_PATH": str(key),
        "FLASK_VAPID_SUBJECT": "mailto:reminders@closer.app",
        "FLASK_PUSH_ALLOW_INSECURE_ENDPOINTS": "true",
        "FLASK_REMINDER_CONCURRENCY": str(CONCURRENCY),
        "FLASK_REMINDER_BATCH_SIZE": "100",
    }
    yield engine, env, set(ids)
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    admin.dispose()


def start_dispatcher(env: dict, now: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "reminders", "dispatch", "--now", now],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> dict[str, float]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    return {k: float(v) for k, v in (part.split("=") for part in out.split())}


def deliveries(origin: str, topic: str) -> Counter:
    log = requests.get(f"{origin}/topics", timeout=10).json()
    return Counter({token: topics.count(topic) for token, topics in log.items()})


def settle(origin: str) -> None:
    """Wait until the push service has finished every request it is handling."""
    while requests.get(f"{origin}/in-flight", timeout=10).json()["in_flight"]:
        time.sleep(0.01)


def test_four_processes_send_5000_reminders_exactly_once(database, push_service):
    engine, env, ids = database
    started = time.monotonic()
    procs = [start_dispatcher(env, "2026-11-27T08:31:00Z") for _ in range(4)]
    reports = [finish(p) for p in procs]
    elapsed = time.monotonic() - started
    settle(push_service)

    got = deliveries(push_service, "closer-2026-11-27")
    assert set(got) == ids  # every user, and nobody else
    assert set(got.values()) == {1}  # no duplicates
    assert sum(r["sent"] for r in reports) == USERS
    assert sum(r["reminded"] for r in reports) == USERS
    assert all(r["claimed"] > 0 for r in reports), reports  # all four really took part
    with engine.connect() as conn:
        assert conn.scalar(select(text("count(*)")).select_from(ReminderSent.__table__)) == USERS
        leased = conn.scalar(
            text("select count(*) from users where reminder_lease_until is not null")
        )
        assert leased == 0
    print(
        f"\n4 dispatcher processes, {USERS} users: {elapsed:.2f} s wall "
        f"({USERS / elapsed:.0f} pushes/s including process start-up); per process "
        f"claimed={[int(r['claimed']) for r in reports]} "
        f"pass seconds={[round(r['seconds'], 2) for r in reports]}"
    )


def test_a_dispatcher_killed_mid_pass_loses_nothing_and_repeats_only_its_window(
    database, push_service
):
    engine, env, everyone = database
    topic = "closer-2026-11-28"
    # 2,000 of the users are due on the 28th (the rest later), to keep the run short.
    ids = set(sorted(everyone)[:KILL_USERS])
    with engine.begin() as conn:
        conn.execute(
            text(
                "update users set next_reminder_at = '2026-11-29 08:30',"
                " next_reminder_day = '2026-11-29' where id > :last"
            ),
            {"last": max(ids)},
        )
    baseline = sum(requests.get(f"{push_service}/stats", timeout=10).json().values())
    victim = start_dispatcher(env, "2026-11-28T08:31:00Z")  # its leases end 08:36:00
    survivor = start_dispatcher(env, "2026-11-28T08:31:01Z")  # and these 08:36:01
    # Kill the victim mid-pass: pushes are flowing and it holds leases on users. It is
    # stopped while its leases are counted: between a count and a kill a running victim could
    # finish what it held (seen once on a loaded machine).
    while True:
        assert victim.poll() is None, "the pass ended before it could be killed"
        flowing = sum(requests.get(f"{push_service}/stats", timeout=10).json().values())
        if flowing >= baseline + KILL_USERS // 4:
            victim.send_signal(signal.SIGSTOP)
            with engine.connect() as conn:
                held = conn.scalar(
                    text("select count(*) from users where reminder_lease_until = :lease"),
                    {"lease": datetime(2026, 11, 28, 8, 36)},
                )
            if held:
                break
            victim.send_signal(signal.SIGCONT)
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    survived = finish(survivor)
    settle(push_service)

    before_rerun = deliveries(push_service, topic)
    with engine.connect() as conn:
        committed = set(
            conn.scalars(
                select(PushSubscription.user_id).where(PushSubscription.last_sent_day == DAY2)
            )
        )
        stranded = conn.scalar(
            text("select count(*) from users where reminder_lease_until is not null")
        )
    accepted = {token for token, n in before_rerun.items() if n}
    accepted_uncommitted = accepted - committed
    assert committed <= accepted  # we never record a push the service did not take
    assert stranded > 0  # the victim died holding leases on users it had not finished

    # The rerun comes after the victim's lease (300 s) has run out.
    rerun = finish(start_dispatcher(env, "2026-11-28T08:37:00Z"))
    settle(push_service)
    after = deliveries(push_service, topic)

    assert all(after[token] >= 1 for token in ids)  # nobody lost
    assert not any(after[token] for token in everyone - ids)  # and nobody who was not due
    twice = {token for token, n in after.items() if n == 2}
    assert max(after.values()) <= 2
    assert twice == accepted_uncommitted  # repeats are exactly the killed process's window
    assert len(twice) <= 2 * CONCURRENCY + FLUSH_EVERY
    for token in twice:  # and each repeat carries the same Topic, so it replaces the first
        assert after[token] == 2
    with engine.connect() as conn:
        recorded = conn.scalar(
            select(text("count(*)"))
            .select_from(ReminderSent.__table__)
            .where(ReminderSent.day == DAY2)
        )
        assert recorded == KILL_USERS  # exactly one record per user and day
        assert (
            conn.scalar(text("select count(*) from users where reminder_lease_until is not null"))
            == 0
        )
    print(
        f"\nSIGKILL after {sum(before_rerun.values())} pushes: the survivor sent "
        f"{int(survived['sent'])}, the rerun {int(rerun['sent'])}; repeated (accepted by the "
        f"push service, not yet committed when killed): {len(twice)} of {KILL_USERS}"
    )


def test_two_processes_send_a_stale_rows_today_late_and_exactly_once(database, push_service):
    # Every row still points at the 29th (the dispatchers were down that day); a pass at
    # 09:00 on the 30th, after the 08:30 reminder time, sends the 30th's reminder to each
    # user once, late, and never the 29th's.
    engine, env, ids = database
    with engine.begin() as conn:
        conn.execute(
            text(
                "update users set next_reminder_at = '2026-11-29 08:30',"
                " next_reminder_day = '2026-11-29', reminder_lease_until = null"
            )
        )
    procs = [start_dispatcher(env, "2026-11-30T09:00:00Z") for _ in range(2)]
    reports = [finish(p) for p in procs]
    settle(push_service)

    today = deliveries(push_service, "closer-2026-11-30")
    assert set(today) == ids and set(today.values()) == {1}
    assert not any(deliveries(push_service, "closer-2026-11-29").values())
    assert sum(r["late"] for r in reports) == USERS
    assert sum(r["skipped_stale"] for r in reports) == 0
    with engine.connect() as conn:
        recorded = conn.scalar(
            select(text("count(*)"))
            .select_from(ReminderSent.__table__)
            .where(ReminderSent.day == date(2026, 11, 30))
        )
        assert recorded == USERS
        next_days = set(conn.scalars(text("select distinct next_reminder_day from users")))
        assert next_days == {date(2026, 12, 1)}

    # A second pass the same morning claims nobody: exactly once.
    again = finish(start_dispatcher(env, "2026-11-30T09:10:00Z"))
    assert again["claimed"] == 0

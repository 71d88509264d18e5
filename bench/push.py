"""5. Push: 5,000 subscribers behind a push service that answers after 20 ms, one dispatcher.

The push service is tests/pushservice.py in its own process (`--no-verify --delay 0.02`: it
holds every push 20 ms, what a real one costs across the internet, then answers 201 and
counts). The database is a temporary SQLite file with the real schema (Alembic), N users due
this morning, each with one device carrying real P-256 keys; it is seeded once and copied
afresh for every round, so no round depends on how the dispatcher records what it did.

The dispatcher is driven only through its command line, as cron or a service manager runs it:
`flask reminders dispatch --now ...` in one process (a temporary VAPID key, and
`FLASK_PUSH_ALLOW_INSECURE_ENDPOINTS`, since the push service is on loopback). pushes/s is
the rate the push service receives them: N over the time from its first push to its last,
read from its `/stats` every 0.1 s while the pass runs (the process's start-up, seconds of
imports on a loaded machine, is reported apart). A second pass right after finds nothing
due: its CPU time, the process's start-up and an empty pass, is taken off the first's for
the CPU per push. `/stats` also checks that every subscriber got exactly one push in every
round, and none from the second pass.

Beside it, the CPU per push of encryption alone: pywebpush's `WebPusher(...).encode()` of
the same size of payload for one subscriber, in this process, no HTTP: the floor under any
sender's cost per push.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from bench.common import BIN, ROOT, Context, log, stop_process
from bench.report import Result, Target, median

GROUP = "push"
SUBJECT = "mailto:bench@closer.app"
RATE_LIMIT = 500.0  # pushes/s: a day's 100,000 reminders in under 4 minutes
LATENCY = 0.02  # seconds the push service holds each push
POLL = 0.1  # seconds between two looks at the push service's count during a pass
# A reminder's size (title, practice line, day URL, tag): what the encryption works on.
PAYLOAD = json.dumps(
    {
        "title": "Closer: today's two minutes",
        "body": "Ask one question you have never asked and listen to the whole answer.",
        "url": "/day/2026-12-07",
        "tag": "closer-2026-12-07",
        "actions": [{"action": "done", "title": "Done"}],
    }
).encode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class PushServiceProcess:
    """tests/pushservice.py as a process: `origin`, `stats()`."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.origin = ""

    def __enter__(self) -> PushServiceProcess:
        cmd = [str(BIN / "python"), "-m", "tests.pushservice", "--port", "0", "--no-verify"]
        cmd += ["--delay", str(self.delay)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            stop_process(self.proc)
            raise RuntimeError(f"push service did not start: {line!r}")
        self.origin = line.split(" ", 1)[1]
        return self

    def __exit__(self, *exc_info) -> None:
        stop_process(self.proc)

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.origin + "/stats", timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def total(self) -> int:
        return sum(self.stats().values())


def make_subscribers(n: int, origin: str) -> list[dict]:
    """N browser-like subscriptions: real P-256 keys and 16-byte auth secrets."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    subs = []
    for _ in range(n):
        point = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        token = b64url(os.urandom(18))
        keys = {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}
        subs.append({"token": token, "endpoint": f"{origin}/push/{token}", "keys": keys})
    return subs


def seeded_database(tmp: Path, subs: list[dict], day: date, due_at: datetime) -> Path:
    """A migrated SQLite file with one user due at `due_at` (naive UTC) per subscriber."""
    from flask_migrate import upgrade

    from app import create_app
    from models import PushSubscription, User, db

    path = tmp / "seeded.db"
    app = create_app(
        {
            "SECRET_KEY": "bench-" + secrets.token_hex(24),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
        }
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    users, devices = [], []
    for sub in subs:
        uid = os.urandom(16).hex()
        users.append(
            {
                "id": uid,
                "created_at": now,
                "time_zone": "UTC",
                "time_zone_confirmed": True,
                "first_date": day - timedelta(days=10),
                "reminder_time": clock(8, 30),
                "reminder_every": 1,
                "reminder_unanswered": 0,
                "next_reminder_at": due_at,
                "next_reminder_day": day,
            }
        )
        keys = sub["keys"]
        devices.append(
            {
                "user_id": uid,
                "endpoint": sub["endpoint"],
                "p256dh": keys["p256dh"],
                "auth": keys["auth"],
                "created_at": now,
            }
        )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.session.execute(User.__table__.insert(), users)
        db.session.execute(PushSubscription.__table__.insert(), devices)
        db.session.commit()
        db.engine.dispose()
    return path


def dispatch_once(env: dict, now: datetime, service=None, expected: int = 0) -> dict:
    """`flask reminders dispatch` as a child process: its wall and CPU time, its output and,
    with a `service` to watch, when the push service saw the first and the `expected`-th
    push of this pass (its `/stats`, read every POLL seconds while the pass runs)."""
    cmd = [str(BIN / "flask"), "--app", "app", "reminders", "dispatch", "--now", now.isoformat()]
    base = service.total() if service else 0
    first = last = None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while service and proc.poll() is None and last is None:
        seen, at = service.total() - base, time.perf_counter()
        first = first if first is not None or seen == 0 else at
        last = at if seen >= expected else None
        time.sleep(POLL)
    out, err = proc.communicate(timeout=900)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"dispatcher failed: {err.decode()[-1500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sending = (last - first) if first is not None and last is not None else None
    return {"seconds": seconds, "cpu": cpu, "sending": sending, "output": out.decode()[-300:]}


def dispatcher_env(db_path: Path, key_path: Path) -> dict:
    return dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{db_path}",
        FLASK_SECRET_KEY="bench-" + secrets.token_hex(32),
        FLASK_VAPID_PRIVATE_KEY_PATH=str(key_path),
        FLASK_VAPID_SUBJECT=SUBJECT,
        FLASK_PUSH_ALLOW_INSECURE_ENDPOINTS="true",  # the push service is on loopback
        PYTHONPATH=str(ROOT),
    )


def one_round(service, seeded: Path, tmp: Path, key: Path, now: datetime, tokens) -> dict:
    db_path = tmp / "round.db"
    shutil.copyfile(seeded, db_path)
    env = dispatcher_env(db_path, key)
    before = service.stats()
    loaded = dispatch_once(env, now, service, len(tokens))
    after = service.stats()
    wrong = [t for t in tokens if after.get(t, 0) - before.get(t, 0) != 1]
    if wrong:
        raise RuntimeError(f"{len(wrong)} of {len(tokens)} did not get exactly one push")
    empty = dispatch_once(env, now)  # nothing is due any more: start-up and an empty pass
    if service.stats() != after:
        raise RuntimeError("the second pass sent pushes again")
    sent = len(tokens)
    if not loaded["sending"]:
        raise RuntimeError("the pass ended before the push service saw it send")
    return {
        "sent": sent,
        # From the push service seeing the first push to seeing the last one; the first
        # arrives 20 ms after it was sent, and so does the last.
        "rate": sent / loaded["sending"],
        "rate_with_start_up": sent / loaded["seconds"],
        "cpu_ms_per_push": 1000 * (loaded["cpu"] - empty["cpu"]) / sent,
        "loaded": loaded,
        "empty": empty,
    }


def encryption_cpu_ms(subs: list[dict]) -> float:
    """CPU ms per push of pywebpush's encryption alone, one subscriber at a time."""
    from pywebpush import WebPusher

    infos = [{"endpoint": s["endpoint"], "keys": s["keys"]} for s in subs]
    cpu = time.process_time()
    for info in infos:
        WebPusher(info).encode(PAYLOAD, content_encoding="aes128gcm")
    return 1000 * (time.process_time() - cpu) / len(infos)


def run(ctx: Context) -> list[Result]:
    from reminders import vapid

    n = ctx.size(5000, 500)
    rounds = ctx.size(3, 1)
    today = datetime.now(UTC).date()
    now = datetime.combine(today, clock(12, 0), tzinfo=UTC)
    due_at = datetime.combine(today, clock(8, 30))
    runs, encryption = [], []
    with (
        tempfile.TemporaryDirectory(prefix="closer-bench-push-") as tmpdir,
        PushServiceProcess(LATENCY) as service,
    ):
        tmp = Path(tmpdir)
        key = vapid.create_key_file(tmp / "vapid_private.pem")
        subs = make_subscribers(n, service.origin)
        seeded = seeded_database(tmp, subs, today, due_at)
        tokens = [s["token"] for s in subs]
        for i in range(rounds):
            runs.append(one_round(service, seeded, tmp, key, now, tokens))
            encryption.append(encryption_cpu_ms(subs[: ctx.size(1000, 200)]))
            r = runs[-1]
            log(
                f"push round {i + 1}/{rounds}: {r['rate']:.0f} pushes/s "
                f"({r['rate_with_start_up']:.0f}/s with start-up), {r['cpu_ms_per_push']:.2f} ms "
                f"CPU per push, encryption alone {encryption[-1]:.2f} ms; {r['loaded']['output']}"
            )

    def figure(key):
        values = [r[key] for r in runs]
        return median(values), values

    rate, rates = figure("rate")
    with_start, with_start_runs = figure("rate_with_start_up")
    cpu, cpu_runs = figure("cpu_ms_per_push")
    start_up = [r["empty"]["seconds"] for r in runs]
    who = f"one dispatcher process, {n:,} subscribers, push service answering after 20 ms"
    return [
        Result(
            GROUP,
            f"{who}: pushes/s",
            rate,
            "pushes/s",
            Target(">=", RATE_LIMIT, "pushes/s"),
            rates,
            note="received by the push service: N / (its last push - its first)",
            detail={"runs": runs},
        ),
        Result(GROUP, "the same, start-up included", with_start, "pushes/s", None, with_start_runs),
        Result(GROUP, "start-up and an empty pass", median(start_up), "s", None, start_up),
        Result(GROUP, "dispatcher CPU per push", cpu, "ms", None, cpu_runs),
        Result(
            GROUP,
            "encryption alone (pywebpush `encode`, in-process) CPU per push",
            median(encryption),
            "ms",
            None,
            encryption,
        ),
    ]

"""End to end: subscribe through the real endpoint, run `flask reminders dispatch --now ...`,
and check what a real loopback push service received (VAPID verified, body decrypted with
the subscriber's own keys). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, text

from models import PushSubscription, ReminderSent, User, db
from reminders.dispatch import Dispatcher, DispatchReport
from reminders.sender import make_sender
from tests.conftest import HTMX, POSTGRES_URL, app_on, require_postgres
from tests.reminders_support import (
    SUBJECT,
    counts,
    dispatch,
    local,
    payloads,
    push_app,
    sent_days,
    subscribe,
    subscription_count,
    the_user,
    utc,
)

MORNING = utc(2026, 11, 27, 8, 31)  # the fixed clock is 2026-11-26 12:00 UTC: Day 1 is the 26th


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, tmp_path):
    with app_on(request.param, tmp_path, push_app) as app:
        yield app


@pytest.fixture
def sqlite_app(tmp_path):
    with app_on("sqlite", tmp_path, push_app) as app:
        yield app


def start(app, service, reminder_time=None):
    client = app.test_client()
    client.get("/")
    subscriber = service.new_subscriber()
    assert subscribe(client, subscriber, reminder_time).status_code == 201
    return client, subscriber


def test_subscribe_then_dispatch_delivers_a_verified_decrypted_reminder(app, service):
    client, subscriber = start(app, service)
    # A reflection exists, and must never travel in a push.
    client.post("/day/2026-11-26/reflection", data={"text": "secret words about my sister"})

    before = dispatch(app, MORNING - timedelta(minutes=2))
    assert counts(before)["sent"] == 0 and subscriber.messages == []

    output = dispatch(app, MORNING)

    assert counts(output)["sent"] == 1 and counts(output)["reminded"] == 1
    assert service.rejections == []
    [message] = subscriber.messages
    # The service verified the VAPID JWT; here are its claims.
    assert message.jwt_claims["aud"] == service.origin
    assert message.jwt_claims["sub"] == SUBJECT
    now = datetime.now().timestamp()
    assert now < message.jwt_claims["exp"] <= now + 24 * 3600
    assert message.urgency == "normal"
    assert message.topic == "closer-2026-11-27"
    # TTL runs to the end of the user's day (UTC here): 15 h 29 min after 08:31.
    assert message.ttl == (utc(2026, 11, 28) - MORNING).total_seconds()
    payload = json.loads(message.payload)
    assert payload == {
        "title": "Day 2 · Reflect it back",
        "body": payload["body"],
        "url": "/day/2026-11-27",
        "day": "2026-11-27",
        "tag": "closer-2026-11-27",
    }
    library = app.extensions["library"]
    assert payload["body"] == library.for_day(2)[1].title
    assert b"secret" not in message.payload and b"sister" not in message.payload
    assert sent_days(app) == [date(2026, 11, 27)]
    user = the_user(app)
    assert user.next_reminder_at == datetime(2026, 11, 28, 8, 30)
    assert user.reminder_lease_until is None

    # A second pass the same morning sends nothing more.
    again = dispatch(app, MORNING + timedelta(minutes=5))
    assert counts(again)["claimed"] == 0 and len(subscriber.messages) == 1


def test_the_next_day_brings_the_next_strategy(sqlite_app, service):
    _, subscriber = start(sqlite_app, service, "07:15")
    dispatch(sqlite_app, utc(2026, 11, 27, 7, 16))
    dispatch(sqlite_app, utc(2026, 11, 28, 7, 16))
    titles = [p["title"] for p in payloads(subscriber)]
    assert titles == ["Day 2 · Reflect it back", "Day 3 · Practise empathy"]


def test_no_reminder_when_today_is_already_done(app, service):
    client, subscriber = start(app, service)
    app.extensions["test_clock"].now = utc(2026, 11, 27, 7, 0)
    assert client.post("/day/2026-11-27/done", headers=HTMX).status_code == 200

    output = dispatch(app, MORNING)

    assert counts(output)["skipped_done"] == 1 and counts(output)["sent"] == 0
    assert subscriber.messages == [] and sent_days(app) == []
    assert the_user(app).next_reminder_at == datetime(2026, 11, 28, 8, 30)
    dispatch(app, utc(2026, 11, 28, 8, 31))
    assert [p["day"] for p in payloads(subscriber)] == ["2026-11-28"]


def test_no_reminder_after_deleting_everything(app, service):
    client, subscriber = start(app, service)
    assert client.post("/settings/delete").status_code == 303

    dispatch(app, MORNING)

    assert subscriber.messages == [] and service.attempts == {}
    assert subscription_count(app) == 0


def test_no_reminder_after_turning_off(sqlite_app, service):
    client, subscriber = start(sqlite_app, service)
    assert client.post("/push/off", headers=HTMX).status_code == 200
    dispatch(sqlite_app, MORNING)
    assert subscriber.messages == [] and the_user(sqlite_app).next_reminder_at is None


def test_410_removes_the_subscription(app, service):
    _, subscriber = start(app, service)
    service.respond(subscriber.token, [410])

    output = dispatch(app, MORNING)

    assert counts(output)["gone"] == 1 and counts(output)["sent"] == 0
    assert subscription_count(app) == 0
    assert the_user(app).next_reminder_at is None  # no device left: nothing is due
    dispatch(app, MORNING + timedelta(days=1))
    assert service.attempts[subscriber.token] == 1


def test_429_with_retry_after_is_retried_later_and_sent_once(app, service):
    _, subscriber = start(app, service)
    service.respond(subscriber.token, [(429, {"Retry-After": "120"})])

    first = dispatch(app, MORNING)
    assert counts(first)["retry"] == 1 and subscriber.messages == [] and sent_days(app) == []
    assert the_user(app).next_reminder_at == datetime(2026, 11, 27, 8, 33)  # 08:31 + 120 s

    early = dispatch(app, MORNING + timedelta(seconds=60))
    assert counts(early)["claimed"] == 0 and service.attempts[subscriber.token] == 1

    retried = dispatch(app, MORNING + timedelta(seconds=121))
    assert counts(retried)["sent"] == 1
    for later in (300, 3600):
        dispatch(app, MORNING + timedelta(seconds=later))
    assert service.attempts[subscriber.token] == 2
    assert [p["day"] for p in payloads(subscriber)] == ["2026-11-27"]
    assert sent_days(app) == [date(2026, 11, 27)]


def test_a_retry_for_one_device_never_resends_to_the_others(sqlite_app, service):
    client, phone = start(sqlite_app, service)
    laptop = service.new_subscriber()
    assert subscribe(client, laptop).status_code == 201
    service.respond(laptop.token, [(503, {"Retry-After": "45"})])

    dispatch(sqlite_app, MORNING)
    assert (len(phone.messages), len(laptop.messages)) == (1, 0)
    dispatch(sqlite_app, MORNING + timedelta(seconds=46))
    dispatch(sqlite_app, MORNING + timedelta(seconds=600))

    assert (len(phone.messages), len(laptop.messages)) == (1, 1)
    assert service.attempts == {phone.token: 1, laptop.token: 2}
    assert sent_days(sqlite_app) == [date(2026, 11, 27)]


def test_5xx_without_retry_after_waits_the_default_and_gives_up_when_the_day_ends(
    sqlite_app, service
):
    _, subscriber = start(sqlite_app, service, "23:56")  # today, the 26th, at 23:56
    service.respond(subscriber.token, [500])
    output = dispatch(sqlite_app, utc(2026, 11, 26, 23, 57))
    assert counts(output)["retry"] == 1 and service.attempts == {subscriber.token: 1}
    # The default wait (300 s) would run past midnight: the day is given up, not sent late.
    user = the_user(sqlite_app)
    assert user.next_reminder_at == datetime(2026, 11, 27, 23, 56)
    assert user.next_reminder_day == date(2026, 11, 27)
    assert sent_days(sqlite_app) == []


def test_413_is_logged_and_not_retried(sqlite_app, service, caplog):
    _, subscriber = start(sqlite_app, service)
    service.respond(subscriber.token, [413])
    output = dispatch(sqlite_app, MORNING)
    assert counts(output)["rejected"] == 1
    assert any("413" in r.getMessage() for r in caplog.records)
    assert subscription_count(sqlite_app) == 1  # the device stays; tomorrow may work
    assert the_user(sqlite_app).next_reminder_at == datetime(2026, 11, 28, 8, 30)


def test_several_devices_each_get_one(app, service):
    client, phone = start(app, service)
    tablet = service.new_subscriber()
    subscribe(client, tablet)
    dispatch(app, MORNING)
    assert len(phone.messages) == len(tablet.messages) == 1
    assert sent_days(app) == [date(2026, 11, 27)]


def test_three_unanswered_reminders_drop_to_every_other_day_then_one_tap_restores(
    sqlite_app, service
):
    client, subscriber = start(sqlite_app, service)
    for day in (27, 28, 29, 30):
        dispatch(sqlite_app, utc(2026, 11, day, 8, 31))
    # 27, 28, 29 sent with no practice; the 30th is the first quiet day.
    assert [p["day"] for p in payloads(subscriber)] == ["2026-11-27", "2026-11-28", "2026-11-29"]
    user = the_user(sqlite_app)
    assert user.reminder_every == 2
    assert user.next_reminder_at == datetime(2026, 12, 1, 8, 30)

    sqlite_app.extensions["test_clock"].now = utc(2026, 11, 30, 12)
    page = client.get("/settings").get_data(as_text=True)
    assert "every other day" in page.lower() and "Remind me daily again" in page

    assert client.post("/push/daily", headers=HTMX).status_code == 200
    assert the_user(sqlite_app).next_reminder_at == datetime(2026, 12, 1, 8, 30)
    for day in (1, 2):
        dispatch(sqlite_app, utc(2026, 12, day, 8, 31))
    assert [p["day"] for p in payloads(subscriber)][-2:] == ["2026-12-01", "2026-12-02"]
    assert the_user(sqlite_app).reminder_every == 1


def test_every_other_day_keeps_its_rhythm_and_practising_brings_daily_back(sqlite_app, service):
    client, subscriber = start(sqlite_app, service)
    for day in range(27, 31):
        dispatch(sqlite_app, utc(2026, 11, day, 8, 31))
    dispatch(sqlite_app, utc(2026, 12, 1, 8, 31))  # sent (every other day)
    dispatch(sqlite_app, utc(2026, 12, 2, 8, 31))  # quiet
    dispatch(sqlite_app, utc(2026, 12, 3, 8, 31))  # sent
    days = [p["day"] for p in payloads(subscriber)]
    assert days[3:] == ["2026-12-01", "2026-12-03"]
    # They practise on the 3rd after the reminder: daily again from the 4th.
    sqlite_app.extensions["test_clock"].now = utc(2026, 12, 3, 20)
    client.post("/day/2026-12-03/done", headers=HTMX)
    dispatch(sqlite_app, utc(2026, 12, 4, 8, 31))
    dispatch(sqlite_app, utc(2026, 12, 5, 8, 31))
    assert [p["day"] for p in payloads(subscriber)][-2:] == ["2026-12-04", "2026-12-05"]
    assert the_user(sqlite_app).reminder_every == 1


def test_pause_for_three_days(sqlite_app, service):
    client, subscriber = start(sqlite_app, service)
    assert client.post("/push/pause", data={"days": "3"}, headers=HTMX).status_code == 200
    for day in (27, 28, 29):
        dispatch(sqlite_app, utc(2026, 11, day, 8, 31))
    assert [p["day"] for p in payloads(subscriber)] == ["2026-11-29"]
    assert the_user(sqlite_app).reminder_paused_until == date(2026, 11, 29)


def test_zone_change_reschedules_to_local_time_there(sqlite_app, service):
    client, subscriber = start(sqlite_app, service)
    assert (
        client.post("/settings/timezone", data={"time_zone": "America/New_York"}).status_code == 303
    )
    user = the_user(sqlite_app)
    # 12:00 UTC is 07:00 in New York: today's 08:30 there is still ahead.
    assert user.next_reminder_at == datetime(2026, 11, 26, 13, 30)

    dispatch(sqlite_app, utc(2026, 11, 26, 13, 29))
    assert subscriber.messages == []
    dispatch(sqlite_app, utc(2026, 11, 26, 13, 31))
    assert [p["day"] for p in payloads(subscriber)] == ["2026-11-26"]
    # and back to UTC: 08:30 UTC tomorrow, today's reminder is not repeated
    client.post("/settings/timezone", data={"time_zone": "UTC"})
    assert the_user(sqlite_app).next_reminder_at == datetime(2026, 11, 27, 8, 30)


def test_changing_the_time_after_todays_reminder_never_sends_today_twice(sqlite_app, service):
    client, subscriber = start(sqlite_app, service)
    dispatch(sqlite_app, MORNING)
    sqlite_app.extensions["test_clock"].now = MORNING + timedelta(minutes=1)
    client.post("/push/time", data={"reminder_time": "20:00"}, headers=HTMX)
    assert the_user(sqlite_app).next_reminder_at == datetime(2026, 11, 28, 20, 0)
    dispatch(sqlite_app, utc(2026, 11, 27, 20, 1))
    assert len(subscriber.messages) == 1


def test_a_stale_row_sends_todays_reminder_late_and_once(app, service):
    # The case: the row still points at 2026-12-07 08:30 Berlin (the dispatcher was
    # down that day); a pass at 09:00 Berlin on the 8th sends the 8th's reminder at once.
    client, subscriber = start(app, service)
    client.post("/settings/timezone", data={"time_zone": "Europe/Berlin"})
    _point_row_at(app, date(2026, 12, 7), datetime(2026, 12, 7, 7, 30))  # 08:30 CET

    output = dispatch(app, local("Europe/Berlin", 2026, 12, 8, 9, 0))

    report = counts(output)
    assert (report["sent"], report["reminded"], report["late"]) == (1, 1, 1)
    assert report["skipped_stale"] == 0
    [message] = subscriber.messages
    assert json.loads(message.payload)["day"] == "2026-12-08"  # today's, never the 7th's
    assert message.topic == "closer-2026-12-08"  # the Topic an on-time send would have had
    assert message.ttl == 15 * 3600  # to the end of the 8th in Berlin, not a day from now
    assert sent_days(app) == [date(2026, 12, 8)]
    user = the_user(app)
    assert (user.next_reminder_day, user.next_reminder_at) == (
        date(2026, 12, 9),
        datetime(2026, 12, 9, 7, 30),
    )
    # Exactly once: later passes that day send nothing, the next day is on time.
    dispatch(app, local("Europe/Berlin", 2026, 12, 8, 9, 5))
    dispatch(app, local("Europe/Berlin", 2026, 12, 8, 23, 59))
    assert len(subscriber.messages) == 1
    dispatch(app, local("Europe/Berlin", 2026, 12, 9, 8, 31))
    assert [p["day"] for p in payloads(subscriber)] == ["2026-12-08", "2026-12-09"]


def test_a_stale_row_before_todays_time_waits_for_it(sqlite_app, service):
    _, subscriber = start(sqlite_app, service)  # due 2026-11-27 08:30 UTC
    output = dispatch(sqlite_app, utc(2026, 11, 28, 7, 0))  # the 27th missed entirely
    assert counts(output)["skipped_stale"] == 1 and subscriber.messages == []
    assert the_user(sqlite_app).next_reminder_at == datetime(2026, 11, 28, 8, 30)
    output = dispatch(sqlite_app, utc(2026, 11, 28, 8, 31))
    assert counts(output)["late"] == 0  # on time: the row was already for the 28th
    assert [p["day"] for p in payloads(subscriber)] == ["2026-11-28"]


def test_a_stale_row_sends_nothing_late_when_today_is_done(app, service):
    client, subscriber = start(app, service)  # due 2026-11-27 08:30 UTC
    app.extensions["test_clock"].now = utc(2026, 11, 28, 7, 0)
    assert client.post("/day/2026-11-28/done", headers=HTMX).status_code == 200

    output = dispatch(app, utc(2026, 11, 28, 9, 0))

    assert counts(output)["skipped_done"] == 1 and subscriber.messages == []
    assert sent_days(app) == []
    assert the_user(app).next_reminder_at == datetime(2026, 11, 29, 8, 30)


def test_a_stale_row_keeps_the_back_off_quiet_day(sqlite_app, service):
    _, subscriber = start(sqlite_app, service)
    for day in (27, 28, 29):  # three unanswered: every other day from now on
        dispatch(sqlite_app, utc(2026, 11, day, 8, 31))
    _point_row_at(sqlite_app, date(2026, 11, 29), datetime(2026, 11, 29, 8, 30))
    # The row is stale on the 30th, but the 30th is a quiet day of the back-off.
    output = dispatch(sqlite_app, utc(2026, 11, 30, 9, 0))
    assert counts(output)["skipped_backoff"] == 1 and len(subscriber.messages) == 3
    _point_row_at(sqlite_app, date(2026, 11, 30), datetime(2026, 11, 30, 8, 30))
    dispatch(sqlite_app, utc(2026, 12, 1, 9, 0))  # stale again; the 1st is a reminder day
    assert [p["day"] for p in payloads(subscriber)][-1] == "2026-12-01"


def test_a_stale_row_on_a_paused_day_waits_for_the_pause_to_end(sqlite_app, service):
    client, subscriber = start(sqlite_app, service)
    assert client.post("/push/pause", data={"days": "3"}, headers=HTMX).status_code == 200
    _point_row_at(sqlite_app, date(2026, 11, 27), datetime(2026, 11, 27, 8, 30))
    output = dispatch(sqlite_app, utc(2026, 11, 28, 9, 0))  # paused until the 29th
    assert counts(output)["skipped_stale"] == 1 and subscriber.messages == []
    assert the_user(sqlite_app).next_reminder_at == datetime(2026, 11, 29, 8, 30)


def _point_row_at(app, day: date, at: datetime) -> None:
    """Leave the user's row pointing at `day` (as a dispatcher that was down would)."""
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        user.next_reminder_day, user.next_reminder_at = day, at
        db.session.commit()


def test_dst_change_through_the_dispatcher(tmp_path, service):
    from tests.conftest import Clock

    app = push_app(tmp_path, clock=Clock(utc(2026, 10, 23, 12)))
    client = app.test_client()
    client.get("/")
    client.post("/settings/timezone", data={"time_zone": "Europe/Berlin"})
    subscriber = service.new_subscriber()
    subscribe(client, subscriber, "08:30")
    fired = []
    for day in (24, 25, 26):
        user = the_user(app)
        fired.append(user.next_reminder_at)
        dispatch(app, user.next_reminder_at.replace(tzinfo=utc(2026, 1, 1).tzinfo))
    # 08:30 CEST (06:30 UTC) before the change on the 25th, 08:30 CET (07:30 UTC) after.
    assert fired == [
        datetime(2026, 10, 24, 6, 30),
        datetime(2026, 10, 25, 7, 30),
        datetime(2026, 10, 26, 7, 30),
    ]
    assert [p["day"] for p in payloads(subscriber)] == ["2026-10-24", "2026-10-25", "2026-10-26"]
    with app.app_context():
        db.engine.dispose()


# -- the claim ------------------------------------------------------------------------------


def _due_users(app, n: int, at: datetime, zone: str = "UTC") -> list[str]:
    with app.app_context():
        users = [
            User(
                time_zone=zone,
                first_date=date(2026, 11, 26),
                reminder_time=time(8, 30),
                next_reminder_at=at,
                next_reminder_day=at.date(),
            )
            for _ in range(n)
        ]
        db.session.add_all(users)
        db.session.commit()
        return [u.id for u in users]


def test_the_claim_leases_users_so_a_second_dispatcher_gets_none(app):
    ids = _due_users(app, 5, datetime(2026, 11, 27, 8, 30))
    with app.app_context():
        sender = make_sender()
        try:
            first = Dispatcher(sender, MORNING, DispatchReport())
            lease, rows = first.claim()
            assert sorted(r.id for r in rows) == sorted(ids)
            assert lease == datetime(2026, 11, 27, 8, 36)  # 08:31 + 300 s
            second = Dispatcher(sender, MORNING + timedelta(minutes=1), DispatchReport())
            assert second.claim()[1] == []
            # The lease runs out: another dispatcher may take them over.
            third = Dispatcher(sender, MORNING + timedelta(minutes=6), DispatchReport())
            assert len(third.claim()[1]) == 5
        finally:
            sender.close()


def test_a_dispatcher_that_lost_its_lease_writes_nothing(sqlite_app, service):
    client, subscriber = start(sqlite_app, service)
    with sqlite_app.app_context():
        sender = make_sender()
        try:
            slow = Dispatcher(sender, MORNING, DispatchReport())
            lease, rows = slow.claim()
            # Meanwhile the lease expired and another pass took the user over and finished,
            # and then the person moved their reminders to the evening.
            dispatch(sqlite_app, MORNING + timedelta(minutes=6))
            sqlite_app.extensions["test_clock"].now = MORNING + timedelta(minutes=7)
            answer = client.post("/push/time", data={"reminder_time": "20:00"}, headers=HTMX)
            assert answer.status_code == 200
            evening = datetime(2026, 11, 28, 20, 0)
            assert the_user(sqlite_app).next_reminder_at == evening
            slow.run_batch(lease, rows)
        finally:
            sender.close()
    # The slow pass saw the day done and sent nothing more; and it wrote nothing about the
    # user: one record, and the schedule the person chose (not the slow pass's 08:30).
    assert len(subscriber.messages) == 1
    with sqlite_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReminderSent)) == 1
    user = the_user(sqlite_app)
    assert (user.next_reminder_at, user.reminder_unanswered) == (evening, 1)
    assert user.reminder_lease_until is None


def test_claim_uses_the_next_reminder_index_on_sqlite(sqlite_app):
    with sqlite_app.app_context():
        sender = make_sender()
        try:
            dispatcher = Dispatcher(sender, MORNING, DispatchReport())
            users = User.__table__
            from sqlalchemy import or_

            inner = (
                select(users.c.id)
                .where(
                    users.c.next_reminder_at <= dispatcher.now,
                    or_(
                        users.c.reminder_lease_until.is_(None),
                        users.c.reminder_lease_until < dispatcher.now,
                    ),
                )
                .order_by(users.c.next_reminder_at)
                .limit(10)
            )
            compiled = inner.compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        finally:
            sender.close()
    detail = " ".join(row[-1] for row in plan)
    assert "USING INDEX ix_users_next_reminder_at" in detail
    assert "TEMP B-TREE" not in detail  # no sort: the index gives the order


@pytest.mark.postgres
def test_claim_uses_the_next_reminder_index_on_postgres(tmp_path):
    require_postgres()
    app = push_app(tmp_path, POSTGRES_URL)
    try:
        with app.app_context():
            db.session.execute(
                text(
                    "INSERT INTO users (id, created_at, time_zone, time_zone_confirmed, first_date,"
                    " reminder_every, reminder_unanswered, next_reminder_at)"
                    " SELECT md5(g::text), now(), 'UTC', true, '2026-11-26', 1, 0,"
                    " CASE WHEN g % 100 = 0 THEN timestamp '2026-11-27 08:30'"
                    " ELSE timestamp '2026-11-28 08:30' END FROM generate_series(1, 20000) g"
                )
            )
            db.session.commit()
            db.session.execute(text("ANALYZE users"))
            plan = (
                db.session.execute(
                    text(
                        "EXPLAIN UPDATE users SET reminder_lease_until = now() WHERE id IN ("
                        " SELECT id FROM users WHERE next_reminder_at <= '2026-11-27 08:31'"
                        " AND (reminder_lease_until IS NULL OR reminder_lease_until < now())"
                        " ORDER BY next_reminder_at LIMIT 100 FOR UPDATE SKIP LOCKED)"
                    )
                )
                .scalars()
                .all()
            )
            db.session.rollback()
            sender = make_sender()
            try:
                dispatcher = Dispatcher(sender, MORNING, DispatchReport())
                dispatcher.batch_size = 100
                _lease, rows = dispatcher.claim()
            finally:
                sender.close()
        assert len(rows) == 100
        assert any("ix_users_next_reminder_at" in line for line in plan), plan
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def test_devices_moved_to_another_user_follow_the_new_owner(sqlite_app, service):
    first, subscriber = start(sqlite_app, service)
    second = sqlite_app.test_client()
    second.get("/")
    assert subscribe(second, subscriber).status_code == 201
    with sqlite_app.app_context():
        rows = db.session.scalars(select(PushSubscription)).all()
        assert len(rows) == 1
        owners = db.session.scalars(select(User).order_by(User.created_at)).all()
        assert rows[0].user_id == owners[-1].id or rows[0].user_id in {u.id for u in owners}
        old = [u for u in owners if u.id != rows[0].user_id]
        assert all(u.next_reminder_at is None for u in old)
    dispatch(sqlite_app, MORNING)
    assert len(subscriber.messages) == 1


def test_a_host_that_later_resolves_to_a_private_address_is_never_contacted(tmp_path, service):
    """Validation at subscribe time cannot stop DNS from changing later (rebinding): the
    sender checks the address it would connect to, and never connects to a refused one."""
    app = push_app(tmp_path, PUSH_ALLOW_INSECURE_ENDPOINTS=False)
    subscriber = service.new_subscriber()
    keys = subscriber.subscription_info["keys"]
    with app.app_context():
        user = User(
            time_zone="UTC",
            first_date=date(2026, 11, 26),
            reminder_time=time(8, 30),
            next_reminder_at=datetime(2026, 11, 27, 8, 30),
            next_reminder_day=date(2026, 11, 27),
        )
        db.session.add(user)
        db.session.flush()
        # As if the name had resolved to a public address when it was stored.
        db.session.add(
            PushSubscription(
                user_id=user.id,
                endpoint=subscriber.endpoint,
                p256dh=keys["p256dh"],
                auth=keys["auth"],
            )
        )
        db.session.commit()
    output = dispatch(app, MORNING)
    assert counts(output)["gone"] == 1 and counts(output)["sent"] == 0
    assert service.connections == 0  # refused before any connection was opened
    assert service.attempts == {} and service.rejections == [] and subscriber.messages == []
    assert subscription_count(app) == 0
    with app.app_context():
        db.engine.dispose()

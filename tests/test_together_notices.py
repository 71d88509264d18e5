"""Pushes to a partner through the reminder dispatcher, on SQLite and PostgreSQL: a
thank-you's push says only who sent it (never the note), once; "<name> did it" respects quiet
hours (21:30-08:00 in the receiver's zone), one a day, "not if the receiver practised" and the
receiver's switch; several dispatchers send each notice exactly once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from models import PartnerNotice, User, db
from reminders.partner_notices import _claim, dispatch_notices
from reminders.sender import make_sender
from tests.conftest import app_on
from tests.pushservice import PushService
from tests.reminders_support import dispatch, payloads, push_app, subscribe, utc
from tests.test_together import TODAY, couple, invite_token, started, uid
from together.notices import owe_did_it

NOON = utc(2026, 11, 26, 12, 1)


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, tmp_path):
    with app_on(request.param, tmp_path, push_app) as app:
        yield app


@pytest.fixture
def service():
    with PushService() as svc:
        yield svc


def linked_with_push(app, service):
    """A and B linked; A's phone takes pushes. Returns (a, b, A's subscriber)."""
    a, b = couple(app, a_name="Sam", b_name="Alex")
    subscriber = service.new_subscriber()
    assert subscribe(a, subscriber).status_code == 201
    return a, b, subscriber


def notices(app, receiver=None) -> list[tuple[str, bool]]:
    """(kind, settled) of the notices owed, to `receiver` (a client) or to anyone."""
    with app.app_context():
        query = select(PartnerNotice).order_by(PartnerNotice.id)
        if receiver is not None:
            query = query.where(PartnerNotice.receiver_id == uid(app, receiver))
        return [(n.kind, n.sent_at is not None) for n in db.session.scalars(query)]


def did_it(app, client, now: datetime):
    """B marked today done at `now`: what the practice write calls (see the report)."""
    with app.app_context():
        owe_did_it(db.session.get(User, uid(app, client)), now)
        db.session.commit()


def test_a_thank_you_push_names_the_sender_only_and_is_sent_once(app, service):
    a, b, subscriber = linked_with_push(app, service)
    assert b.post("/together/thanks", data={"text": "secret words for you"}).status_code == 303
    dispatch(app, NOON)
    dispatch(app, NOON)
    thanks = [p for p in payloads(subscriber) if "thank-you" in p["body"]]
    assert thanks == [
        {
            "title": "Closer",
            "body": "Alex sent you a thank-you",
            "url": "/",
            "tag": thanks[0]["tag"],
        }
    ]
    assert all("secret" not in m.payload.decode() for m in subscriber.messages)
    assert notices(app) == [("thanks", True)]


def test_no_thanks_push_when_switched_off(app, service):
    a, b, subscriber = linked_with_push(app, service)
    a.post("/together/settings", data={"did_it": "1"})  # thanks off
    b.post("/together/thanks", data={"text": "hi"})
    dispatch(app, NOON)
    assert not [p for p in payloads(subscriber) if "thank-you" in p["body"]]


def test_did_it_respects_quiet_hours_one_a_day_and_already_practised(app, service):
    a, b, subscriber = linked_with_push(app, service)
    # Quiet hours on A's clock (UTC here): not queued at all, then or later.
    did_it(app, b, utc(2026, 11, 26, 21, 45))
    did_it(app, b, utc(2026, 11, 26, 7, 59))
    assert notices(app) == []
    # Daytime: one, however often B marks it.
    did_it(app, b, utc(2026, 11, 26, 10, 0))
    did_it(app, b, utc(2026, 11, 26, 11, 0))
    dispatch(app, NOON)
    dids = [p for p in payloads(subscriber) if "did today" in p["body"]]
    assert dids == [
        {"title": "Closer", "body": "Alex did today's practice", "url": "/", "tag": dids[0]["tag"]}
    ]
    # It expires at 21:30 on A's clock: a late delivery can never land in quiet hours.
    [ttl] = [m.ttl for m in subscriber.messages if b"did today" in m.payload]
    assert 0 < ttl <= (9 * 60 + 29) * 60


def test_no_did_it_once_the_receiver_practised(app, service):
    a, b, subscriber = linked_with_push(app, service)
    did_it(app, b, utc(2026, 11, 26, 10, 0))  # queued
    a.post(f"/day/{TODAY}/done")  # A practises before the dispatcher runs
    dispatch(app, NOON)
    assert not [p for p in payloads(subscriber) if "did today" in p["body"]]
    assert notices(app, receiver=a) == [("did_it", True)]  # settled without a push
    did_it(app, b, utc(2026, 11, 26, 11, 0))  # and no new one that day
    assert notices(app, receiver=a) == [("did_it", True)]
    # A's own Done (through the page) owes B one in turn: B's practice here is simulated.
    assert [kind for kind, _ in notices(app, receiver=b)] == ["did_it"]


def test_a_dispatch_that_runs_into_quiet_hours_drops_the_did_it(app, service):
    a, b, subscriber = linked_with_push(app, service)
    did_it(app, b, utc(2026, 11, 26, 21, 0))
    dispatch(app, utc(2026, 11, 26, 21, 31))
    assert not [p for p in payloads(subscriber) if "did today" in p["body"]]


def test_several_dispatchers_send_each_notice_once(app, service):
    a, b, subscriber = linked_with_push(app, service)
    b.post("/together/thanks", data={"text": "one"})
    b.post("/together/thanks", data={"text": "two"})
    now = NOON.replace(tzinfo=None)
    with app.app_context():
        first = _claim(now)  # dispatcher 1 holds both notices
        assert len(first) == 2
        sender = make_sender()
        try:
            assert dispatch_notices(sender, NOON) == 0  # dispatcher 2 finds nothing to take
            assert _claim(now) == []  # nor a third
        finally:
            sender.close()
        db.session.remove()
    # Dispatcher 1's lease runs out unfinished (it crashed): the next pass sends them, once.
    later = datetime(2026, 11, 26, 12, 10, tzinfo=UTC)
    dispatch(app, later)
    dispatch(app, later)
    thanks = [p for p in payloads(subscriber) if "thank-you" in p["body"]]
    assert len(thanks) == 2 and len({p["tag"] for p in thanks}) == 2
    assert notices(app) == [("thanks", True), ("thanks", True)]


def test_unlinking_drops_what_was_owed(app, service):
    a, b, subscriber = linked_with_push(app, service)
    b.post("/together/thanks", data={"text": "hi"})
    a.post("/together/unlink")
    dispatch(app, NOON)
    assert not [p for p in payloads(subscriber) if "thank-you" in p["body"]]


def test_a_linked_partners_daily_reminder_names_the_shared_practice(app, service):
    """B started six days before A and then joined A: from the day they linked, B's morning
    reminder names the couple's practice (A's calendar), not B's own Day 7."""
    a, b = started(app), started(app)
    with app.app_context():
        db.session.get(User, uid(app, b)).first_date = date(2026, 11, 20)
        db.session.commit()
    token = invite_token(a, "Sam")
    assert b.post(f"/together/join/{token}", data={"name": "Alex"}).status_code == 303
    subscriber = service.new_subscriber()
    assert subscribe(b, subscriber, reminder_time="12:01").status_code == 201
    dispatch(app, NOON)
    [message] = [p for p in payloads(subscriber) if p.get("day") == TODAY]
    library = app.extensions["library"]
    strategy, practice = library.for_day(1)  # A's Day 1 is today
    assert message["title"] == f"Day 1 together · {strategy.name}"
    assert message["body"] == " ".join(practice.title.split())
    assert library.for_day(7)[1].title != practice.title  # B's own calendar says otherwise

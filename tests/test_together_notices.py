"""Pushes to a partner through the reminder dispatcher, on SQLite and PostgreSQL: a
thank-you's push says only who sent it (never the note), once; "<name> did it" respects quiet
hours (21:30-08:00 in the receiver's zone), one a day, "not if the receiver practised" and the
receiver's switch; several dispatchers send each notice exactly once; a push service's
429/5xx is retried (after Retry-After or the default wait) until the notice's deadline, and the
rules are checked again before each retry."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from models import PartnerNotice, User, db
from reminders import dispatch as dispatcher
from reminders.partner_notices import LEASE, _claim, _deliver, dispatch_notices
from reminders.sender import make_sender
from tests.conftest import app_on
from tests.reminders_support import dispatch, payloads, push_app, subscribe, utc
from tests.test_together import TODAY, couple, invite_token, started, uid
from together.notices import owe_did_it

NOON = utc(2026, 11, 26, 12, 1)


@pytest.fixture(params=["sqlite", "postgres"])
def app(request, tmp_path):
    with app_on(request.param, tmp_path, push_app) as app:
        yield app


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
            assert dispatch_notices(sender, NOON, 300) == 0  # dispatcher 2 finds nothing to take
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


# -- retries after a 429/5xx (the partner's push goes through the same retry rule as the
#    daily reminder: policy.settle) ------------------------------------------------------

# A subscribed at 12:00 UTC with the default 08:30 reminder, so A's next daily reminder is
# the 27th's: no reminder shares the scripted answers of the 26th below.
MINUTE = timedelta(minutes=1)


def dids(subscriber) -> list[dict]:
    return [p for p in payloads(subscriber) if "did today" in p["body"]]


def thanks_of(subscriber) -> list[dict]:
    return [p for p in payloads(subscriber) if "thank-you" in p["body"]]


def live_in(app, client, time_zone: str) -> None:
    with app.app_context():
        db.session.get(User, uid(app, client)).time_zone = time_zone
        db.session.commit()


def test_a_did_it_answered_503_is_retried_after_the_default_wait_and_sent_once(app, service):
    a, b, subscriber = linked_with_push(app, service)
    did_it(app, b, utc(2026, 11, 26, 10, 0))
    service.respond(subscriber.token, [503, 201])
    dispatch(app, NOON)
    assert service.attempts[subscriber.token] == 1 and dids(subscriber) == []
    assert notices(app, receiver=a) == [("did_it", False)]  # still owed
    # Past the claim's lease (2 min) but before the default wait (300 s): nothing.
    dispatch(app, NOON + 4 * MINUTE)
    assert service.attempts[subscriber.token] == 1
    dispatch(app, NOON + 6 * MINUTE)
    assert len(dids(subscriber)) == 1
    assert notices(app, receiver=a) == [("did_it", True)]
    dispatch(app, NOON + 30 * MINUTE)
    assert service.attempts[subscriber.token] == 2 and len(dids(subscriber)) == 1


def test_a_did_it_retry_honours_retry_after(app, service):
    a, b, subscriber = linked_with_push(app, service)
    did_it(app, b, utc(2026, 11, 26, 10, 0))
    service.respond(subscriber.token, [(429, {"Retry-After": "600"})])
    dispatch(app, NOON)
    dispatch(app, NOON + 6 * MINUTE)  # the default wait is over, Retry-After is not
    assert service.attempts[subscriber.token] == 1 and dids(subscriber) == []
    dispatch(app, NOON + 11 * MINUTE)
    assert service.attempts[subscriber.token] == 2 and len(dids(subscriber)) == 1
    assert notices(app, receiver=a) == [("did_it", True)]


def test_a_did_it_that_keeps_failing_is_given_up_at_quiet_hours_in_the_receivers_zone(app, service):
    a, b, subscriber = linked_with_push(app, service)
    live_in(app, a, "Europe/Berlin")  # UTC+1: quiet hours begin at 20:30 UTC
    did_it(app, b, utc(2026, 11, 26, 20, 0))
    service.respond(subscriber.token, [503] * 10)
    dispatch(app, utc(2026, 11, 26, 20, 20))  # retry at 20:25, before 21:30 Berlin
    assert notices(app, receiver=a) == [("did_it", False)]
    dispatch(app, utc(2026, 11, 26, 20, 26))  # a retry at 20:31 would be in quiet hours
    assert service.attempts[subscriber.token] == 2
    assert notices(app, receiver=a) == [("did_it", True)]  # given up
    dispatch(app, utc(2026, 11, 26, 20, 45))
    assert service.attempts[subscriber.token] == 2 and dids(subscriber) == []


def test_a_thank_you_answered_503_is_retried_and_arrives_once(app, service):
    a, b, subscriber = linked_with_push(app, service)
    service.respond(subscriber.token, [503])
    assert b.post("/together/thanks", data={"text": "hi"}).status_code == 303
    dispatch(app, NOON)
    assert notices(app, receiver=a) == [("thanks", False)] and thanks_of(subscriber) == []
    dispatch(app, NOON + 6 * MINUTE)
    dispatch(app, NOON + 30 * MINUTE)
    assert len(thanks_of(subscriber)) == 1 and service.attempts[subscriber.token] == 2
    assert notices(app, receiver=a) == [("thanks", True)]


def test_a_thank_you_that_keeps_failing_is_given_up_when_the_next_day_ends(app, service):
    a, b, subscriber = linked_with_push(app, service)
    with app.app_context():  # A's daily reminder would take scripted answers of the 27th
        db.session.get(User, uid(app, a)).next_reminder_at = None
        db.session.commit()
    service.respond(subscriber.token, [503] * 10)
    b.post("/together/thanks", data={"text": "hi"})
    dispatch(app, NOON)
    dispatch(app, utc(2026, 11, 27, 23, 50))  # retry at 23:55 on the 27th: still owed
    assert notices(app, receiver=a) == [("thanks", False)]
    dispatch(app, utc(2026, 11, 27, 23, 56))  # a retry at 00:01 on the 28th: given up
    assert notices(app, receiver=a) == [("thanks", True)]
    assert service.attempts[subscriber.token] == 3
    dispatch(app, utc(2026, 11, 28, 0, 5))
    assert service.attempts[subscriber.token] == 3 and thanks_of(subscriber) == []


def test_a_notice_one_device_accepted_is_settled_and_never_resent(app, service):
    """A partial success counts: retrying the laptop would push the phone's copy again."""
    a, b, phone = linked_with_push(app, service)
    laptop = service.new_subscriber()
    assert subscribe(a, laptop).status_code == 201
    service.respond(laptop.token, [503])
    did_it(app, b, utc(2026, 11, 26, 10, 0))
    dispatch(app, NOON)
    dispatch(app, NOON + 10 * MINUTE)
    assert service.attempts == {phone.token: 1, laptop.token: 1}
    assert (len(dids(phone)), len(dids(laptop))) == (1, 0)
    assert notices(app, receiver=a) == [("did_it", True)]


def test_a_retried_did_it_is_dropped_once_the_receiver_practised(app, service):
    a, b, subscriber = linked_with_push(app, service)
    did_it(app, b, utc(2026, 11, 26, 10, 0))
    service.respond(subscriber.token, [503])
    dispatch(app, NOON)
    assert notices(app, receiver=a) == [("did_it", False)]
    assert a.post(f"/day/{TODAY}/done").status_code in (200, 303)  # A practises meanwhile
    dispatch(app, NOON + 10 * MINUTE)
    assert service.attempts[subscriber.token] == 1 and dids(subscriber) == []
    assert notices(app, receiver=a) == [("did_it", True)]  # settled without a push


def test_a_retried_thank_you_is_dropped_once_unlinked(app, service):
    a, b, subscriber = linked_with_push(app, service)
    service.respond(subscriber.token, [503])
    b.post("/together/thanks", data={"text": "hi"})
    dispatch(app, NOON)
    assert notices(app, receiver=a) == [("thanks", False)]
    assert a.post("/together/unlink").status_code == 303
    dispatch(app, NOON + 10 * MINUTE)
    assert service.attempts[subscriber.token] == 1 and thanks_of(subscriber) == []
    assert notices(app, receiver=a) == [("thanks", True)]


def test_several_dispatchers_deliver_a_retried_notice_once(app, service):
    a, b, subscriber = linked_with_push(app, service)
    service.respond(subscriber.token, [503])
    b.post("/together/thanks", data={"text": "one"})
    dispatch(app, NOON)
    due = NOON + 6 * MINUTE
    with app.app_context():
        assert len(_claim(due.replace(tzinfo=None))) == 1  # dispatcher 1 holds the retry
        db.session.remove()
    dispatch(app, due)  # dispatcher 2 finds nothing to take
    assert service.attempts[subscriber.token] == 1
    # Dispatcher 1 crashed: when its lease runs out, passes racing each other send it once.
    later = due + 3 * MINUTE
    start = threading.Barrier(4)
    passes = [threading.Thread(target=run_pass, args=(app, later, start)) for _ in range(4)]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join(timeout=60)
    dispatch(app, later + 30 * MINUTE)
    assert len(thanks_of(subscriber)) == 1 and service.attempts[subscriber.token] == 2
    assert notices(app, receiver=a) == [("thanks", True)]


def test_a_dispatcher_whose_lease_ran_out_moves_nothing(app, service):
    """A stale dispatcher's 429 must not reschedule a notice another one holds now: its
    retry time (30 s after its own, older clock) would free the notice for a third."""
    a, b, subscriber = linked_with_push(app, service)
    service.respond(subscriber.token, [(429, {"Retry-After": "30"})])
    b.post("/together/thanks", data={"text": "one"})
    first, second = NOON.replace(tzinfo=None), (NOON + 3 * MINUTE).replace(tzinfo=None)
    with app.app_context():
        [notice_id] = _claim(first)  # dispatcher 1, which then stalls past its lease
        assert _claim(second) == [notice_id]  # dispatcher 2 holds it now
        sender = make_sender()
        try:
            assert _deliver(sender, notice_id, NOON, first + LEASE, 300) == 0  # 1 wakes: 429
        finally:
            sender.close()
        assert _claim(second + timedelta(seconds=1)) == []  # still dispatcher 2's
        db.session.remove()
    assert notices(app) == [("thanks", False)]


def run_pass(app, now: datetime, start: threading.Barrier) -> None:
    """One dispatcher in its own thread (the CLI runner swaps sys.stdout, so not that); all
    of them set up first, then start together, so their claims overlap."""
    with app.app_context():
        sender = make_sender()
        try:
            start.wait(timeout=30)
            dispatcher.dispatch(now, sender)
        finally:
            sender.close()

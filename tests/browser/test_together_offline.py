"""The partner's writes offline (issue 15): a thank-you sent from the Today card is kept in
the outbox and says so, also after a reload while offline; back online it reaches the
partner exactly once, also when the answer to its first delivery is lost on the way; a
replay the server refuses (the two are no longer linked) is dropped with a notice that
quotes the words, never silently. The Share switch and closing a note go the same way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import AppliedWrite, Reflection, ThankYou, db
from tests.browser.conftest import goto_ready, reload_ready, wait_for_worker, wait_until

pytestmark = pytest.mark.browser

NOTE = "Thank you for listening on the walk"


def token_of(context, url: str) -> str:
    return context.request.get(url + "/csrf-token").json()["token"]


def link(a, b, url: str) -> None:
    """A invites, B joins: the same requests the Together pages make, from each phone."""
    invite = a.context.request.post(
        url + "/together/invite", form={"csrf_token": token_of(a.context, url), "name": "Sam"}
    )
    join = re.search(r"/together/join/[0-9A-Z]+", invite.text())[0]
    joined = b.context.request.post(
        url + join, form={"csrf_token": token_of(b.context, url), "name": "Alex"}
    )
    assert joined.ok


def thank_yous(live_server) -> list[str]:
    with live_server.db():
        return db.session.scalars(select(ThankYou.text)).all()


def linked_pair(live_server, new_context, guard):
    """A and B, each a phone that has opened Today, linked."""
    a, b = (guard.watch(new_context()).new_page() for _ in range(2))
    for page in (a, b):
        goto_ready(page, live_server.url + "/")
    link(a, b, live_server.url)
    return a, b


def cache_and_go_offline(b, guard) -> None:
    """B's worker has cached the pages as they are now (Today with the partner panel) and
    controls Today; then B's phone goes offline."""
    goto_ready(b, b.url)
    wait_for_worker(b)
    b.wait_for_function("() => document.documentElement.dataset.offlineReady")
    reload_ready(b)
    expect(b.locator("#partner-state")).to_be_visible()
    guard.allow_offline_noise()
    b.context.set_offline(True)


def offline_with_partner(live_server, new_context, guard):
    a, b = linked_pair(live_server, new_context, guard)
    cache_and_go_offline(b, guard)
    return a, b


def send_thanks_offline(b) -> None:
    b.get_by_text("Send a thank-you").click()
    b.get_by_label("Or write your own").fill(NOTE)
    b.get_by_role("button", name="Send", exact=True).click()
    b.get_by_text("Thank-you saved on this phone").wait_for()
    assert b.evaluate("CloserOutbox.count()") == 1
    expect(b.locator("#offline-badge")).to_be_visible()


def test_an_offline_thank_you_reaches_the_partner_once(live_server, new_context, guard):
    a, b = offline_with_partner(live_server, new_context, guard)
    send_thanks_offline(b)
    assert thank_yous(live_server) == []
    reload_ready(b)  # still offline: the cached card says the thank-you waits
    b.locator("#thanks").get_by_text("Thank-you saved on this phone").wait_for()

    # Back online; the answer to the first delivery is lost, so the phone sends it again.
    live_server.lose_responses("POST", r"^/together/thanks$", times=1)
    b.context.set_offline(False)
    wait_until(b, "CloserOutbox.replay().then(() => CloserOutbox.count()).then((n) => n === 0)")
    assert live_server.faults.lost == ["/together/thanks"]  # it really was delivered twice
    assert thank_yous(live_server) == [NOTE]  # ... and stored once
    with live_server.db():
        assert db.session.scalars(select(AppliedWrite.kind)).all() == ["thanks"]
    expect(b.locator("#thanks .pending-note")).to_have_count(0)
    expect(b.locator("#offline-badge")).to_be_hidden()

    goto_ready(a, live_server.url + "/")
    expect(a.locator("#partner-state").get_by_text(NOTE)).to_have_count(1)
    guard.check()


def test_a_refused_offline_thank_you_is_reported_with_its_words(live_server, new_context, guard):
    a, b = offline_with_partner(live_server, new_context, guard)
    send_thanks_offline(b)
    # Meanwhile A unlinks: the thank-you has no one to go to any more.
    goto_ready(a, live_server.url + "/together/unlink")
    a.get_by_role("button", name="Unlink").click()
    a.get_by_role("button", name="Invite your partner").wait_for()

    guard.allow(r"404")  # the refused replay, as the browser logs it
    b.context.set_offline(False)
    wait_until(b, "CloserOutbox.count().then((n) => n === 0)")
    notice = b.locator("#outbox-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("not linked with a partner")
    expect(notice).to_contain_text(NOTE)
    assert thank_yous(live_server) == []
    guard.check()


def test_share_and_close_offline_wait_and_then_land(live_server, new_context, guard):
    url = live_server.url
    a, b = linked_pair(live_server, new_context, guard)
    token = token_of(a.context, url)
    a.context.request.post(url + "/together/thanks", form={"csrf_token": token, "text": NOTE})
    goto_ready(b, url + "/")
    b.locator("#reflection-text").fill("B's words")
    b.get_by_role("button", name="Save reflection").click()
    switch = b.get_by_role("button", name="Share with Sam")
    expect(switch).to_have_attribute("aria-pressed", "false")
    cache_and_go_offline(b, guard)  # the cached card holds the switch and the note

    note = b.locator("#partner-state .notice")
    note.get_by_role("button", name="Close the thank-you from Sam").click()
    expect(note).to_have_count(0)
    b.get_by_role("button", name="Share with Sam").click()
    expect(switch).to_have_attribute("aria-pressed", "true")
    waiting = b.locator("#share-switch [data-waiting]")
    expect(waiting).to_have_count(1)
    assert b.evaluate("CloserOutbox.count()") == 2

    reload_ready(b)  # offline still: what waits is laid over the cached card again
    expect(note).to_have_count(0)
    expect(switch).to_have_attribute("aria-pressed", "true")
    expect(waiting).to_have_count(1)
    with live_server.db():
        assert db.session.scalar(select(ThankYou.seen_at)) is None
        assert db.session.scalar(select(Reflection.shared)) is False

    b.context.set_offline(False)
    wait_until(b, "CloserOutbox.count().then((n) => n === 0)")
    expect(waiting).to_have_count(0)
    with live_server.db():
        assert db.session.scalar(select(ThankYou.seen_at)) is not None
        assert db.session.scalar(select(Reflection.shared)) is True
    guard.check()

"""No stale page overwrites a newer write (issue 14, item 1), on a 390 px phone.

The sequence from the issue (save → Library → Back → save again → Progress → Back) must end
on a page that shows the server's text; a page that did not learn of a newer write (another
tab) gets the conflict with both texts when it saves, and the server keeps the newer text;
a stale Undo leaves a newer Done alone; and a page the service worker answers from its
cache while the network is up is brought up to date (static/js/fresh.js)."""

from __future__ import annotations

import time
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from models import Completion, Reflection, db, utcnow
from tests.browser.conftest import goto_ready, wait_for_worker, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("phone", ["iphone"], indirect=True)]


def texts(live_server) -> list[str]:
    with live_server.db():
        return db.session.scalars(select(Reflection.text)).all()


def wait_until_text(live_server, expected: list[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while texts(live_server) != expected:
        assert time.monotonic() < deadline, texts(live_server)
        time.sleep(0.05)


def done_days(live_server) -> list[date]:
    with live_server.db():
        return db.session.scalars(select(Completion.day)).all()


def open_today(page, url: str) -> None:
    goto_ready(page, url + "/")
    wait_for_worker(page)
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")


def save_reflection(page, text: str) -> None:
    page.locator("#reflection-text").fill(text)
    page.get_by_role("button", name="Save reflection").click()
    expect(page.locator("#reflection").get_by_text("Reflection saved.")).to_be_visible()


def tab(page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()
    page.wait_for_load_state()


def away_and_back(page, name: str, shows: str | None = None) -> None:
    """The main navigation's `name` tab (checked to show `shows`, if given), then Back to the
    card, until static/js/fresh.js has checked it (when it had reason to)."""
    tab(page, name)
    if shows is not None:
        expect(page.get_by_text(shows)).to_be_visible()
    page.go_back()
    page.wait_for_function(
        "() => { const c = document.getElementById('card');"
        " return c && c.dataset.fresh !== 'checking' && !c.hasAttribute('aria-busy'); }"
    )


def missed_a_newer_save(live_server, phone_context):
    """A page that saved "first version" and did not learn that another tab then saved
    "second version"; brought back to the front."""
    page = phone_context.new_page()
    open_today(page, live_server.url)
    save_reflection(page, "first version")
    other = phone_context.new_page()
    goto_ready(other, live_server.url + "/")
    save_reflection(other, "second version")
    page.bring_to_front()
    return page


def expect_conflicts(guard) -> None:
    """The browser logs every 409 as a failed load; here they are the point."""
    guard.allow(r"status of 409 \(CONFLICT\)")


def test_back_after_a_newer_save_shows_the_newer_text(live_server, phone_context):
    page = phone_context.new_page()
    open_today(page, live_server.url)
    save_reflection(page, "first version")
    away_and_back(page, "Library")
    save_reflection(page, "second version")
    assert texts(live_server) == ["second version"]
    away_and_back(page, "Progress", shows="second version")
    field = page.locator("#reflection-text")
    expect(field).to_have_value("second version")
    # Saving from here changes nothing the server holds.
    page.get_by_role("button", name="Save reflection").click()
    expect(page.locator("#reflection").get_by_text("Reflection saved.")).to_be_visible()
    assert texts(live_server) == ["second version"]


def test_a_page_that_missed_a_newer_save_gets_both_texts(live_server, phone_context, guard):
    expect_conflicts(guard)
    page = missed_a_newer_save(live_server, phone_context)
    # The page still shows "first version": its Save meets the conflict.
    expect(page.locator("#reflection-text")).to_have_value("first version")
    page.locator("#reflection-text").fill("first version, edited")
    page.get_by_role("button", name="Save reflection").click()
    area = page.locator("#reflection")
    expect(area.get_by_text("Saved on another page:")).to_be_visible()
    expect(area.locator("#conflict-theirs")).to_have_text("second version")
    expect(area.locator("#conflict-mine")).to_have_text("first version, edited")
    assert texts(live_server) == ["second version"]

    # Combine them: the textarea holds both, saved on the current revision.
    expect(page.locator("#reflection-text")).to_have_value(
        "second version\n\nfirst version, edited"
    )
    page.get_by_role("button", name="Save combined").click()
    expect(area.get_by_text("Reflection saved.")).to_be_visible()
    assert texts(live_server) == ["second version\n\nfirst version, edited"]


def test_keep_yours_from_the_conflict(live_server, phone_context, guard):
    expect_conflicts(guard)
    page = missed_a_newer_save(live_server, phone_context)
    page.locator("#reflection-text").fill("mine")
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_role("button", name="Keep yours").click()
    expect(page.locator("#reflection-text")).to_have_value("mine")
    assert texts(live_server) == ["mine"]


def test_done_undo_progress_back_shows_the_servers_state(live_server, phone_context):
    page = phone_context.new_page()
    open_today(page, live_server.url)
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator("#done").get_by_text("Done for today")).to_be_visible()
    page.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("button", name="Done", exact=True)).to_be_visible()
    away_and_back(page, "Progress")
    expect(page.get_by_role("button", name="Done", exact=True)).to_be_visible()
    expect(page.locator("#done").get_by_text("Done for today")).to_have_count(0)
    assert done_days(live_server) == []


def test_a_stale_undo_leaves_a_newer_done_alone(live_server, phone_context, guard):
    expect_conflicts(guard)
    page = phone_context.new_page()
    open_today(page, live_server.url)
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator("#done").get_by_text("Done for today")).to_be_visible()
    other = phone_context.new_page()
    goto_ready(other, live_server.url + "/")
    other.get_by_role("button", name="Undo").click()
    other.get_by_role("button", name="Done", exact=True).click()
    expect(other.locator("#done").get_by_text("Done for today")).to_be_visible()

    page.bring_to_front()
    page.get_by_role("button", name="Undo").click()
    done = page.locator("#done")
    expect(done.get_by_text("marked done again on another page")).to_be_visible()
    expect(done.get_by_text("Done for today")).to_be_visible()
    assert len(done_days(live_server)) == 1
    # Undo from here is on the current revision, and works.
    done.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("button", name="Done", exact=True)).to_be_visible()
    assert done_days(live_server) == []


def test_a_page_the_worker_serves_from_its_cache_is_brought_up_to_date(
    live_server, phone_context, guard
):
    page = phone_context.new_page()
    open_today(page, live_server.url)
    save_reflection(page, "first version")
    page.wait_for_timeout(500)  # the worker refreshes its copy of the day after a write
    with live_server.db():  # written elsewhere (another device), unknown to this phone
        db.session.execute(update(Reflection).values(text="second version", updated_at=utcnow()))
        db.session.commit()
    # The page's own request is lost on the way: the worker answers from its cache.
    guard.allow_offline_noise()
    live_server.lose_responses("GET", r"^/$")
    page.reload()
    page.wait_for_function("() => document.getElementById('card')?.dataset.fresh === 'true'")
    expect(page.locator("#reflection-text")).to_have_value("second version")
    assert live_server.faults.lost == ["/"]
    page.get_by_role("button", name="Save reflection").click()
    expect(page.locator("#reflection").get_by_text("Reflection saved.")).to_be_visible()
    assert texts(live_server) == ["second version"]


def test_two_edits_made_offline_replay_in_order_without_a_conflict(
    live_server, phone_context, guard
):
    page = phone_context.new_page()
    open_today(page, live_server.url)
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    for text in ("first offline", "second offline"):
        page.locator("#reflection-text").fill(text)
        page.get_by_role("button", name="Save reflection").click()
        expect(page.get_by_text("Reflection saved on this phone")).to_be_visible()
    assert page.locator('#reflection input[name="revision"]').input_value().startswith("key:")
    phone_context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_until(page, "CloserOutbox.count().then((n) => n === 0)")
    wait_until_text(live_server, ["second offline"])
    assert live_server.requests("POST", r"/reflection$") == [200, 200]
    expect(page.locator("#outbox-notice")).to_be_hidden()


def test_an_offline_edit_that_conflicts_on_replay_is_shown_never_dropped(
    live_server, phone_context, guard
):
    """Today's outbox (static/js/outbox.js) turns the 409 into a notice with the person's
    words; the server keeps the newer text. (The lead wires the full conflict choice.)"""
    expect_conflicts(guard)
    page = phone_context.new_page()
    open_today(page, live_server.url)
    save_reflection(page, "first version")
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    page.locator("#reflection-text").fill("mine, written offline")
    page.get_by_role("button", name="Save reflection").click()
    expect(page.get_by_text("Reflection saved on this phone")).to_be_visible()
    with live_server.db():  # meanwhile, on another device
        db.session.execute(
            update(Reflection).values(text="from another device", updated_at=utcnow())
        )
        db.session.commit()
    phone_context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_until(page, "CloserOutbox.count().then((n) => n === 0)")
    assert 409 in live_server.requests("POST", r"/reflection$")
    assert texts(live_server) == ["from another device"]
    notice = page.locator("#outbox-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("mine, written offline")
    expect(notice).to_contain_text("changed on another page")

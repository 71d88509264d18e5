"""Nothing lost: Done and a reflection made offline show at once, survive a reload while
still offline, and reach the server exactly once when the network is back, also when the
replay runs more than once (a response lost on the way, a flapping network)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import AppliedWrite, Completion, Reflection, db
from tests.browser.conftest import (
    FOCUSED,
    goto_ready,
    pixel_only,
    reload_ready,
    wait_for_worker,
    wait_until,
)

pytestmark = pytest.mark.browser

REFLECTION = "We talked on the train. <b>Not</b> markup, just words & a “quote”."


def outbox_count(page) -> int:
    return page.evaluate("CloserOutbox.count()")


def wait_outbox(page, predicate: str) -> None:
    """Wait until `predicate` holds for the number of pending writes `n`."""
    wait_until(page, f"CloserOutbox.count().then((n) => {predicate})")


def rows(live_server):
    with live_server.db():
        return (
            db.session.scalars(select(Completion.day)).all(),
            db.session.scalars(select(Reflection.text)).all(),
            db.session.scalars(select(AppliedWrite.kind)).all(),
        )


def open_ready(page, url: str) -> date:
    goto_ready(page, url + "/")
    wait_for_worker(page)
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")
    return date.fromisoformat(page.locator("#card").get_attribute("data-day"))


def test_offline_done_and_reflection_sync_exactly_once(live_server, phone_context, guard):
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)

    guard.allow_offline_noise()
    phone_context.set_offline(True)
    page.get_by_role("button", name="Done", exact=True).click()
    done = page.locator("#done")
    expect(done.get_by_text("Done. Well practised.")).to_be_visible()
    expect(done.get_by_text("Saved on this phone")).to_be_visible()
    expect(done.get_by_role("button", name="Undo")).to_be_visible()
    page.locator("#reflection-text").fill(REFLECTION)
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved on this phone").wait_for()
    assert outbox_count(page) == 2
    expect(page.locator("#offline-badge")).to_be_visible()
    assert rows(live_server) == ([], [], [])

    # A reload with no network: the cached card, with what is waiting laid over it.
    reload_ready(page)
    assert page.locator("#card").get_attribute("data-day") == today.isoformat()
    page.locator("#done").get_by_text("Done. Well practised.").wait_for()
    assert page.locator("#reflection-text").input_value() == REFLECTION
    expect(page.locator("#offline-badge")).to_be_visible()

    # Back online, but every answer to Done is lost on the way: the server applies it, the
    # phone cannot know, so the write stays queued and is sent again on every replay (the
    # reflection waits behind it: order is kept).
    live_server.lose_responses("POST", r"/done$", times=1000)
    phone_context.set_offline(False)
    wait_for_db(live_server, lambda c, r, a: c == [today])
    assert outbox_count(page) == 2 and rows(live_server)[1] == []

    # Meanwhile the same person undoes the day from another device (same cookie, its own
    # request with its own key). A replay of the old Done must not overrule that.
    api = phone_context.request
    token = api.get(live_server.url + "/csrf-token").json()["token"]
    response = api.post(
        f"{live_server.url}/day/{today.isoformat()}/undo",
        form={"csrf_token": token, "key": "5b1b1a56-0d5e-4b8e-9d7e-1f2a3b4c5d6e"},
        headers={"HX-Request": "true"},
    )
    assert response.ok
    assert rows(live_server)[0] == []

    # Replays run again, several at once and with the network flapping; now answered.
    page.evaluate("Promise.all([CloserOutbox.replay(), CloserOutbox.replay()])")
    live_server.answer_again()
    phone_context.set_offline(True)
    phone_context.set_offline(False)
    page.evaluate("Promise.all([CloserOutbox.replay(), CloserOutbox.replay()])")
    wait_outbox(page, "n === 0")

    completions, reflections, kinds = rows(live_server)
    assert len(live_server.faults.lost) >= 1  # Done really was delivered more than once
    assert completions == []  # ... and applied once: the later undo stands
    assert reflections == [REFLECTION]
    assert sorted(kinds) == ["done", "reflect", "undo"]
    page.locator("#offline-badge").wait_for(state="hidden")
    assert page.locator("#card .pending-note").count() == 0

    # The server's own page agrees.
    reload_ready(page)
    expect(page.locator("#done").get_by_role("button", name="Done", exact=True)).to_be_visible()
    assert page.locator("#reflection-text").input_value() == REFLECTION


def wait_for_db(live_server, predicate, timeout: float = 15.0) -> None:
    """Poll the database (the server is in this process) until predicate(rows) holds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        current = rows(live_server)
        if predicate(*current):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"database never reached the expected state: {current}")
        time.sleep(0.05)


@pixel_only
def test_writes_keep_their_order_done_undo_done(live_server, phone_context, guard):
    """Done, Undo, Done offline: the server ends done, each write applied once, in order."""
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    for label in ("Done", "Undo", "Done"):
        page.locator("#done").get_by_role("button", name=label, exact=True).click()
        expected = "Undo" if label == "Done" else "Done"
        page.locator("#done").get_by_role("button", name=expected, exact=True).wait_for()
    assert outbox_count(page) == 3
    phone_context.set_offline(False)
    wait_outbox(page, "n === 0")
    completions, _, kinds = rows(live_server)
    assert completions == [today]
    assert sorted(kinds) == ["done", "done", "undo"]


@pixel_only
def test_a_write_refused_for_good_is_dropped_and_the_user_told(live_server, phone_context, guard):
    """A 4xx is final: the entry leaves the outbox (never retried forever) and a notice says
    what was lost; the writes behind it still go through."""
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)
    too_far = (today + timedelta(days=5)).isoformat()
    guard.allow(r"status of 409")  # the browser logs the refused request
    phone_context.set_offline(True)
    guard.allow_offline_noise()
    # A write the server will refuse (409: that day has not come), queued as the worker's
    # queueWrite or an older page would, then a normal Done behind it.
    page.evaluate(f"CloserOutbox.add('/day/{too_far}/done', {{}})")
    page.get_by_role("button", name="Done", exact=True).click()
    page.locator("#done").get_by_role("button", name="Undo").wait_for()
    phone_context.set_offline(False)
    wait_outbox(page, "n === 0")
    notice = page.locator("#outbox-notice")
    notice.wait_for()
    assert f"for {too_far} could not be saved" in notice.inner_text()
    assert "once it has come" in notice.inner_text()
    assert rows(live_server)[0] == [today]


@pixel_only
def test_a_server_error_keeps_the_write_until_the_server_recovers(
    live_server, phone_context, guard
):
    """Online, but the server answers 503: the write is kept (shown as saved on this phone),
    and the next app start delivers it, once."""
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)
    guard.allow(r"status of 503")
    live_server.fail_requests("POST", r"/done$", 503, times=1000)
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator("#done").get_by_text("Saved on this phone")).to_be_visible()
    # The tap, then at least one replay (the page's, or the worker's Background Sync).
    wait_until(page, "CloserOutbox.all().then((e) => e.length === 1 && e[0].attempts >= 1)")
    assert len(live_server.faults.failed) >= 2
    assert set(live_server.faults.failed) == {f"/day/{today.isoformat()}/done"}
    assert rows(live_server)[0] == []
    expect(page.locator("#offline-badge")).to_have_text(
        "Your changes are saved on this phone and will sync soon."
    )

    live_server.answer_again()
    reload_ready(page)  # app start replays
    wait_outbox(page, "n === 0")
    assert rows(live_server)[0] == [today]
    expect(page.locator("#offline-badge")).to_be_hidden()


@pixel_only
def test_server_errors_are_not_retried_forever(live_server, phone_context, guard):
    """After MAX_ATTEMPTS answered failures over more than GIVE_UP_AFTER_MS, the write is
    dropped and the user is told, with the words they wrote."""
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)
    guard.allow(r"status of 503")
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    page.locator("#reflection-text").fill("Kept until we give up")
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved on this phone").wait_for()
    # Age the entry: it has failed MAX_ATTEMPTS - 1 times since four days ago.
    page.evaluate(
        """() => new Promise((resolve, reject) => {
          const open = indexedDB.open("closer");
          open.onsuccess = () => {
            const tx = open.result.transaction("outbox", "readwrite");
            const store = tx.objectStore("outbox");
            store.getAll().onsuccess = (e) => {
              for (const entry of e.target.result) {
                entry.attempts = CloserOutbox.MAX_ATTEMPTS - 1;
                entry.failingSince = Date.now() - CloserOutbox.GIVE_UP_AFTER_MS - 864e5;
                store.put(entry);
              }
            };
            tx.oncomplete = () => { open.result.close(); resolve(); };
            tx.onerror = () => reject(tx.error);
          };
        })"""
    )
    live_server.fail_requests("POST", r"/reflection$", 503, times=5)
    phone_context.set_offline(False)
    wait_outbox(page, "n === 0")
    notice = page.locator("#outbox-notice")
    expect(notice).to_be_visible()
    assert f"Your reflection for {today.isoformat()} could not be saved" in notice.inner_text()
    assert "Kept until we give up" in notice.inner_text()
    assert rows(live_server)[1] == []
    page.get_by_role("button", name="OK").click()
    expect(notice).to_be_hidden()


@pixel_only
def test_a_stale_csrf_token_is_refreshed_and_the_write_lands_once(
    live_server, phone_context, guard
):
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)
    guard.allow(r"status of 400")
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    page.get_by_role("button", name="Done", exact=True).click()
    page.locator("#done").get_by_role("button", name="Undo").wait_for()
    # The token this phone kept no longer matches the session (as after a long time away).
    page.evaluate("CloserOutbox.rememberToken('IjAwMCI.stale.token')")
    phone_context.set_offline(False)
    wait_outbox(page, "n === 0")
    assert rows(live_server)[0] == [today]
    assert live_server.requests("POST", r"/done$") == [400, 200]  # refused, then fresh token
    expect(page.locator("#outbox-notice")).to_be_hidden()


@pixel_only
def test_the_worker_queue_write_delivers_and_the_card_shows_it(live_server, phone_context, guard):
    """queueWrite(url, fields) in the worker (the notification's Done action): with no key
    and no CSRF token it makes a key, fetches a token, and delivers once; offline it waits
    in the same outbox and the card shows it."""
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)
    worker = phone_context.service_workers[0]
    # No token kept on the phone at all: the worker must fetch one.
    page.evaluate(
        """() => new Promise((resolve) => {
          const open = indexedDB.open("closer");
          open.onsuccess = () => {
            const tx = open.result.transaction("meta", "readwrite");
            tx.objectStore("meta").clear();
            tx.oncomplete = () => { open.result.close(); resolve(); };
          };
        })"""
    )
    entry = worker.evaluate(f"queueWrite('/day/{today.isoformat()}/done', {{}})")
    assert entry["url"] == f"/day/{today.isoformat()}/done" and len(entry["id"]) == 36
    assert rows(live_server)[0] == [today]
    assert live_server.requests("GET", r"^/csrf-token$") == [200]
    assert live_server.requests("POST", r"/done$") == [200]
    assert page.evaluate("CloserOutbox.count()") == 0

    # Offline: the worker's write waits, and a reload shows it on the card.
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    worker.evaluate(f"queueWrite('/day/{today.isoformat()}/undo', {{}})")
    assert page.evaluate("CloserOutbox.count()") == 1
    reload_ready(page)
    expect(page.locator("#done").get_by_role("button", name="Done", exact=True)).to_be_visible()
    expect(page.locator("#done").get_by_text("Saved on this phone")).to_be_visible()
    phone_context.set_offline(False)
    wait_outbox(page, "n === 0")
    assert rows(live_server)[0] == []


@pixel_only
def test_online_writes_swap_the_servers_fragment_and_refresh_the_offline_copy(
    live_server, phone_context, guard
):
    """With a network nothing is queued: htmx swaps the server's fragment, and the worker
    refreshes the cached day so that, offline a moment later, the card still shows it."""
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator("#done").get_by_text("Done for today")).to_be_visible()
    expect(page.locator("#done .progress-line")).to_be_visible()  # only the server knows it
    assert page.evaluate("CloserOutbox.count()") == 0
    assert rows(live_server)[0] == [today]
    assert live_server.requests("POST", r"/done$") == [200]

    wait_until(
        page,
        f"""caches.keys()
              .then((names) => caches.open(names.find((n) => n.startsWith('closer-pages-'))))
              .then((c) => c.match('/day/{today.isoformat()}'))
              .then((r) => r.text())
              .then((html) => html.includes('Done for today'))""",
    )
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    goto_ready(page, f"{live_server.url}/day/{today.isoformat()}")
    expect(page.locator("#done").get_by_text("Done for today")).to_be_visible()
    expect(page.locator("#done .pending-note")).to_have_count(0)


def test_the_saved_note_goes_as_soon_as_the_text_changes_again(live_server, phone_context, guard):
    page = phone_context.new_page()
    open_ready(page, live_server.url)
    page.locator("#reflection-text").fill("We walked.")
    page.get_by_role("button", name="Save reflection").click()
    expect(page.locator("#reflection .saved")).to_have_text("Reflection saved.")
    page.locator("#reflection-text").press("End")
    page.locator("#reflection-text").press_sequentially(" Then")
    expect(page.locator("#reflection .saved")).to_have_count(0)
    expect(page.locator("#reflection-count")).to_have_text("15 / 2,000")


@pixel_only
def test_keyboard_focus_stays_on_the_control_that_was_used(live_server, phone_context, guard):
    """Done becomes Undo (and back) under the same focus, online through htmx and offline
    through the outbox's card; saving keeps focus on its button. Without this focus fell
    to <body>, and the next Tab started from the top of the page."""
    page = phone_context.new_page()
    open_ready(page, live_server.url)
    page.locator("#done-toggle").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#done").get_by_text("Done for today")).to_be_visible()
    assert page.evaluate(FOCUSED) == "done-toggle Undo"

    page.locator("#reflection-text").fill("Quiet walk.")
    page.locator("#reflection-save").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#reflection .saved")).to_have_text("Reflection saved.")
    assert page.evaluate(FOCUSED) == "reflection-save Save reflection"

    guard.allow_offline_noise()
    phone_context.set_offline(True)
    page.locator("#done-toggle").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#done .pending-note")).to_be_visible()
    assert page.evaluate(FOCUSED) == "done-toggle Done"
    phone_context.set_offline(False)

    goto_ready(page, live_server.url + "/settings")
    page.locator("#time_zone").select_option("Europe/Berlin")
    page.locator("#timezone-save").focus()
    page.keyboard.press("Enter")
    page.get_by_text("Your days now follow Berlin, Germany (Europe/Berlin).").wait_for()
    assert page.evaluate(FOCUSED) == "timezone-save Save time zone"


@pixel_only
def test_progress_offline_shows_the_days_waiting_to_sync(live_server, phone_context, guard):
    page = phone_context.new_page()
    today = open_ready(page, live_server.url)
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    page.get_by_role("button", name="Done", exact=True).click()
    wait_outbox(page, "n === 1")

    goto_ready(page, live_server.url + "/progress")  # the cached page, from before the tap
    cell = page.locator(f'table.calendar a[href="/day/{today.isoformat()}"]')
    expect(cell.locator(".tick")).to_have_count(1)
    assert ", practised" in cell.get_attribute("aria-label")
    expect(page.locator("#progress-pending")).to_be_visible()

    phone_context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_outbox(page, "n === 0")
    expect(page.locator("#progress-pending")).to_be_hidden()
    expect(cell.locator(".tick")).to_have_count(1)
    assert rows(live_server)[0] == [today]


@pixel_only
def test_an_error_answer_leaves_the_form_in_place_and_says_what_went_wrong(
    live_server, phone_context, guard
):
    """htmx 4 swaps 4xx/5xx answers too: the error goes to the page's error banner, not in
    place of the time zone picker that sent it; the next request clears it."""
    page = phone_context.new_page()
    goto_ready(page, live_server.url + "/settings")
    page.evaluate(
        """document.querySelector('meta[name="csrf-token"]').content = "stale";
           document.querySelectorAll('input[name="csrf_token"]').forEach((i) => i.value = "stale");"""
    )
    guard.allow(r"status of 400")
    page.locator("#time_zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save time zone").click()
    expect(page.locator("#request-error [role=alert]")).to_contain_text("security token")
    expect(page.locator("#time_zone")).to_be_visible()
    assert page.locator("h1").count() == 1

    reload_ready(page)
    page.locator("#time_zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save time zone").click()
    page.get_by_text("Your days now follow Berlin, Germany").wait_for()
    expect(page.locator("#request-error")).to_be_empty()

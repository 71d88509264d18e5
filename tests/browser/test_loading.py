"""The page's scripts load after `load` (static/js/app.js): until they have run every write is
a plain form POST, a tap made then is sent once, and what the scripts do on a first visit
(the time-zone report, the install offer) still happens once they arrive."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import AppliedWrite, Completion, User, db
from tests.browser.conftest import PHONES, goto_ready, pixel_only, wait_ready, wait_until

pytestmark = pytest.mark.browser

LATER_SCRIPTS = "**/static/{vendor/htmx.min.js,js/outbox.js,js/pwa.js,js/push.js}*"


class Held:
    """Requests matching a pattern wait (unanswered, as on a very slow network) until
    `release()` lets them through; `count` is how many were made."""

    def __init__(self, page, pattern: str) -> None:
        self.routes: list = []
        self.count = 0
        self.released = False
        page.route(pattern, self._hold)

    def _hold(self, route) -> None:
        self.count += 1
        if self.released:
            route.continue_()
        else:
            self.routes.append(route)

    def wait_for(self, page, count: int, timeout: float = 15.0) -> None:
        """Until `count` requests have been made (Playwright runs the route handler while
        this page is being waited on)."""
        deadline = time.monotonic() + timeout
        while self.count < count:
            assert time.monotonic() < deadline, f"{self.count} requests, not {count}"
            page.wait_for_timeout(20)

    def release(self) -> None:
        self.released = True
        while self.routes:
            self.routes.pop(0).continue_()


def done_rows(live_server):
    with live_server.db():
        return (
            db.session.scalars(select(Completion.day)).all(),
            db.session.scalars(select(AppliedWrite.kind)).all(),
        )


@pixel_only
def test_done_tapped_before_the_scripts_load_is_a_plain_post(live_server, phone_context):
    page = phone_context.new_page()
    scripts = Held(page, LATER_SCRIPTS)
    page.goto(live_server.url + "/")  # waits for `load`, which no longer waits for them
    scripts.wait_for(page, 1)  # asked for after `load`, and held
    assert page.evaluate("[!!window.htmx, document.documentElement.dataset.ready]") == [
        False,
        None,
    ]

    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator("#done").get_by_text("Done for today")).to_be_visible()
    assert live_server.requests("POST", r"/done$") == [303]  # the form's own POST and redirect

    # Once the scripts arrive, the same page's next write goes through htmx.
    scripts.release()
    wait_ready(page)
    page.get_by_role("button", name="Undo").click()
    expect(page.locator("#done").get_by_role("button", name="Done", exact=True)).to_be_visible()
    assert live_server.requests("POST", r"/undo$") == [200]  # a fragment: htmx swapped it
    assert done_rows(live_server) == ([], ["done", "undo"])


@pixel_only
def test_a_form_sent_as_a_plain_post_takes_no_second_tap(live_server, phone_context):
    """htmx may arrive while a plain POST is still on its way (a slow network): a second tap
    on that form must not send it again (htmx would, under a new idempotency key)."""
    page = phone_context.new_page()
    scripts = Held(page, LATER_SCRIPTS)
    page.goto(live_server.url + "/")
    # The plain POST "on its way": its navigation is cancelled last (after app.js has seen
    # the submit go out), so this page stays and its second tap can be watched.
    page.evaluate(
        """() => {
          window.addEventListener("submit", (event) => event.preventDefault());
          window.formSawSubmits = 0;
          document.querySelector("#done form").addEventListener("submit", () => {
            window.formSawSubmits += 1;
          });
        }"""
    )
    done = page.get_by_role("button", name="Done", exact=True)
    done.click()
    assert page.evaluate("window.formSawSubmits") == 1
    scripts.release()
    wait_ready(page)  # htmx has wired the form

    done.click()
    # Stopped before the form (and htmx's handler on it) saw the submit.
    assert page.evaluate("window.formSawSubmits") == 1
    assert live_server.requests("POST", r"/done$") == []
    assert done_rows(live_server) == ([], [])


def test_first_visit_reports_the_time_zone_after_load(live_server, new_context, guard):
    context = guard.watch(new_context(**PHONES["pixel"], timezone_id="Asia/Tokyo"))
    page = context.new_page()
    goto_ready(page, live_server.url + "/")

    def zone():
        with live_server.db():
            return db.session.execute(select(User.time_zone, User.time_zone_confirmed)).one()

    wait_until(page, "document.body.dataset.zoneState === 'confirmed'")
    assert tuple(zone()) == ("Asia/Tokyo", True)


@pixel_only
def test_an_install_offer_made_before_the_scripts_load_is_kept(live_server, phone_context):
    """Chromium may offer installation before pwa.js has loaded; app.js keeps the offer."""
    page = phone_context.new_page()
    scripts = Held(page, LATER_SCRIPTS)
    page.goto(live_server.url + "/")
    # The event as Chromium fires it (a plain Event: only pwa.js's button click would call
    # its prompt(), and this test does not click).
    offered = page.evaluate(
        """() => {
          const event = new Event("beforeinstallprompt", { cancelable: true });
          window.dispatchEvent(event);
          return event.defaultPrevented;  // no mini-infobar: our own button will offer it
        }"""
    )
    assert offered is True
    expect(page.locator("#install")).to_be_hidden()
    scripts.release()
    wait_ready(page)
    expect(page.get_by_role("button", name="Install app")).to_be_visible()


@pixel_only
def test_only_pages_with_something_for_htmx_load_it(live_server, phone_context):
    page = phone_context.new_page()
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    for path, wants in (
        ("/strategies", False),
        ("/progress", False),
        ("/about", False),
        ("/", True),
        ("/settings", True),
    ):
        fetched.clear()
        goto_ready(page, live_server.url + path)  # ready either way: offline layer, reminders
        assert page.evaluate("typeof window.htmx !== 'undefined'") is wants, path
        assert any("/vendor/htmx" in url for url in fetched) is wants, path
        assert page.evaluate("typeof window.CloserOutbox !== 'undefined'"), path

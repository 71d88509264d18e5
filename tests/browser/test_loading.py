"""The page's scripts start after the first paint (static/js/boot.js): until they have run every
write is a plain form POST, and what the scripts do on a first visit (the time-zone report,
the install offer) still happens once they arrive."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import AppliedWrite, Completion, User, db
from tests.browser.conftest import PHONES, goto_ready, pixel_only, wait_ready

pytestmark = pytest.mark.browser

# Every script but boot.js, which starts them (one bundle of them, assets.py).
LATER_SCRIPTS = "**/static/bundles/{read,writes,progress,forget,progress-forget}.js*"


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


def test_first_visit_reports_the_time_zone_after_load(live_server, new_context, guard):
    context = guard.watch(new_context(**PHONES["pixel"], timezone_id="Asia/Tokyo"))
    page = context.new_page()
    goto_ready(page, live_server.url + "/")

    def zone():
        with live_server.db():
            return db.session.execute(select(User.time_zone, User.time_zone_confirmed)).one()

    # From 15:00 UTC Tokyo's date is ahead of the server's, and the page reloads onto it:
    # wait_for_function keeps waiting across that navigation.
    page.wait_for_function("() => document.body?.dataset.zoneState === 'confirmed'")
    assert tuple(zone()) == ("Asia/Tokyo", True)


@pixel_only
def test_an_install_offer_made_before_the_scripts_load_is_kept(live_server, phone_context):
    """Chromium may offer installation before install.js has loaded; boot.js keeps the offer."""
    page = phone_context.new_page()
    scripts = Held(page, LATER_SCRIPTS)
    page.goto(live_server.url + "/")
    # The event as Chromium fires it (a plain Event: only install.js's button click would call
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
        # htmx ends the writes bundle (assets.BUNDLES)
        assert any("/bundles/writes.js" in url for url in fetched) is wants, path
        assert page.evaluate("typeof window.CloserOutbox !== 'undefined'"), path


# Counts every call that would set up Intl (ICU) on the page's own thread: its first use costs
# 25-90 ms on the bench machine, a long task a slow phone would show as a frozen page, so
# only the first visit's zone report may pay it.
COUNT_INTL = """
window.intlCalls = [];
const note = (name) => window.intlCalls.push(name);
for (const name of ["DateTimeFormat", "NumberFormat", "Collator", "PluralRules",
                    "RelativeTimeFormat", "ListFormat", "Segmenter", "DisplayNames"]) {
  if (!Intl[name]) continue;
  const real = Intl[name];
  Intl[name] = new Proxy(real, {
    construct(target, args) { note(name); return Reflect.construct(target, args); },
    apply(target, self, args) { note(name); return Reflect.apply(target, self, args); },
  });
}
for (const [proto, name] of [[Number.prototype, "toLocaleString"], [Date.prototype, "toLocaleString"],
                             [Date.prototype, "toLocaleDateString"], [Date.prototype, "toLocaleTimeString"],
                             [String.prototype, "localeCompare"]]) {
  const real = proto[name];
  proto[name] = function (...args) { note(name); return real.apply(this, args); };
}
"""


def test_only_the_first_visits_zone_report_sets_up_intl_on_the_page(
    live_server, new_context, guard
):
    """The first visit's zone report asks Intl for the zone and today in it; after that the
    service worker works out its own today, and the character counter is written out. In
    UTC the phone's date is the server's: the first visit reports its zone and stays put."""
    context = guard.watch(new_context(**PHONES["pixel"], timezone_id="UTC"))
    page = context.new_page()
    page.add_init_script(COUNT_INTL)
    loads = []
    page.on("load", lambda loaded: loads.append(loaded.url))
    goto_ready(page, live_server.url + "/")
    page.wait_for_function("() => document.body?.dataset.zoneState === 'confirmed'")
    with live_server.db():
        assert db.session.execute(select(User.time_zone_confirmed)).scalar_one() is True
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")
    assert len(loads) == 1  # no reload: the dates agree
    assert set(page.evaluate("window.intlCalls")) == {"DateTimeFormat"}  # the zone report

    page.reload()
    wait_ready(page)
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")
    # The service worker's today, from the page's clock and zone, is the card's day.
    card_day = page.locator("#card").get_attribute("data-day")
    assert page.evaluate("document.documentElement.dataset.offlineReady") == card_day
    assert page.evaluate("window.intlCalls") == []

    page.locator("#reflection-text").fill("x" * 1234)
    expect(page.locator("#reflection-count")).to_have_text("1,234 / 2,000")
    page.locator("#reflection-text").fill("x" * 7)
    expect(page.locator("#reflection-count")).to_have_text("7 / 2,000")
    assert page.evaluate("window.intlCalls") == []


# Records, across reloads in one tab, the card's day on every page that says its zone is
# confirmed: when the page loads that way, or when the zone report marks it so.
CONFIRMED_DAYS = """
const record = () => {
  if (window.confirmedRecorded || document.body?.dataset.zoneState !== "confirmed") return;
  window.confirmedRecorded = true;
  const days = JSON.parse(sessionStorage.confirmedDays || "[]");
  days.push(document.getElementById("card")?.dataset.day || null);
  sessionStorage.confirmedDays = JSON.stringify(days);
};
document.addEventListener("DOMContentLoaded", () => {
  record();
  new MutationObserver(record).observe(document.body, { attributes: true });
});
"""


def test_a_first_visit_where_the_date_differs_moves_to_the_local_date(
    live_server, new_context, guard
):
    """The server's first page is for its own (UTC) date; the zone report re-anchors Day 1
    to the phone's date, and the page reloads onto it. A zone a day behind UTC before 10:30
    UTC, a day ahead after it: the dates differ whenever the test runs."""
    now = datetime.now(UTC)
    zone = "Pacific/Pago_Pago" if now.time() < clock(10, 30) else "Pacific/Kiritimati"
    local_day = now.astimezone(ZoneInfo(zone)).date()
    assert local_day != now.date()
    context = guard.watch(new_context(**PHONES["pixel"], timezone_id=zone))
    page = context.new_page()
    page.add_init_script(CONFIRMED_DAYS)
    page.goto(live_server.url + "/")

    page.wait_for_function(
        "(day) => document.getElementById('card')?.dataset.day === day",
        arg=local_day.isoformat(),
    )
    wait_ready(page)
    with live_server.db():
        user = db.session.execute(select(User.time_zone, User.first_date)).one()
    assert tuple(user) == (zone, local_day)
    # Only a page showing the phone's day ever says "confirmed" (tests wait for that state;
    # the server's page that is about to reload must not claim it).
    assert page.evaluate("JSON.parse(sessionStorage.confirmedDays)") == [local_day.isoformat()]

"""Offline after one online visit: the coming week, the library and progress open with no
network, and `/` follows the device's date, not the date of the last visit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import cached_paths, goto_ready, pixel_only, wait_for_worker

pytestmark = pytest.mark.browser


def expected_title(app, first: date, day: date) -> str:
    library = app.extensions["library"]
    return library.for_day((day - first).days + 1)[1].title


def visit_online(page, url: str) -> str:
    """Open the app once with a network and wait until the worker has filled the offline
    cache for the coming week. Returns the day the page considers today."""
    goto_ready(page, url + "/")
    wait_for_worker(page)
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")
    return page.evaluate("document.documentElement.dataset.offlineReady")


def test_week_library_and_progress_open_offline_then_today_follows_the_clock(
    live_server, phone_context, guard
):
    # The last online visit is three days ago: the server and the page run three days
    # behind, the service worker (which reads the real clock) does not.
    live_server.clock.offset = -timedelta(days=3)
    then = live_server.clock()
    phone_context.clock.set_fixed_time(then)
    page = phone_context.new_page()
    today = date.fromisoformat(visit_online(page, live_server.url))
    assert today == then.date()

    week = [today + timedelta(days=i) for i in range(7)]
    paths = set(cached_paths(page))
    for day in week:
        assert f"/day/{day.isoformat()}" in paths
    library = live_server.app.extensions["library"]
    for path in ["/", "/strategies", "/progress", "/settings", "/about"] + [
        f"/strategies/{s.key}" for s in library.strategies
    ]:
        assert path in paths, path

    guard.allow_offline_noise()
    phone_context.set_offline(True)
    assert page.evaluate("navigator.onLine") is False

    for n, day in enumerate(week, start=1):
        response = goto_ready(page, f"{live_server.url}/day/{day.isoformat()}")
        assert response.ok and response.from_service_worker
        assert page.locator(".day-label").inner_text() == f"Day {n} of your practice"
        assert page.locator("h1#practice-title").inner_text() == expected_title(
            live_server.app, today, day
        )
        expect(page.locator("#offline-badge")).to_be_visible()

    goto_ready(page, live_server.url + "/strategies")
    assert page.locator("h1").inner_text() == "Six ways to grow closer"
    strategy = library.strategies[2]
    goto_ready(page, f"{live_server.url}/strategies/{strategy.key}")
    assert page.locator("h1").inner_text() == strategy.name
    assert page.locator("details.practice").count() == len(strategy.practices)
    goto_ready(page, live_server.url + "/progress")
    assert page.locator("h1").inner_text() == "Your practice"
    assert page.locator("table.calendar tbody tr").count() == 6

    # A page never opened online: the offline page, not the browser's error.
    goto_ready(page, f"{live_server.url}/day/{(today + timedelta(days=10)).isoformat()}")
    assert page.locator("h1").inner_text() == "You are offline"
    goto_ready(page, live_server.url + "/settings/delete")
    assert page.locator("h1").inner_text() == "You are offline"

    # Three days after that visit, still offline: `/` is day 4's practice. The worker reads
    # the device's real clock, which is three days past the server's and the page's; the
    # page's clock moves on too, so the card's own checks agree with the worker.
    phone_context.clock.set_fixed_time(then + timedelta(days=3))
    response = goto_ready(page, live_server.url + "/")
    assert response.ok and response.from_service_worker
    later = today + timedelta(days=3)
    assert page.locator("#card").get_attribute("data-day") == later.isoformat()
    assert page.locator(".day-label").inner_text() == "Day 4 of your practice"
    assert page.locator("h1#practice-title").inner_text() == expected_title(
        live_server.app, today, later
    )
    # Cached when it was still a future day, the card can now be marked done offline.
    expect(page.locator("#done button", has_text="Done")).to_be_visible()
    expect(page.locator("#reflection-text")).to_be_visible()


@pixel_only
def test_an_htmx_form_that_cannot_be_sent_offline_leaves_the_page_working(
    live_server, phone_context, guard
):
    """Settings are not queued (only the card's writes are): offline, saving the time zone
    says it did not go through, and the page stays as it was."""
    page = phone_context.new_page()
    visit_online(page, live_server.url)
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    goto_ready(page, live_server.url + "/settings")
    page.locator("#time_zone").select_option("Europe/Berlin")
    page.get_by_role("button", name="Save time zone").click()
    notice = page.locator("#outbox-notice")
    expect(notice).to_be_visible()
    assert "you seem to be offline" in notice.inner_text()
    expect(page.locator("#time-zone form")).to_be_visible()
    expect(page.locator("#offline-badge")).to_be_visible()
    page.get_by_role("button", name="OK").click()
    expect(notice).to_be_hidden()

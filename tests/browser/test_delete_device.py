"""Deleting everything also empties the phone: no cached page keeps a reflection, no queued
write can replay into a new account, no service worker keeps serving the old pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import func, select

from models import User, db
from tests.browser.conftest import cached_paths, goto_ready, pixel_only, wait_for_worker

pytestmark = pytest.mark.browser

SECRET = "A line only I should ever read"

# What this origin keeps on the phone: our caches, the outbox's database, service workers.
STORED = """async () => ({
  caches: (await caches.keys()).filter((name) => name.startsWith("closer-")),
  databases: (await indexedDB.databases()).map((db) => db.name),
  workers: (await navigator.serviceWorker.getRegistrations()).length,
})"""

NOTHING = {"caches": [], "databases": [], "workers": 0}


def fill_the_phone(page, url: str) -> None:
    """A reflection saved online, the week's pages cached with it, the outbox's database."""
    goto_ready(page, url + "/")
    page.locator("#reflection-text").fill(SECRET)
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved.").wait_for()
    wait_for_worker(page)
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")
    goto_ready(page, url + "/progress")  # cached as the worker serves it
    assert SECRET in page.content()
    stored = page.evaluate(STORED)
    assert "closer" in stored["databases"] and stored["workers"] == 1
    assert "/progress" in cached_paths(page)


# Taken as each document starts, before any of our scripts: on the deleted page this shows
# what the browser cleared by itself (Clear-Site-Data), before forget.js's own clearing.
AT_START = f"window.storedAtStart = ({STORED})();"


@pixel_only
def test_delete_everything_leaves_nothing_on_the_phone(live_server, phone_context, guard):
    page = phone_context.new_page()
    fill_the_phone(page, live_server.url)

    goto_ready(page, live_server.url + "/settings/delete")
    page.add_init_script(AT_START)
    page.get_by_role("button", name="Yes, delete everything").click()
    page.get_by_role("heading", name="Everything is deleted").wait_for()
    assert page.evaluate("window.storedAtStart") == NOTHING  # the header's work
    page.wait_for_function("() => 'forgotten' in document.documentElement.dataset")
    assert page.evaluate(STORED) == NOTHING

    # Offline, nothing of the old account can be opened any more.
    guard.allow_offline_noise()
    phone_context.set_offline(True)
    with pytest.raises(PlaywrightError, match="ERR_INTERNET_DISCONNECTED"):
        page.goto(live_server.url + "/progress")


@pixel_only
def test_the_deleted_page_clears_the_phone_where_clear_site_data_is_unknown(
    live_server, phone_context, guard
):
    """A browser without Clear-Site-Data lands on the same page with everything still there:
    the page clears it. (Reaching it by GET, which carries no such header, shows this.)"""
    page = phone_context.new_page()
    fill_the_phone(page, live_server.url)

    phone_context.clear_cookies()  # as after the delete: no account any more
    response = page.goto(live_server.url + "/settings/deleted")
    assert response.ok and "clear-site-data" not in response.headers
    page.wait_for_function("() => 'forgotten' in document.documentElement.dataset")
    assert page.evaluate(STORED) == NOTHING


@pixel_only
def test_a_phone_that_lost_its_cookie_starts_afresh_through_its_worker(
    live_server, phone_context, guard
):
    """Only navigations start a new user (identity.py): a navigation the service worker
    passes on is still one, so a cleared cookie with the worker kept gets a fresh Day 1,
    not a 401."""
    page = phone_context.new_page()
    goto_ready(page, live_server.url + "/")
    wait_for_worker(page)
    phone_context.clear_cookies()
    response = goto_ready(page, live_server.url + "/")
    assert response.status == 200 and page.locator(".day-label").inner_text().startswith("Day 1")
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    with live_server.db():
        assert db.session.scalar(select(func.count()).select_from(User)) == 2

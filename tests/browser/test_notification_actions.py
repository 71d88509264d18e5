"""What a tap on the daily notification does, in real Chromium: "Done" marks that day done on
the server without opening anything; a tap on the body brings the app to that day's card.

The notification is a real one, shown by our worker's `push` handler from a message delivered
through the DevTools protocol. The one stand-in is the tap itself: no test can reach the
phone's notification shade, so the test calls the worker's click handler (the function the
`notificationclick` listener calls) with that real notification.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from models import Completion, db
from tests.browser.conftest import PHONES, wait_for_worker
from tests.browser.test_push_browser import deliver_push

pytestmark = pytest.mark.browser

SHOWN = "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(n => n.length)"


def today_on_card(page) -> str:
    action = page.locator("#done form").get_attribute("action")  # /day/<date>/done
    return action.split("/")[2]


@pytest.fixture
def app_page(live_server, new_context, guard):
    context = guard.watch(new_context(**PHONES["pixel"]))
    context.grant_permissions(["notifications"], origin=live_server.url)
    page = context.new_page()
    page.goto(live_server.url + "/")
    wait_for_worker(page)
    return context, page


def notify(context, page, live_server, day: str) -> None:
    """A reminder for `day`, delivered to our worker as a push service would deliver it."""
    payload = {"title": "Day 1 · Listen", "body": "Two minutes today.", "day": day}
    payload["url"] = f"/day/{day}"
    deliver_push(context, page, live_server.url, json.dumps(payload))
    assert page.evaluate(SHOWN) == 1


def tap(context, action: str) -> str:
    """Run the worker's click handler on the shown notification; what it resolved or threw."""
    [worker] = context.service_workers
    return worker.evaluate(
        """async (action) => {
          const [shown] = await self.registration.getNotifications();
          try { await self.handleNotificationClick(shown, action); return "ok"; }
          catch (error) { return error.name; }
        }""",
        action,
    )


def test_done_action_marks_the_day_done_and_closes_the_notification(live_server, app_page):
    context, page = app_page
    day = today_on_card(page)
    notify(context, page, live_server, day)

    assert tap(context, "done") == "ok"

    assert page.evaluate(SHOWN) == 0
    with live_server.db():
        days = db.session.scalars(select(Completion.day)).all()
    assert days == [date.fromisoformat(day)]
    assert live_server.requests("POST", rf"^/day/{day}/done$") == [200]
    # the app, when opened, shows the day as done
    page.goto(live_server.url + f"/day/{day}")
    assert "Done" in page.locator("#done").inner_text()
    assert page.get_by_role("button", name="Undo").is_visible()


def test_tapping_the_body_brings_the_app_to_that_days_card(live_server, app_page):
    context, page = app_page
    day = today_on_card(page)
    page.goto(live_server.url + "/settings")
    wait_for_worker(page)
    notify(context, page, live_server, day)

    # Without a real tap Chromium refuses focus() (no user activation); the navigation is
    # what matters and happens first.
    assert tap(context, "") in {"ok", "InvalidAccessError"}

    page.wait_for_url(f"{live_server.url}/day/{day}")
    assert page.evaluate(SHOWN) == 0
    with live_server.db():
        assert db.session.scalars(select(Completion)).all() == []  # a tap is not a Done

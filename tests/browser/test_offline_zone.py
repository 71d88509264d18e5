"""Offline, `/` opens the card of the user's today in the zone chosen in Settings, not in
the phone's own zone. Kiritimati (UTC+14) is always one calendar day ahead of Honolulu
(UTC-10), so the two dates differ at any hour this test runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import PHONES, goto_ready, wait_for_worker

pytestmark = pytest.mark.browser

PHONE_ZONE, CHOSEN_ZONE = "Pacific/Honolulu", "Pacific/Kiritimati"


def card_day(page) -> str:
    return page.locator("#done form").get_attribute("action").split("/")[2]


def test_offline_today_follows_the_zone_from_settings(live_server, new_context, guard):
    context = guard.watch(new_context(**PHONES["pixel"], timezone_id=PHONE_ZONE))
    page = context.new_page()
    goto_ready(page, live_server.url + "/")  # the first visit reports the phone's zone
    page.wait_for_function("() => document.body?.dataset.zoneState === 'confirmed'")

    goto_ready(page, live_server.url + "/settings")
    page.get_by_label("Your days start at midnight in").select_option(CHOSEN_ZONE)
    page.get_by_role("button", name="Save time zone").click()
    page.get_by_text(f"Your days now follow Kiritimati, Kiribati ({CHOSEN_ZONE}).").wait_for()

    now = datetime.now(UTC)
    chosen_today = now.astimezone(ZoneInfo(CHOSEN_ZONE)).date().isoformat()
    phone_today = now.astimezone(ZoneInfo(PHONE_ZONE)).date().isoformat()
    assert chosen_today != phone_today

    goto_ready(page, live_server.url + "/")
    assert card_day(page) == chosen_today  # online: the server's answer
    wait_for_worker(page)
    page.wait_for_function(
        "(day) => document.documentElement.dataset.offlineReady === day", arg=chosen_today
    )

    guard.allow_offline_noise()
    context.set_offline(True)
    response = page.goto(live_server.url + "/")
    assert response.from_service_worker
    assert card_day(page) == chosen_today
    assert date.fromisoformat(chosen_today)  # a real date, not a fallback page

"""The phone layout at its narrowest (320 px) and the whole flow with JavaScript off."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Completion, Reflection, db
from tests.browser.conftest import NAVIGATION_PAGES, goto_ready

PAGES = [*NAVIGATION_PAGES, "/settings/delete"]
NARROW = {
    "viewport": {"width": 320, "height": 640},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}

# Controls a thumb has to hit. Inline links inside sentences are exempt (WCAG 2.5.8).
TARGETS = "button, .button, .tabs a, .daynav a, summary, select, textarea"


def tomorrow(page) -> str:
    return page.evaluate("document.getElementById('card').dataset.day")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_fits_320px_with_thumb_sized_targets(live_server, new_context, guard, scheme):
    context = guard.watch(new_context(**NARROW, color_scheme=scheme))
    page = context.new_page()
    goto_ready(page, live_server.url + "/")
    first_day = tomorrow(page)
    for path in PAGES:
        url = live_server.url + path.format(tomorrow=first_day)
        goto_ready(page, url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{path} scrolls sideways: {width}px"
        small = page.evaluate(
            """(selector) => [...document.querySelectorAll(selector)]
                 .filter((el) => el.offsetParent !== null)
                 .map((el) => [el.outerHTML.slice(0, 80), el.getBoundingClientRect().height,
                               el.getBoundingClientRect().width])
                 .filter(([, h, w]) => h < 44 || w < 44)""",
            TARGETS,
        )
        assert small == [], f"{path}: targets under 44px: {small}"


def test_the_whole_flow_works_with_javascript_off(live_server, new_context):
    context = new_context(**NARROW, java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/")
    day = page.locator("#card").get_attribute("data-day")

    page.get_by_role("button", name="Done", exact=True).click()
    page.wait_for_url(f"{live_server.url}/#card")
    assert "Day one, done." in page.locator("#done").inner_text()

    page.get_by_label("Reflection").fill("Said it out loud. It helped.")
    page.get_by_role("button", name="Save reflection").click()
    page.wait_for_url(f"{live_server.url}/#reflection")
    assert page.get_by_label("Reflection").input_value() == "Said it out loud. It helped."

    page.get_by_role("button", name="Undo").click()
    page.wait_for_url(f"{live_server.url}/#card")
    assert page.get_by_role("button", name="Done", exact=True).is_visible()

    page.goto(live_server.url + "/settings")
    page.select_option("#time_zone", "Europe/Berlin")
    page.get_by_role("button", name="Save time zone").click()
    assert page.locator("#time_zone").input_value() == "Europe/Berlin"

    with live_server.db():
        assert db.session.scalars(select(Completion)).all() == []
        texts = db.session.scalars(select(Reflection.text)).all()
        assert texts == ["Said it out loud. It helped."]
    assert day

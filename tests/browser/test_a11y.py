"""Accessibility: axe-core (pinned in package.json, from node_modules) finds no violations on
the app's pages, in the light and the dark colour scheme, including the offline states
(badge, pending notes) and the iOS install steps."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    NAVIGATION_PAGES,
    PHONES,
    ROOT,
    goto_ready,
    reload_ready,
    wait_until,
)

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PAGES = [*NAVIGATION_PAGES, "/offline"]


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """() => axe.run(document, {
             runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                              "wcag22aa", "best-practice"] },
             resultTypes: ["violations"],
           })"""
    )
    return [
        {
            "id": v["id"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
            "summary": v["nodes"][0].get("failureSummary", "") if v["nodes"] else "",
        }
        for v in result["violations"]
    ]


@pytest.fixture(params=["light", "dark"])
def scheme(request) -> str:
    return request.param


def assert_clean(page, where: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{where}:\n{json.dumps(violations, indent=1)}"


def test_no_axe_violations_on_any_page(live_server, new_context, guard, scheme):
    if not AXE.exists():
        pytest.fail("node_modules/axe-core is missing: run `npm ci` (make test does)")
    # bypass_csp only so that axe itself can be injected; the app's pages are unchanged.
    # No service worker: this test is about what the pages show, and the offline states
    # below (optimistic card, badge) come from the page script alone.
    context = guard.watch(
        new_context(
            **PHONES["pixel"], color_scheme=scheme, bypass_csp=True, service_workers="block"
        )
    )
    page = context.new_page()
    goto_ready(page, live_server.url + "/")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
    tomorrow = (
        date.fromisoformat(page.locator("#card").get_attribute("data-day")) + timedelta(days=1)
    ).isoformat()
    for path in PAGES:
        url = live_server.url + path.format(tomorrow=tomorrow)
        goto_ready(page, url)
        assert_clean(page, f"{path} ({scheme})")

    # The done state, the reflection saved, the offline badge and the pending notes.
    goto_ready(page, live_server.url + "/")
    guard.allow_offline_noise()
    context.set_offline(True)
    page.get_by_role("button", name="Done", exact=True).click()
    page.locator("#reflection-text").fill("A good talk.")
    page.get_by_role("button", name="Save reflection").click()
    expect(page.get_by_text("Reflection saved on this phone")).to_be_visible()
    expect(page.locator("#offline-badge")).to_be_visible()
    assert_clean(page, f"/ offline with pending writes ({scheme})")
    context.set_offline(False)
    wait_until(page, "CloserOutbox.count().then((n) => n === 0)")
    reload_ready(page)
    expect(page.locator("#done").get_by_text("Done for today")).to_be_visible()
    # The update banner and an outbox notice, as they look when shown (the update and
    # outbox tests show them for real; here only their colours and names matter).
    page.evaluate(
        """() => {
          document.getElementById("update-banner").hidden = false;
          document.getElementById("outbox-notice-text").textContent =
            "Your Done for 2026-11-30 could not be saved: You can mark this day once it has come.";
          document.getElementById("outbox-notice").hidden = false;
        }"""
    )
    assert_clean(page, f"/ done, with the update banner and a notice ({scheme})")


def test_no_axe_violations_in_the_ios_install_steps(live_server, new_context, guard, scheme):
    context = guard.watch(
        new_context(
            **PHONES["iphone"], color_scheme=scheme, bypass_csp=True, service_workers="block"
        )
    )
    page = context.new_page()
    goto_ready(page, live_server.url + "/")
    expect(page.locator("#install-ios")).to_be_visible()
    assert_clean(page, f"/ with install steps ({scheme})")

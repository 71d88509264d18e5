"""Use Closer on another device, as people do it: three phones (browser contexts) join one
practice, by typing the code and by opening its link, each sees what the first one wrote,
and the second removes the first, which then has no access and starts as a new visitor.

Needs Settings to include templates/devices/_settings_section.html (the lead's integration).
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONES, goto_ready
from tests.browser.test_a11y import assert_clean

pytestmark = pytest.mark.browser

SECRET = "Only the two of us should read this"


def write_reflection(page, url: str) -> None:
    goto_ready(page, url + "/")
    page.locator("#reflection-text").fill(SECRET)
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved.").wait_for()


def open_code_page(page, url: str) -> tuple[str, str]:
    goto_ready(page, url + "/settings")
    page.get_by_role("button", name="Use on another device").click()
    page.get_by_role("heading", name="Use on another device").wait_for()
    assert page.locator("figure svg").count() == 1  # the QR code, drawn inline
    return page.locator("#link-code").inner_text(), page.locator("#link-url").inner_text()


def link_here(page) -> None:
    page.get_by_role("button", name="Link this device").click()
    page.get_by_role("heading", name="This phone is linked").wait_for()
    page.wait_for_function("() => 'forgotten' in document.documentElement.dataset")
    page.get_by_role("link", name="Open today's practice").click()
    page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")


def test_link_by_code_and_by_link_then_remove_the_first_phone(live_server, new_context, guard):
    url = live_server.url
    first = guard.watch(new_context(**PHONES["pixel"])).new_page()  # Chrome on Android
    second = guard.watch(new_context(**PHONES["iphone"])).new_page()  # Safari on iPhone
    third = guard.watch(new_context()).new_page()  # Chrome on Linux
    write_reflection(first, url)

    # By code, typed the way people type it: small letters, spaces.
    code, _ = open_code_page(first, url)
    goto_ready(second, url + "/link")
    second.get_by_label("Code").fill(code.lower().replace("-", " "))
    second.get_by_role("button", name="Find the practice").click()
    second.get_by_text("The practice it joins: Day 1, 0 days practised").wait_for()
    link_here(second)
    assert second.locator("#reflection-text").input_value() == SECRET

    # By link, with a new code (the first one is spent).
    first.get_by_role("button", name="Make a new code").click()
    new_code = first.locator("#link-code").inner_text()
    link = first.locator("#link-url").inner_text()
    assert new_code != code and link.endswith("/link/" + new_code)
    goto_ready(third, link)
    link_here(third)
    assert third.locator("#reflection-text").input_value() == SECRET

    # The second phone removes the first.
    goto_ready(second, url + "/settings")
    devices = second.locator("#devices")
    assert "Safari on iPhone · this device" in devices.inner_text()
    devices.get_by_role("button", name="Remove Chrome on Android").click()
    second.locator("#devices").wait_for()
    assert "Chrome on Android" not in second.locator("#devices").inner_text()

    # The first phone has no access: a new visitor, and its copies are cleared.
    first.goto(url + "/")
    first.wait_for_function("() => 'forgotten' in document.documentElement.dataset")
    assert SECRET not in first.content()
    assert first.locator("#reflection-text").input_value() == ""
    goto_ready(first, url + "/progress")
    assert SECRET not in first.content()
    # and the others still share the practice
    goto_ready(third, url + "/")
    assert third.locator("#reflection-text").input_value() == SECRET
    guard.check()


def test_the_new_pages_have_no_axe_violations(live_server, new_context, guard):
    """bypass_csp only so that axe itself can be injected (as test_a11y does); the first
    test above checks the same pages under the real policy."""
    url = live_server.url
    options = {**PHONES["pixel"], "bypass_csp": True, "service_workers": "block"}
    owner = guard.watch(new_context(**options)).new_page()
    joiner = guard.watch(new_context(**options)).new_page()
    write_reflection(owner, url)
    goto_ready(owner, url + "/settings")
    assert_clean(owner, "Settings with Your devices")
    code, _ = open_code_page(owner, url)
    assert_clean(owner, "the code page")
    write_reflection(joiner, url)  # a phone with its own practice: the confirm page warns
    goto_ready(joiner, url + "/link")
    assert_clean(joiner, "/link")
    guard.allow(r"status of 404 .*Failed to load resource|Failed to load resource.*404")
    joiner.get_by_label("Code").fill("K7QX-3MPA-W9RT")
    joiner.get_by_role("button", name="Find the practice").click()
    joiner.get_by_role("alert").wait_for()
    assert_clean(joiner, "/link with a wrong code")
    goto_ready(joiner, url + "/link/" + code)
    assert_clean(joiner, "the confirm page, replacing this phone's practice")
    joiner.get_by_label("Replace this phone's own practice").check()
    joiner.get_by_role("button", name="Link this device").click()
    joiner.get_by_role("heading", name="This phone is linked").wait_for()
    assert_clean(joiner, "the linked page")

"""Together in real browsers, each context its own phone: A invites, B joins by the link, both
see the same practice title on the same date; A taps Done and B's partner state shows it; B
sends a thank-you and A sees the note; A shares a reflection that B sees only once B saved
one; A unlinks and B sees nothing of A. C, a third phone, sees nothing of A or B at any step.

Drives the Together pages (/together, the join page, /together/day/<date>) and the Today
card's partner panel. The push of a thank-you, decrypted from a loopback push service, is in
tests/test_together_notices.py; a thank-you sent offline in test_together_offline.py.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import goto_ready

pytestmark = pytest.mark.browser

A_SECRET = "A wrote this for B alone"
B_NOTE = "Thanks for the walk"


def today_of(page) -> str:
    return page.locator("article#card").get_attribute("data-day")


def partner_state(page, url: str, day: str):
    """The partner part as that phone loads it fresh (its cookies, no navigation: an expected
    404 is not a console error)."""
    response = page.request.get(f"{url}/together/day/{day}")
    return response.status, response.text().replace("&#39;", "'")


def c_sees_nothing(page, url: str, day: str) -> None:
    status, html = partner_state(page, url, day)
    assert status == 404
    for secret in ("Sam", "Alex", A_SECRET, B_NOTE):
        assert secret not in html
    goto_ready(page, url + "/together")
    assert page.get_by_role("button", name="Invite your partner").count() == 1


def save_reflection(page, url: str, text: str) -> None:
    goto_ready(page, url + "/")
    page.locator("#reflection-text").fill(text)
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved.").wait_for()


def test_two_phones_practise_together_and_a_third_sees_nothing(live_server, new_context, guard):
    url = live_server.url
    a, b, c = (guard.watch(new_context()).new_page() for _ in range(3))
    for page in (a, b, c):
        goto_ready(page, url + "/")
    day = today_of(a)
    c_sees_nothing(c, url, day)

    # A invites: a link in a read-only field with Copy link, and its QR code.
    goto_ready(a, url + "/together")
    a.get_by_label("The name your partner will see you as (optional)").fill("Sam")
    a.get_by_role("button", name="Invite your partner").click()
    a.get_by_role("heading", name="Send this link to your partner").wait_for()
    assert a.get_by_role("button", name="Copy link").count() == 1
    assert a.locator("figure svg").count() == 1
    link = a.locator("#invite-link").input_value()
    a.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    a.wait_for_selector("html[data-ready]", state="attached")
    a.get_by_role("button", name="Copy link").click()
    a.get_by_text("Copied.").wait_for()
    assert a.evaluate("navigator.clipboard.readText()") == link

    # B opens it, reads what is shared, and joins.
    goto_ready(b, link)
    b.get_by_text("Sam will see whether you did each day's practice").wait_for()
    assert b.get_by_role("link", name="No thanks").count() == 1
    b.get_by_label("The name Sam will see you as (optional)").fill("Alex")
    b.get_by_role("button", name="Join").click()
    b.wait_for_url(url + "/")
    assert today_of(b) == day
    title = b.locator("#practice-title").inner_text()
    goto_ready(a, url + "/")
    assert a.locator("#practice-title").inner_text() == title
    c_sees_nothing(c, url, day)

    # A taps Done; B's partner state says so on its next load.
    assert "Sam hasn't yet" in partner_state(b, url, day)[1]
    a.get_by_role("button", name="Done").click()
    a.get_by_role("button", name="Undo").wait_for()
    assert "Sam did today's practice" in partner_state(b, url, day)[1]

    # B sends a thank-you from the Today card; A sees the note on Today.
    goto_ready(b, url + "/")
    b.get_by_text("Send a thank-you").click()
    b.get_by_label("Or write your own").fill(B_NOTE)
    b.get_by_role("button", name="Send", exact=True).click()
    b.locator("#thanks").get_by_text("Thank-you sent.").wait_for()
    assert B_NOTE in partner_state(a, url, day)[1]
    goto_ready(a, url + "/")
    note = a.locator("#partner-state").get_by_text(B_NOTE)
    note.wait_for()
    a.locator("#partner-state .notice").get_by_role("button", name="Close").click()
    note.wait_for(state="detached")  # closed in place, no navigation
    assert a.url == url + "/" and B_NOTE not in partner_state(a, url, day)[1]
    c_sees_nothing(c, url, day)

    # A shares a reflection: B sees it only once B has saved one.
    save_reflection(a, url, A_SECRET)
    switch = a.get_by_role("button", name="Share with Alex")
    assert switch.get_attribute("aria-pressed") == "false"
    switch.click()
    expect(a.get_by_role("button", name="Share with Alex")).to_have_attribute(
        "aria-pressed", "true"
    )
    status, html = partner_state(b, url, day)
    assert A_SECRET not in html and "Save yours for this day to see it" in html
    goto_ready(b, url + "/")
    expect(b.locator("#partner-reflection")).to_contain_text("Save yours for this day to see it")
    save_reflection(b, url, "B's own words")
    # Revealed at once on B's Today, with no reload (the save's answer carries it).
    expect(b.locator("#partner-reflection blockquote")).to_have_text(A_SECRET)
    assert A_SECRET in partner_state(b, url, day)[1]
    c_sees_nothing(c, url, day)

    # A unlinks: B sees nothing of A any more.
    goto_ready(a, url + "/together/unlink")
    a.get_by_role("button", name="Unlink").click()
    a.get_by_role("button", name="Invite your partner").wait_for()
    status, html = partner_state(b, url, day)
    assert status == 404 and A_SECRET not in html and "Sam" not in html
    c_sees_nothing(c, url, day)
    guard.check()

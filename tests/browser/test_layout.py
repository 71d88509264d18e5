"""The phone layout at its narrowest (320 px, and 195 px: a phone at 200% zoom) and the whole
flow with JavaScript off."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models import Completion, Reflection, db
from tests.browser.conftest import NAVIGATION_PAGES, PHONES, goto_ready

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


# Links standing alone on their line ("No thanks", "Back to Together") are targets too.
SMALL_TARGETS = """(selector) => [...document.querySelectorAll(selector + ", main p > a")]
  .filter((el) => el.offsetParent !== null)
  .filter((el) => el.matches(selector)
                  || el.parentElement.textContent.trim() === el.textContent.trim())
  .map((el) => [el.outerHTML.slice(0, 80), el.getBoundingClientRect().height,
                el.getBoundingClientRect().width])
  .filter(([, h, w]) => h < 44 || w < 44)"""


def assert_fits_with_big_targets(page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{what} scrolls sideways: {width}px"
    small = page.evaluate(SMALL_TARGETS, TARGETS)
    assert small == [], f"{what}: targets under 44px: {small}"


def test_together_pages_fit_320px_with_thumb_sized_targets(live_server, new_context, guard):
    """Invite, join (No thanks), Together while linked (Unlink), the unlink confirm (Keep
    practising together) and the thank-you page, each measured on a narrow phone."""
    a, b = (guard.watch(new_context(**NARROW)).new_page() for _ in range(2))
    url = live_server.url
    goto_ready(a, url + "/")  # Today starts a visitor's practice; Together alone does not
    goto_ready(a, url + "/together")
    assert_fits_with_big_targets(a, "/together")
    a.get_by_role("button", name="Invite your partner").click()
    a.get_by_role("link", name="Back to Together").wait_for()
    assert_fits_with_big_targets(a, "invite page")
    link = a.locator("#invite-link").input_value()
    goto_ready(b, link)
    assert b.get_by_role("link", name="No thanks").count() == 1
    assert_fits_with_big_targets(b, "join page")
    b.get_by_role("button", name="Join").click()
    b.wait_for_url(url + "/")
    for path, landmark in [
        ("/together", "Unlink"),
        ("/together/unlink", "Keep practising together"),
        ("/together/thanks", "Back to today"),
    ]:
        goto_ready(a, url + path)
        assert a.get_by_role("link", name=landmark, exact=True).count() == 1, path
        assert_fits_with_big_targets(a, path)
    guard.check()


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


# ------------------------------------------------------------------------------------------
# The reviewer's phone (390 px) and the same phone at 200% zoom: 195 CSS px wide, where the
# page must still reflow without sideways scrolling (WCAG 1.4.10) and keep its targets.

PHONE = PHONES["iphone"]
ZOOMED = {**PHONE, "viewport": {"width": 195, "height": 422}}

# The bar's four tabs, each with its box and how far its label overflows the tab.
TAB_BOXES = """() => [...document.querySelectorAll(".tabs a")].map((a) => {
  const r = a.getBoundingClientRect();
  return { label: a.textContent.trim(), left: r.left, right: r.right, width: r.width,
           height: r.height, overflow: a.scrollWidth - a.clientWidth };
})"""


def test_the_tab_bar_and_pages_fit_at_200_percent_zoom(live_server, new_context, guard):
    page = guard.watch(new_context(**ZOOMED)).new_page()
    for path in ["/", "/strategies", "/progress", "/settings"]:
        goto_ready(page, live_server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 195, f"{path} scrolls sideways: {width}px"
        tabs = page.evaluate(TAB_BOXES)
        assert [tab["label"] for tab in tabs] == ["Today", "Library", "Progress", "Settings"]
        for tab in tabs:
            assert tab["left"] >= 0 and tab["right"] <= 195.5, f"{path}: tab off screen: {tab}"
            assert tab["width"] >= 44 and tab["height"] >= 44, f"{path}: tab too small: {tab}"
            assert tab["overflow"] <= 0, f"{path}: label runs out of its tab: {tab}"
        # Scrolled to the end, the last line of the page sits above the bar, not under it.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        last, bar = page.evaluate(
            """() => [document.querySelector(".foot p").getBoundingClientRect().bottom,
                      document.querySelector(".tabs").getBoundingClientRect().top]"""
        )
        assert last <= bar, f"{path}: the bar covers the page's foot ({last} > {bar})"


def test_the_progress_calendar_reflows_at_200_percent_zoom(live_server, new_context, guard):
    page = guard.watch(new_context(**ZOOMED)).new_page()
    goto_ready(page, live_server.url + "/progress")
    # Each weekday's rendered text stays inside its own column, so none run together.
    spilled = page.evaluate(
        """() => [...document.querySelectorAll(".calendar th")].flatMap((th) => {
             const range = document.createRange();
             range.selectNodeContents(th);
             const text = range.getBoundingClientRect(), cell = th.getBoundingClientRect();
             return text.left < cell.left - 0.5 || text.right > cell.right + 0.5
               ? [[th.textContent, text.left, text.right, cell.left, cell.right]] : [];
           })"""
    )
    assert spilled == [], f"weekday headers overflow their columns: {spilled}"
    # Every day stays a 24 px target (WCAG 2.5.8) and the week still fits the screen.
    days = page.evaluate(
        """() => [...document.querySelectorAll(".calendar td a, .calendar td > span")]
             .map((el) => el.getBoundingClientRect())
             .map((r) => ({ width: r.width, height: r.height, right: r.right }))"""
    )
    assert len(days) >= 7
    small = [day for day in days if day["width"] < 24 or day["height"] < 24]
    assert small == [], f"calendar days under 24px: {small[:3]}"
    assert max(day["right"] for day in days) <= 195
    assert page.evaluate("document.documentElement.scrollWidth") <= 195


# For every control on the page: park it just behind the fixed tab bar (where Tab finds
# the next control down), focus it, and report it if it is still covered or off the top.
COVERED_AFTER_FOCUS = """() => {
  const bar = document.querySelector(".tabs");
  const controls = [...document.querySelectorAll(
    "main a[href], main button, main input:not([type=hidden]), main select, main textarea," +
    " main summary, .foot a[href]")].filter((el) => el.getClientRects().length > 0);
  const covered = [];
  for (const el of controls) {
    document.activeElement?.blur();
    const below = el.getBoundingClientRect().top - bar.getBoundingClientRect().top;
    window.scrollTo(0, window.scrollY + below + 4);
    el.focus();
    if (document.activeElement !== el) continue;
    const r = el.getBoundingClientRect(), top = bar.getBoundingClientRect().top;
    if (r.bottom > top + 0.5 || r.top < 0) {
      covered.push([el.outerHTML.slice(0, 60), Math.round(r.top), Math.round(r.bottom), top]);
    }
  }
  return [controls.length, covered];
}"""


@pytest.mark.parametrize("size", ["phone", "zoomed"])
def test_a_focused_control_is_never_left_under_the_tab_bar(live_server, new_context, guard, size):
    page = guard.watch(new_context(**(PHONE if size == "phone" else ZOOMED))).new_page()
    for path in ["/", "/settings"]:
        goto_ready(page, live_server.url + path)
        count, covered = page.evaluate(COVERED_AFTER_FOCUS)
        assert count >= 5, f"{path}: expected some controls, found {count}"
        assert covered == [], f"{path}: focused but under the tab bar: {covered}"
    # The same by keyboard: Tab through the settings page from the top.
    goto_ready(page, live_server.url + "/settings")
    seen = set()
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const el = document.activeElement;
                 if (el === document.body || el.closest(".tabs")) return null;
                 const r = el.getBoundingClientRect();
                 return [(el.textContent.trim() || el.id).slice(0, 40), r.top, r.bottom,
                         document.querySelector(".tabs").getBoundingClientRect().top]; }"""
        )
        if focused is None:
            continue
        what, top, bottom, bar = focused
        seen.add(what)
        assert top >= 0 and bottom <= bar + 0.5, f"Tab left {what} under the bar"
    assert any("Export my data" in what for what in seen)


def test_the_strategy_eyebrow_reads_as_one_line(live_server, new_context, guard):
    page = guard.watch(new_context(**PHONE)).new_page()
    goto_ready(page, live_server.url + "/strategies/empathy")
    eyebrow = page.evaluate(
        """() => {
          const eyebrow = document.querySelector("main .eyebrow");
          const link = eyebrow.querySelector("a").getBoundingClientRect();
          const walker = document.createTreeWalker(eyebrow, NodeFilter.SHOW_TEXT);
          let node = walker.nextNode();
          while (node && !node.data.includes(" of 6")) node = walker.nextNode();
          const range = document.createRange();
          range.selectNodeContents(node);
          const rects = [...range.getClientRects()].filter((r) => r.width > 0);
          return { text: eyebrow.textContent.replace(/\\s+/g, " ").trim(),
                   gap: rects[0].left - link.right,
                   tops: rects.map((r) => Math.round(r.top + r.height / 2)),
                   linkMiddle: Math.round(link.top + link.height / 2) };
        }"""
    )
    assert eyebrow["text"].startswith("Library · ") and eyebrow["text"].endswith(" of 6")
    # " · 4 of 6" follows "Library" after a space, on the same line, not at the far right.
    assert 0 <= eyebrow["gap"] < 12, eyebrow
    assert all(abs(middle - eyebrow["linkMiddle"]) <= 2 for middle in eyebrow["tops"]), eyebrow


def test_practice_minutes_never_wrap_in_the_library(live_server, new_context, guard):
    page = guard.watch(new_context(**ZOOMED)).new_page()
    goto_ready(page, live_server.url + "/strategies")
    links = page.eval_on_selector_all(".strategy-list a", "(links) => links.map((a) => a.href)")
    assert len(links) == 6
    for url in links:
        goto_ready(page, url)
        labels = page.evaluate(
            """() => [...document.querySelectorAll(".practice summary .minutes")].map((el) => {
                 const r = el.getBoundingClientRect();
                 const summary = el.closest("summary").getBoundingClientRect();
                 return { text: el.textContent, height: r.height, right: r.right,
                          line: parseFloat(getComputedStyle(el).lineHeight),
                          room: summary.right };
               })"""
        )
        assert labels, url
        for label in labels:
            assert label["height"] < 1.5 * label["line"], f"{url}: wraps: {label}"
            assert label["right"] <= label["room"], f"{url}: overflows: {label}"
        assert page.evaluate("document.documentElement.scrollWidth") <= 195, url


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_reminder_time_looks_like_the_other_fields(live_server, new_context, guard, scheme):
    page = guard.watch(new_context(**PHONE, color_scheme=scheme)).new_page()
    goto_ready(page, live_server.url + "/settings")
    time, select = (
        page.evaluate(
            """(selector) => {
                 const el = document.querySelector(selector), style = getComputedStyle(el);
                 return { height: el.getBoundingClientRect().height,
                          font: style.fontFamily, size: style.fontSize, color: style.color,
                          background: style.backgroundColor, border: style.borderTopColor,
                          radius: style.borderTopLeftRadius };
               }""",
            selector,
        )
        for selector in ("#reminder-time", "#time_zone")
    )
    assert time["height"] >= 44, time
    assert {**time, "height": None} == {**select, "height": None}

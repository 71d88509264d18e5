"""The first minute on a phone (issue 16), in Chromium at 390x844 (an iPhone's screen): Done
within the first screen, targets a thumb can hit, one secondary offer at a time, a calendar
that reads, a reflection counter that agrees with the server, and offline Progress that
agrees with itself. Also: the worker never keeps a page sent with `no-store`."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    NAVIGATION_PAGES,
    PHONES,
    cached_paths,
    goto_ready,
    reload_ready,
    wait_for_worker,
    wait_until,
)

pytestmark = pytest.mark.browser

IPHONE = PHONES["iphone"]  # 390x844
PIXEL = PHONES["pixel"]

# Controls, and links that stand outside running text: links named by their place, and any
# link that is the whole of its paragraph or list item.
TARGETS = """() => {
  const out = [];
  const placed = ".tabs a, .foot a, .eyebrow a, .daynav a, .calendar a, .reflections .meta a, .brand";
  for (const el of document.querySelectorAll("button, input:not([type=hidden]), select, textarea, summary, a")) {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === "hidden") continue;
    if (el.tagName === "A" && !el.matches(placed)) {
      const block = el.closest("p, li, dd, td, h1, h2, h3");
      if (!block || block.textContent.trim() !== el.textContent.trim()) continue;
    }
    out.push({ what: el.tagName + " " + (el.textContent.trim() || el.id || el.name).slice(0, 40),
               width: box.width, height: box.height, main: el.matches(".primary, .tabs a") });
  }
  return out;
}"""


def fresh(page, url: str) -> date:
    """A first visit; returns the card's day (the user's Day 1)."""
    goto_ready(page, url + "/")
    return date.fromisoformat(page.locator("#card").get_attribute("data-day"))


def tab_bar_top(page) -> float:
    return page.locator("nav.tabs").bounding_box()["y"]


def longest_practice_day(app) -> int:
    """The day number (in the first cycle through every practice) with the most text."""
    library = app.extensions["library"]
    cycle = len(library.strategies) * max(len(s.practices) for s in library.strategies)

    def size(n: int) -> int:
        practice = library.for_day(n)[1]
        return len(
            practice.title + practice.try_saying + practice.reflect + "".join(practice.steps)
        )

    return max(range(1, cycle + 1), key=size)


def assert_done_on_first_screen(page) -> None:
    done = page.get_by_role("button", name="Done", exact=True)
    expect(done).to_be_visible()
    box = done.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= tab_bar_top(page), box
    assert page.evaluate("scrollY") == 0
    # Nothing covers it: a tap there reaches the button.
    hit = page.evaluate(
        f"document.elementFromPoint({box['x'] + box['width'] / 2}, {box['y'] + box['height'] / 2})"
        "?.closest('#done-toggle') !== null"
    )
    assert hit


def test_done_is_within_the_first_screen_on_day_1_and_on_the_longest_practice(
    live_server, new_context, guard
):
    page = guard.watch(new_context(**IPHONE)).new_page()
    fresh(page, live_server.url)
    assert_done_on_first_screen(page)

    n = longest_practice_day(live_server.app)
    live_server.clock.offset = timedelta(days=n - 1)
    goto_ready(page, live_server.url + "/")
    expect(page.locator("#card .day-label")).to_contain_text(f"Day {n}")
    assert_done_on_first_screen(page)
    # The practice text stays whole: scrolled to, each part of it is seen, not covered.
    for part in page.locator("#card .steps li, #card .try p, #card .ask p").all():
        part.evaluate("el => el.scrollIntoView({ block: 'center' })")
        box = part.bounding_box()
        middle = f"{box['x'] + box['width'] / 2}, {box['y'] + box['height'] / 2}"
        assert part.evaluate(f"el => el.contains(document.elementFromPoint({middle}))")


def test_every_target_is_at_least_24px_and_main_actions_44px(live_server, new_context, guard):
    page = guard.watch(new_context(**IPHONE)).new_page()
    today = fresh(page, live_server.url)
    page.locator("#reflection-text").fill("We talked.")
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved.").wait_for()
    tomorrow = (today + timedelta(days=1)).isoformat()
    small = []
    for path in NAVIGATION_PAGES:
        goto_ready(page, live_server.url + path.format(tomorrow=tomorrow))
        for target in page.evaluate(TARGETS):
            least = 44 if target["main"] else 24
            if target["width"] < least or target["height"] < least:
                small.append((path, target))
    assert not small, small


def test_settings_buttons_keep_clear_of_their_fields(live_server, new_context, guard):
    page = guard.watch(new_context(**PIXEL)).new_page()
    goto_ready(page, live_server.url + "/settings")

    def gap(above: str, below: str) -> float:
        a = page.locator(above).bounding_box()
        b = page.locator(below).bounding_box()
        return b["y"] - (a["y"] + a["height"])

    assert gap("#time_zone", "#timezone-save") >= 8
    assert gap("#reminder-time", "#reminders-switch") >= 8


def test_calendar_names_months_sets_days_before_day_1_apart_and_has_a_key(
    live_server, new_context, guard
):
    page = guard.watch(new_context(**IPHONE)).new_page()
    today = fresh(page, live_server.url)
    goto_ready(page, live_server.url + "/progress")
    calendar = page.locator("table.calendar")
    # Six weeks back always reach the first of this month: its name is over it, and a name is
    # over the first cell, whatever its date.
    months = [m.strip().lower() for m in calendar.locator(".month").all_inner_texts()]
    assert today.strftime("%b").lower() in months
    expect(calendar.locator("td").first.locator(".month")).to_have_count(1)

    # A day before Day 1 does not look like a day of the practice that was missed.
    yesterday = today - timedelta(days=1)
    before = calendar.locator(f'td.before:has(time[datetime="{yesterday.isoformat()}"]) > span')
    missed_style = (
        "el => [getComputedStyle(el).backgroundColor, getComputedStyle(el).borderTopStyle]"
    )
    day = calendar.locator(f'a[href="/day/{today.isoformat()}"]')
    assert before.evaluate(missed_style) != day.evaluate(missed_style)

    legend = page.get_by_role("list", name="Key")
    for words in ("Practised", "Today", "Before your Day 1"):
        expect(legend).to_contain_text(words)


def test_the_day_2_preview_does_not_mark_the_today_tab(live_server, new_context, guard):
    page = guard.watch(new_context(**IPHONE)).new_page()
    today = fresh(page, live_server.url)
    tab = page.locator("nav.tabs").get_by_role("link", name="Today")
    assert tab.get_attribute("aria-current") == "page"
    # The card says what its numbers are, and when Done is meant.
    expect(page.locator("#card .day-label")).to_have_text("Day 1 of your practice")
    expect(page.locator("#card .way")).to_contain_text("Way 1 of 6: ")
    expect(page.locator("#card .minutes")).to_contain_text("Tap Done once you have tried it")
    goto_ready(page, f"{live_server.url}/day/{(today + timedelta(days=1)).isoformat()}")
    assert tab.get_attribute("aria-current") is None
    expect(page.locator("#card .day-label")).to_have_text("Day 2 of your practice")
    expect(page.locator("#card .minutes")).not_to_contain_text("Tap Done")
    goto_ready(page, f"{live_server.url}/day/{today.isoformat()}")
    assert tab.get_attribute("aria-current") == "page"


def test_the_reflection_counter_is_the_same_before_and_after_a_reload(
    live_server, new_context, guard
):
    page = guard.watch(new_context(**IPHONE)).new_page()
    fresh(page, live_server.url)
    field = page.locator("#reflection-text")
    counter = page.locator("#reflection-count")
    field.fill("")
    field.press_sequentially("We laughed 😂👍🏽 at the café, then talked. 🫶")
    typed = counter.inner_text()
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved.").wait_for()
    reload_ready(page)
    assert counter.inner_text() == typed == "42 / 2,000"

    # A thousand emoji are a thousand characters to the server: the counter says so, with
    # the server's separator, before and after a reload, and the field takes more.
    field.fill("😂" * 1000)
    field.dispatch_event("input")
    assert counter.inner_text() == "1,000 / 2,000"
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved.").wait_for()
    reload_ready(page)
    assert counter.inner_text() == "1,000 / 2,000"

    # Past the limit the counter turns, and the form says why instead of sending.
    field.fill("x" * 2001)
    field.dispatch_event("input")
    assert counter.inner_text() == "2,001 / 2,000"
    assert "2,001" in field.evaluate("el => el.validationMessage")


def test_offline_progress_agrees_with_itself(live_server, new_context, guard):
    context = guard.watch(new_context(**PIXEL))
    page = context.new_page()
    today = fresh(page, live_server.url)
    wait_for_worker(page)
    page.wait_for_function("() => document.documentElement.dataset.offlineReady")
    goto_ready(page, live_server.url + "/")

    guard.allow_offline_noise()
    context.set_offline(True)
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator("#done .pending-note")).to_be_visible()
    page.locator("#reflection-text").fill("Saved on the train.")
    page.get_by_role("button", name="Save reflection").click()
    page.get_by_text("Reflection saved on this phone").wait_for()

    goto_ready(page, live_server.url + "/progress")  # the cached page, from before the taps
    cell = page.locator(f'table.calendar a[href="/day/{today.isoformat()}"]')
    expect(cell.locator(".tick")).to_have_count(1)
    lede = page.locator(".lede")
    expect(lede).to_contain_text("Day one, done. A lovely start. 1 day in all.")
    expect(page.get_by_text("No reflections yet")).to_be_hidden()
    item = page.locator(f'#reflection-list li[data-day="{today.isoformat()}"]')
    expect(item).to_contain_text("Saved on the train.")
    expect(item.locator("time")).to_have_text(today.strftime("%A %-d %B %Y"))

    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    wait_until(page, "CloserOutbox.count().then((n) => n === 0)")
    goto_ready(page, live_server.url + "/progress")
    # Online, the server's page says the same.
    expect(lede).to_contain_text("Day one, done. A lovely start. 1 day in all.")
    expect(item).to_contain_text("Saved on the train.")


def test_iphone_today_offers_the_home_screen_steps_once_and_nothing_else(
    live_server, new_context, guard
):
    page = guard.watch(new_context(**IPHONE)).new_page()
    fresh(page, live_server.url)
    expect(page.locator("#install-ios")).to_be_visible()
    assert page.get_by_text("Add to Home Screen").count() == 1
    expect(page.locator("#reminders")).to_be_hidden()
    # "Not now": the reminders panel stays away too, as it cannot work outside the app.
    page.get_by_role("button", name="Not now").click()
    expect(page.locator("#reminders")).to_be_hidden()


def test_pixel_today_shows_one_offer_and_it_is_not_styled_like_done(
    live_server, new_context, guard
):
    page = guard.watch(new_context(**PIXEL)).new_page()
    fresh(page, live_server.url)
    remind = page.get_by_role("button", name="Remind me daily")
    expect(remind).to_be_visible()
    done = page.get_by_role("button", name="Done", exact=True)
    look = "el => [getComputedStyle(el).backgroundColor, el.getBoundingClientRect().width]"
    assert remind.evaluate(look) != done.evaluate(look)
    assert remind.evaluate("el => getComputedStyle(el).backgroundColor") == "rgba(0, 0, 0, 0)"

    # Chromium offers installation: that offer shows, and the reminder offer waits.
    page.evaluate("window.dispatchEvent(new Event('beforeinstallprompt', { cancelable: true }))")
    expect(page.get_by_role("button", name="Install app")).to_be_visible()
    expect(page.locator("#reminders")).to_be_hidden()
    page.get_by_role("button", name="Not now").click()
    expect(remind).to_be_visible()


def test_the_worker_never_keeps_a_no_store_page(live_server, new_context, guard):
    page = guard.watch(new_context(**PIXEL)).new_page()
    fresh(page, live_server.url)
    wait_for_worker(page)
    goto_ready(page, live_server.url + "/link")
    response = page.request.get(live_server.url + "/link")
    assert "no-store" in response.headers["cache-control"]
    # The code field is a form field like the others, not the browser's bare default.
    field = page.locator("#code")
    assert field.evaluate("el => getComputedStyle(el).borderRadius") == "10px"
    assert field.bounding_box()["height"] >= 44
    goto_ready(page, live_server.url + "/")
    cached = cached_paths(page)
    assert "/" in cached and "/link" not in cached

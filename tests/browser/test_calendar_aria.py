"""The Progress calendar as a screen reader gets it (issue 17): after a Done, the accessibility
tree (Playwright's ARIA snapshot) names the month and names today's cell with its date and
"practised", in words, not only as a tick or a colour.

The calendar is found by what it is, not by its classes: a table, grid, list, group or region
whose accessible name holds the month's name ("December 2026", "Your last six weeks, to
7 December"...), so it may be a table or a list, split by month or not.
"""

from __future__ import annotations

import re
import time
from datetime import date

from playwright.sync_api import expect
from sqlalchemy import select

from models import Completion, db
from tests.browser.conftest import goto_ready, pixel_only

# Roles a calendar may take that carry a name for the whole (the month).
CALENDAR_ROLES = ("table", "grid", "list", "group", "region")
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
# A day named in words in a snapshot line: "7 December", "Monday 7 December 2026".
DAY_NAME = re.compile(rf"\b(\d{{1,2}}) ({MONTHS})\b")


def wait_for_done(live_server, day: date, timeout: float = 15.0) -> None:
    """Until the server has stored Done for `day` (the card may show it before the server
    answers), so that Progress, rendered by the server, shows it."""
    deadline = time.monotonic() + timeout
    while True:
        with live_server.db():
            days = db.session.scalars(select(Completion.day)).all()
        if days == [day]:
            return
        assert time.monotonic() < deadline, f"Done for {day} never reached the server: {days}"
        time.sleep(0.05)


def calendar_snapshots(page, month: str) -> list[str]:
    """ARIA snapshots of every calendar-like element whose name holds `month`."""
    snapshots = []
    for role in CALENDAR_ROLES:
        named = page.get_by_role(role, name=re.compile(rf"\b{month}\b"))
        snapshots += [named.nth(i).aria_snapshot() for i in range(named.count())]
    return snapshots


def named_days(snapshot: str) -> list[tuple[str, str]]:
    """("7 December", what is said of it) for every day that `snapshot` names in words. A
    line may name several days (a table row is named by its cells), so each day's words run
    from its date to the next date on the line."""
    found = []
    for line in snapshot.splitlines():
        matches = list(DAY_NAME.finditer(line))
        for i, match in enumerate(matches):
            end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
            found.append((f"{match.group(1)} {match.group(2)}", line[match.start() : end]))
    return found


@pixel_only
def test_progress_names_the_month_and_todays_cell_as_practised(live_server, phone_context):
    page = phone_context.new_page()
    goto_ready(page, live_server.url + "/")
    today = date.fromisoformat(page.locator("#card").get_attribute("data-day"))
    page.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator("#done").get_by_role("button", name="Undo")).to_be_visible()
    wait_for_done(live_server, today)

    goto_ready(page, live_server.url + "/progress")
    month = today.strftime("%B")
    today_words = f"{today.day} {month}"
    main = page.get_by_role("main").aria_snapshot()

    calendars = calendar_snapshots(page, month)
    assert calendars, (
        f"no table, grid, list, group or region named with the month ({month}) on Progress; "
        f"a screen reader hears:\n{main}"
    )
    calendar = next((s for s in calendars if today_words in dict(named_days(s))), None)
    assert calendar is not None, f"no calendar named {month} holds {today_words}:\n{main}"

    days = named_days(calendar)
    todays = [said for words, said in days if words == today_words]
    assert any(re.search(r"\bpractised\b", said) for said in todays), (
        f"today ({today_words}) is not named as practised in the calendar:\n{calendar}"
    )
    # Only today was practised, and the other days are named in words too.
    others = [said for words, said in days if words != today_words]
    assert others, f"the calendar names no other day in words:\n{calendar}"
    practised_others = [said for said in others if re.search(r"\bpractised\b", said)]
    assert practised_others == [], f"days not practised are named practised:\n{calendar}"

"""What a reminder says: the day, its strategy and its practice, and where tapping leads.

Only library text and the date go in. Reflections, completions and anything else the user
wrote never do: a push payload passes through a third party's servers (encrypted, but
still), so it carries nothing a stranger reading it could learn about the person.
"""

from __future__ import annotations

import json
from datetime import date
from typing import NamedTuple

from content.library import Library, day_number
from together.calendar import shared_day_number, together_day


class Shared(NamedTuple):
    """A partner link as the calendar reads it (together/calendar.py)."""

    since: date
    anchor: date


BODY_MAX = 140


def reminder_message(
    library: Library, first_date: date, day: date, link: tuple[date, date] | None = None
) -> dict[str, str]:
    """The day's notification. `link` is (since, anchor) of a partner link: from `since` on,
    the day follows the shared calendar, and the title counts the days together."""
    shared = None if link is None else Shared(*link)
    strategy, practice = library.for_day(shared_day_number(first_date, shared, day))
    together = together_day(shared, day)
    label = f"Day {together} together" if together else f"Day {day_number(first_date, day)}"
    iso = day.isoformat()
    body = " ".join(practice.title.split())  # one line, whatever the library file holds
    if len(body) > BODY_MAX:
        body = body[: BODY_MAX - 1].rstrip() + "…"
    return {
        "title": f"{label} · {strategy.name}",
        "body": body,
        "url": f"/day/{iso}",
        "day": iso,
        "tag": f"closer-{iso}",
    }


def encode(message: dict[str, str]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def topic_for(day: date) -> str:
    """RFC 8030 Topic (at most 32 URL-safe characters): one per local day, so a repeat of the
    same day's reminder replaces an undelivered copy at the push service."""
    return f"closer-{day.isoformat()}"

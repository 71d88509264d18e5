"""The shared calendar: while two people are linked, a date has the same practice for both.

From the link's `since` date on, a date's practice follows the link's `anchor` (the
inviter's Day 1), each person on their own local date, so a couple in two zones still
shares the practice of each date. Days before `since` keep the person's own calendar:
nobody's history is rewritten. The card reads "Day N together", N counted from `since`.
"""

from __future__ import annotations

from datetime import date

from content.library import day_number
from models import PartnerLink


def shared_day_number(first_date: date, link: PartnerLink | None, day: date) -> int:
    """The schedule number of `day` (what `Library.for_day` takes) for someone whose Day 1
    is `first_date` and whose link is `link` (None when not linked)."""
    if link is None or day < link.since:
        return day_number(first_date, day)
    # The joiner's `since` may fall a day before the inviter's Day 1 (zones): never below 1.
    return max(1, day_number(link.anchor, day))


def together_day(link: PartnerLink | None, day: date) -> int | None:
    """ "Day N together" for `day`, or None when not linked on that day."""
    if link is None or day < link.since:
        return None
    return day_number(link.since, day)


def schedule_number(user, day: date) -> int:
    """`shared_day_number` for a user, reading their link (one primary-key lookup)."""
    return shared_day_number(user.first_date, user.partner_link, day)

"""Looking back: a six-week calendar of practised days and the reflections, newest first.

Progress is counted kindly ("5 of the last 7 days"), never as a streak that breaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import Blueprint, current_app, render_template
from sqlalchemy import select

from content.calendar import DAYS_AHEAD
from days import recent_progress, user_today
from identity import current_user
from models import Completion, Reflection, db

bp = Blueprint("progress", __name__)

WEEKS = 6


@dataclass(frozen=True)
class CalendarDay:
    day: date
    done: bool
    is_today: bool
    in_practice: bool  # between Day 1 and the furthest day one may open
    kind: str  # "before" Day 1, a "day" up to today, or a "later" day of this week
    recent: bool  # in the window the headline counts ("3 of the last 7 days")
    month: str  # "Dec" over the first of a month and the first cell, else ""


def calendar_weeks(
    first_date: date, today: date, done_days: set[date], recent_from: date | None = None
) -> list[list[CalendarDay]]:
    """Six Monday-first weeks ending with the week that holds today; the days from
    `recent_from` to today are the headline's window."""
    recent_from = today if recent_from is None else recent_from
    last_monday = today - timedelta(days=today.weekday())
    start = last_monday - timedelta(weeks=WEEKS - 1)
    limit = today + timedelta(days=DAYS_AHEAD)
    weeks = []
    for w in range(WEEKS):
        week = []
        for d in range(7):
            day = start + timedelta(days=w * 7 + d)
            week.append(
                CalendarDay(
                    day=day,
                    done=day in done_days,
                    is_today=day == today,
                    in_practice=first_date <= day <= limit,
                    kind=_kind(day, first_date, today),
                    recent=recent_from <= day <= today,
                    month=day.strftime("%b") if day.day == 1 or day == start else "",
                )
            )
        weeks.append(week)
    return weeks


def _kind(day: date, first_date: date, today: date) -> str:
    if day < first_date:
        return "before"
    return "later" if day > today else "day"


@bp.get("/progress")
def progress():
    user = current_user()
    today = user_today(user)
    done_days = set(db.session.scalars(select(Completion.day).where(Completion.user_id == user.id)))
    reflections = db.session.scalars(
        select(Reflection).where(Reflection.user_id == user.id).order_by(Reflection.day.desc())
    ).all()
    library = current_app.extensions["library"]
    recent_done, recent_span = recent_progress(user, today)
    return render_template(
        "progress/progress.html",
        weeks=calendar_weeks(
            user.first_date, today, done_days, today - timedelta(days=recent_span - 1)
        ),
        reflections=[(r, library.practice(r.practice_id)) for r in reflections],
        total_done=len(done_days),
        recent_done=recent_done,
        recent_span=recent_span,
        today=today,
    )

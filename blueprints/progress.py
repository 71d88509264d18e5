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


def calendar_weeks(first_date: date, today: date, done_days: set[date]) -> list[list[CalendarDay]]:
    """Six Monday-first weeks ending with the week that holds today."""
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
                )
            )
        weeks.append(week)
    return weeks


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
        weeks=calendar_weeks(user.first_date, today, done_days),
        reflections=[(r, library.practice(r.practice_id)) for r in reflections],
        total_done=len(done_days),
        recent_done=recent_done,
        recent_span=recent_span,
        today=today,
    )

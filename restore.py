"""Restore: merge an export file (read by `export_file`) into a user, adding and never removing.

The rules, as a person restoring a backup onto a phone would expect them:
- A day done in the file is done here (a day already done here stays as it is).
- A day written about only in the file gets the file's reflection, with its own times.
- A day written about in both, with different texts: both are kept in the day's reflection,
  the newer (by its last change) first, then the older under `EARLIER_MARK`. Nothing is
  overwritten and nothing hides in a place the person cannot see; they may tidy it up. When
  one text already holds the other (the same text, or parts an earlier restore combined),
  the fuller one is the day's text and no part is repeated.
- Day 1 moves back to the file's Day 1 (or its earliest day) if that is earlier, so every
  restored day can be opened; it never moves forward.
- The file's time zone, if the person had chosen one, and its reminder time, if it had one,
  replace this user's. Devices' push subscriptions are not restored: each belongs to its
  browser, so each phone turns reminders on again.
Restoring the same file again changes nothing: every rule above finds its result in place.

No HTTP here; the caller commits (one transaction) or rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from export_file import DoneDay, ExportFile, WrittenDay
from models import Completion, Reflection, User, db
from reminders.schedule import reschedule

EARLIER_MARK = "\n\n— Also written for this day (kept when a file was restored) —\n"
# Settings a restore may change: whatever changes one of them changes the reminder schedule.
SCHEDULE_FIELDS = {"time_zone", "reminder_time"}


@dataclass
class RestorePlan:
    """What merging a file into a user adds and changes (or added and changed)."""

    file: ExportFile
    new_completions: list[DoneDay] = field(default_factory=list)
    new_reflections: list[WrittenDay] = field(default_factory=list)
    combined: dict[date, str] = field(default_factory=dict)  # day -> the day's text after
    settings: dict[str, object] = field(default_factory=dict)  # User attribute -> new value

    @property
    def changes_nothing(self) -> bool:
        return not (self.new_completions or self.new_reflections or self.combined or self.settings)

    @property
    def days_here_already(self) -> int:
        return len(self.file.completions) - len(self.new_completions)


def merged_text(here: str, here_changed: datetime, restored: WrittenDay) -> str | None:
    """A day's text once the file's reflection joins the one here; None if it is already in.

    Texts are compared as their parts between marks, so a text combined by an earlier
    restore is recognised whole and no part is ever written twice."""
    ours, theirs = here.split(EARLIER_MARK), restored.text.split(EARLIER_MARK)
    if set(theirs) <= set(ours):
        return None
    if set(ours) <= set(theirs):
        return restored.text
    newer, older = (theirs, ours) if restored.changed_at > here_changed else (ours, theirs)
    return EARLIER_MARK.join(newer + [part for part in older if part not in newer])


def plan_restore(user: User, file: ExportFile) -> RestorePlan:
    """What `merge` would do now: read only, for the preview and for the merge itself."""
    plan = RestorePlan(file=file)
    done_here = set(db.session.scalars(select(Completion.day).where(Completion.user_id == user.id)))
    plan.new_completions = [c for c in file.completions if c.day not in done_here]
    written_here = {
        r.day: r
        for r in db.session.scalars(select(Reflection).where(Reflection.user_id == user.id))
    }
    for restored in file.reflections:
        here = written_here.get(restored.day)
        if here is None:
            plan.new_reflections.append(restored)
            continue
        text = merged_text(here.text, max(here.created_at, here.updated_at), restored)
        if text is not None:
            plan.combined[restored.day] = text
    plan.settings = settings_changes(user, file)
    return plan


def settings_changes(user: User, file: ExportFile) -> dict[str, object]:
    changes: dict[str, object] = {}
    days = [file.first_date, *(c.day for c in file.completions), *(r.day for r in file.reflections)]
    if min(days) < user.first_date:
        changes["first_date"] = min(days)
    if file.time_zone and (file.time_zone != user.time_zone or not user.time_zone_confirmed):
        changes["time_zone"] = file.time_zone
        changes["time_zone_confirmed"] = True
    if file.reminder_time is not None and file.reminder_time != user.reminder_time:
        changes["reminder_time"] = file.reminder_time
    return changes


def merge(user: User, file: ExportFile, now: datetime) -> RestorePlan:
    """Merge `file` into `user` (not committed). The user's row is locked first, so two
    restores at once run one after the other and the second finds the first's rows (and
    settings: the refresh reads the row again once the lock is held)."""
    db.session.refresh(user, with_for_update=True)
    plan = plan_restore(user, file)
    naive_now = now.replace(tzinfo=None)
    db.session.add_all(
        Completion(user_id=user.id, day=c.day, practice_id=c.practice_id, done_at=c.done_at)
        for c in plan.new_completions
    )
    db.session.add_all(
        Reflection(
            user_id=user.id,
            day=r.day,
            practice_id=r.practice_id,
            text=r.text,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )
        for r in plan.new_reflections
    )
    if plan.combined:
        rows = db.session.scalars(
            select(Reflection).where(
                Reflection.user_id == user.id, Reflection.day.in_(plan.combined)
            )
        )
        for row in rows:
            row.text = plan.combined[row.day]
            row.updated_at = naive_now  # a new text: a page showing the old one is stale
    for name, value in plan.settings.items():
        setattr(user, name, value)
    if SCHEDULE_FIELDS & plan.settings.keys():
        reschedule(user, now)
    db.session.flush()
    return plan

"""Today's practice, any day's practice, and the three writes on a day: done, undo, reflect.

Each write answers an htmx request with the partial it replaces and a plain form POST with a
303 back to the day, so the page works with JavaScript off. Every write may carry a client
UUID (`key`): the offline outbox replays writes, and a key already applied is a no-op.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.exc import IntegrityError

from blueprints.push import panel_state
from content.calendar import DAYS_AHEAD, local_today, parse_day
from content.library import Practice, Strategy, day_number
from identity import (
    NewVisitor,
    current_user,
    page_zone,
    require_user,
    wants_fragment,
    zone_state,
)
from models import (
    REFLECTION_MAX,
    AppliedWrite,
    Completion,
    PushSubscription,
    Reflection,
    User,
    db,
)
from page_cache import init_app as init_page_cache
from page_cache import key_mark, page_cache
from security import limit_writes

bp = Blueprint("practice", __name__)


@bp.record_once
def _setup(state) -> None:
    init_page_cache(state.app)


# A device whose clock or zone runs ahead of the zone in settings may be a day ahead of us;
# its offline writes for "its" today must still be kept.
WRITE_AHEAD_DAYS = 1


class WriteRejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class DayView:
    """Everything a day's card shows."""

    day: date
    number: int
    strategy: Strategy
    practice: Practice
    is_today: bool
    done: bool
    reflection: str
    can_write: bool
    recent_done: int
    recent_span: int
    last_day: date  # the furthest day that may be opened

    @property
    def previous_day(self) -> date | None:
        return self.day - timedelta(days=1) if self.number > 1 else None

    @property
    def next_day(self) -> date | None:
        following = self.day + timedelta(days=1)
        return following if following <= self.last_day else None


def user_today(user: User | PageUser | NewVisitor) -> date:
    """The user's local date, never before their Day 1 (a zone change westwards on the first
    day must not show a "Day 0")."""
    return max(local_today(user.time_zone), user.first_date)


# The user as a page shows them, with their device count, in one round trip. `/` is the most
# requested page; in its profile the ORM's user load and per-query statement building cost
# more than the SQL itself, so pages read plain rows. Writes still load the ORM `User`.
_users = User.__table__
_subscriptions = PushSubscription.__table__
PAGE_USER = select(
    _users.c.id,
    _users.c.time_zone,
    _users.c.time_zone_confirmed,
    _users.c.first_date,
    _users.c.reminder_time,
    _users.c.reminder_paused_until,
    _users.c.reminder_every,
    _users.c.next_reminder_at,
    _users.c.next_reminder_day,
    select(func.count())
    .where(_subscriptions.c.user_id == _users.c.id)
    .scalar_subquery()
    .label("devices"),
).where(_users.c.id == bindparam("uid"))

PageUser = Row  # a row of PAGE_USER: reads like a `User`, plus `devices`


def page_user() -> PageUser:
    """The visitor for a page view; the first visit creates them (that visit is Day 1)."""
    row = returning_page_user()
    if row is None:
        row = _load_page_user(current_user().id)
    return row


def returning_page_user() -> PageUser | None:
    uid = session.get("uid")
    return _load_page_user(uid) if isinstance(uid, str) else None


def _load_page_user(uid: str) -> PageUser | None:
    return db.session.connection().execute(PAGE_USER, {"uid": uid}).one_or_none()


# What a day's card needs, in one round trip: the day's completion and reflection and the
# days practised in the recent window. Like PAGE_USER, built once at import.
_completions = Completion.__table__
_reflections = Reflection.__table__
_uid = bindparam("uid")
_day = bindparam("day")
DAY_STATE = select(
    select(_completions.c.id)
    .where(_completions.c.user_id == _uid, _completions.c.day == _day)
    .scalar_subquery()
    .label("done"),
    select(_reflections.c.text)
    .where(_reflections.c.user_id == _uid, _reflections.c.day == _day)
    .scalar_subquery()
    .label("reflection"),
    select(func.count())
    .where(
        _completions.c.user_id == _uid,
        _completions.c.day >= bindparam("start"),
        _completions.c.day <= bindparam("today"),
    )
    .scalar_subquery()
    .label("recent_done"),
)


def build_day(
    user: User | PageUser, day: date, ahead: int = 0, today: date | None = None
) -> DayView:
    """The card for `day`. Its forms are offered up to `ahead` days after the user's today:
    a page offers today's writes, no later (a preview of tomorrow is not a day to mark; a
    device whose own date is already there gets the forms from pwa.js's overlay), and the
    answer to a write keeps offering what that device was just able to send. `today`, when
    the caller has it, keeps one request on one date across midnight."""
    library = current_app.extensions["library"]
    number = day_number(user.first_date, day)
    strategy, practice = library.for_day(number)
    today = today or user_today(user)
    start = recent_start(user, today)
    state = (
        db.session.connection()
        .execute(DAY_STATE, {"uid": user.id, "day": day, "start": start, "today": today})
        .one()
    )
    return DayView(
        day=day,
        number=number,
        strategy=strategy,
        practice=practice,
        is_today=day == today,
        done=state.done is not None,
        reflection=state.reflection or "",
        can_write=day <= today + timedelta(days=ahead),
        recent_done=state.recent_done,
        recent_span=(today - start).days + 1,
        last_day=today + timedelta(days=DAYS_AHEAD),
    )


def recent_start(user: User | PageUser, today: date) -> date:
    """The first day of the recent window: the last seven days, or fewer for a new user."""
    return max(user.first_date, today - timedelta(days=6))


def recent_progress(user: User, today: date) -> tuple[int, int]:
    """Days practised out of the last seven (or fewer, for a new user): kind, never a streak."""
    start = recent_start(user, today)
    span = (today - start).days + 1
    done = db.session.scalar(
        select(func.count(Completion.id)).where(
            Completion.user_id == user.id, Completion.day >= start, Completion.day <= today
        )
    )
    return done or 0, span


@bp.app_template_global()
def progress_sentence(done: int, span: int) -> str:
    """Progress counted kindly: days practised in a window, never a streak that breaks, and
    never a bare zero."""
    if done == 0:
        return "A fresh start today. Two minutes is plenty."
    if span == 1:
        return "Day one, done. A lovely start."
    if span < 7:
        return f"You practised {done} of your first {span} days."
    return f"You practised {done} of the last 7 days."


def _viewable_day(user: User | PageUser | NewVisitor, text: str) -> date:
    day = parse_day(text)
    if day is None:
        abort(404, description="That is not a date we understand. Days look like 2026-11-26.")
    today = user_today(user)
    if day < user.first_date or day > today + timedelta(days=DAYS_AHEAD):
        abort(404, description="That day is not part of your practice.")
    return day


@bp.get("/")
def today():
    user = page_user()
    today = user_today(user)
    return _render_day(user, today, today)


@bp.get("/day/<day_text>")
def day(day_text: str):
    # A first visit may come through a day's link; only a day the new visitor could open
    # creates them, so a 404 (a mistyped or stale link) changes nothing.
    if returning_page_user() is None:
        _viewable_day(NewVisitor(), day_text)
    user = page_user()
    return _render_day(user, _viewable_day(user, day_text))


def _render_day(user: PageUser, day: date, today: date | None = None):
    # One reading of the date for the card and the panel: the page cache's key holds it (in
    # `reminders`), so the card's forms must follow from that same date.
    today = today or user_today(user)
    view = build_day(user, day, today=today)
    # The reminders panel (today only) is drawn from what is loaded already.
    reminders = panel_state(user, devices=user.devices, today_done=view.done, today=today)

    def render(new_key=uuid.uuid4) -> str:
        return render_template(
            "practice/day.html",
            view=view,
            new_key=new_key,
            reminders=reminders,
            zone_state=zone_state(user),
            page_zone=page_zone(user),
        )

    cache = page_cache()
    key = _page_key(user, view, reminders)
    html = render() if cache is None or key is None else cache.page(key, lambda: render(key_mark))
    response = make_response(html)
    if zone := page_zone(user):
        # Offline, the worker opens today's card from the cached `/`: this says whose today.
        response.headers["Closer-Time-Zone"] = zone
    return response


def _page_key(user: PageUser, view: DayView, reminders) -> tuple | None:
    """Everything the day page shows, for the page cache; None to render it afresh.

    The rest of the page follows from these: the practice from Day 1 and the date, the
    links and "today" from the local date (in `reminders`), the wording from the code."""
    config = current_app.config
    csrf_secret = session.get(config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    if csrf_secret is None or config["WTF_CSRF_TIME_LIMIT"] is not None:
        # A kept page keeps its signed CSRF token: only for a secret already in the session
        # (the first render puts it there) and tokens that never expire.
        return None
    return (
        request.endpoint,
        tuple(user),
        (view.day, view.done, view.reflection, view.recent_done),
        reminders,
        csrf_secret,
        current_app.extensions["asset_version"],
    )


@bp.post("/day/<day_text>/done")
@limit_writes
def mark_done(day_text: str):
    return _write(day_text, "done", _apply_done)


@bp.post("/day/<day_text>/undo")
@limit_writes
def undo_done(day_text: str):
    return _write(day_text, "undo", _apply_undo)


@bp.post("/day/<day_text>/reflection")
@limit_writes
def save_reflection(day_text: str):
    return _write(day_text, "reflect", _apply_reflection)


def _write(day_text: str, kind: str, apply):
    user = require_user()
    day = _viewable_day(user, day_text)
    try:
        if day > user_today(user) + timedelta(days=WRITE_AHEAD_DAYS):
            raise WriteRejected(409, "You can mark this day once it has come.")
        key = _idempotency_key()
        if key is None or _claim_key(user, key, kind):
            apply(user, day)
        db.session.commit()
    except WriteRejected as rejected:
        db.session.rollback()
        return _rejected(user, day, kind, rejected)
    if not wants_fragment():
        target = "practice.today" if day == user_today(user) else "practice.day"
        anchor = "reflection" if kind == "reflect" else "card"
        params = {} if target == "practice.today" else {"day_text": day.isoformat()}
        return redirect(url_for(target, **params, _anchor=anchor), code=303)
    view = build_day(user, day, ahead=WRITE_AHEAD_DAYS)
    template = "practice/_reflection.html" if kind == "reflect" else "practice/_done.html"
    return render_template(template, view=view, new_key=uuid.uuid4, saved=kind == "reflect")


def _rejected(user: User, day: date, kind: str, rejected: WriteRejected):
    view = build_day(user, day, ahead=WRITE_AHEAD_DAYS)
    if wants_fragment():
        template = "practice/_reflection.html" if kind == "reflect" else "practice/_done.html"
        return (
            render_template(
                template,
                view=view,
                new_key=uuid.uuid4,
                error=rejected.message,
                draft=request.form.get("text", ""),
            ),
            rejected.status,
        )
    return (
        render_template(
            "practice/day.html",
            view=view,
            new_key=uuid.uuid4,
            error=rejected.message,
            draft=request.form.get("text", ""),
        ),
        rejected.status,
    )


def _idempotency_key() -> str | None:
    raw = request.form.get("key") or request.headers.get("Idempotency-Key")
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise WriteRejected(400, "This change carried a broken id. Reload and try again.") from None


def _claim_key(user: User, key: str, kind: str) -> bool:
    """Record the key; False if it was applied before (this write is a replay)."""
    existing = db.session.get(AppliedWrite, key)
    if existing is not None:
        if existing.user_id != user.id:
            raise WriteRejected(409, "This change was already used. Reload and try again.")
        return False
    db.session.add(AppliedWrite(key=key, user_id=user.id, kind=kind))
    try:
        db.session.flush()
    except IntegrityError:
        # Another request with the same key won the race: this one is the replay.
        db.session.rollback()
        return False
    return True


def _apply_done(user: User, day: date) -> None:
    exists = db.session.scalar(
        select(Completion.id).where(Completion.user_id == user.id, Completion.day == day)
    )
    if exists is None:
        practice = _practice_for(user, day)
        db.session.add(Completion(user_id=user.id, day=day, practice_id=practice.id))


def _apply_undo(user: User, day: date) -> None:
    db.session.execute(
        Completion.__table__.delete().where(Completion.user_id == user.id, Completion.day == day)
    )


def _apply_reflection(user: User, day: date) -> None:
    text = request.form.get("text", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > REFLECTION_MAX:
        raise WriteRejected(
            422,
            f"Reflections can be up to {REFLECTION_MAX:,} characters; this one is {len(text):,}.",
        )
    if "\x00" in text:
        raise WriteRejected(422, "This reflection contains characters we cannot store.")
    row = db.session.scalar(
        select(Reflection).where(Reflection.user_id == user.id, Reflection.day == day)
    )
    if not text:
        if row is not None:
            db.session.delete(row)
        return
    if row is None:
        practice = _practice_for(user, day)
        db.session.add(Reflection(user_id=user.id, day=day, practice_id=practice.id, text=text))
    else:
        row.text = text


def _practice_for(user: User, day: date) -> Practice:
    library = current_app.extensions["library"]
    return library.for_day(day_number(user.first_date, day))[1]

"""Device sessions: the browsers signed in to a user, and moving a browser to another user.

No HTTP here (identity.py reads the cookie, blueprints/devices.py draws the pages). A
browser's session cookie holds a random 256-bit token; its `Device` row keeps only the
token's SHA-256, found by a unique index: one indexed lookup per request, joined to the user.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import contains_eager

from days import user_today
from models import Completion, Device, PartnerLink, User, db

# Checked in order: the first match names the browser (Edge and Opera also say "Chrome",
# Chrome also says "Safari").
BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS", "Firefox"),
    ("CriOS", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
PLATFORMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Macintosh", "Mac"),
    ("Linux", "Linux"),
)


def describe(user_agent: str) -> str:
    """ "Chrome on Android" from a User-Agent header, simply: a label for people, not a
    fingerprint. Unknown parts stay vague rather than wrong."""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), "A browser")
    platform = next((name for mark, name in PLATFORMS if mark in user_agent), None)
    return f"{browser} on {platform}" if platform else browser


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add(user_id: str, user_agent: str, now: datetime) -> tuple[Device, str]:
    """Sign a new browser in to the user; returns its row and the token its cookie must
    hold (never stored). The caller commits."""
    token = secrets.token_urlsafe(32)
    device = Device(
        token_hash=token_hash(token),
        user_id=user_id,
        label=describe(user_agent),
        created_at=now,
        last_seen_at=now,
    )
    db.session.add(device)
    return device, token


def signed_in(token: str) -> tuple[Device, User] | None:
    """The device and its user for a cookie's token: the one query per request."""
    query = (
        select(Device, User)
        .select_from(User)
        .join(Device, Device.user_id == User.id)
        .outerjoin(PartnerLink, PartnerLink.user_id == User.id)
        .options(contains_eager(User.partner_link))
    )
    row = db.session.execute(query.where(Device.token_hash == token_hash(token))).first()
    return (row[0], row[1]) if row else None


def mark_seen(device: Device, now: datetime) -> None:
    """Note the day the device was last seen, at most one write a day."""
    if device.last_seen_at.date() < now.date():
        db.session.execute(update(Device).where(Device.id == device.id).values(last_seen_at=now))
        db.session.commit()


@dataclass(frozen=True)
class DeviceRow:
    id: str
    label: str
    last_seen: date
    is_current: bool


def listed(user_id: str, current_id: str | None) -> list[DeviceRow]:
    """The user's devices for Settings, this one first, then the most recently seen."""
    rows = db.session.scalars(
        select(Device).where(Device.user_id == user_id).order_by(Device.last_seen_at.desc())
    )
    devices = [DeviceRow(d.id, d.label, d.last_seen_at.date(), d.id == current_id) for d in rows]
    return sorted(devices, key=lambda d: not d.is_current)


def count(user_id: str) -> int:
    return db.session.scalar(select(func.count(Device.id)).where(Device.user_id == user_id)) or 0


class LastDevice(Exception):
    """Removing the only device would leave the practice with no way back to it."""


def remove(user_id: str, device_id: str) -> bool:
    """Sign a device out: its row goes (and its push subscriptions with it, by cascade), so
    its next request finds no session. False when the user has no such device (someone
    else's, or made up). Refuses the user's last device: "Delete all my data" is the way to
    end everything. The caller commits."""
    mine = (Device.id == device_id) & (Device.user_id == user_id)
    if db.session.scalar(select(Device.id).where(mine)) is None:
        return False
    if count(user_id) <= 1:
        raise LastDevice
    db.session.execute(delete(Device).where(mine))
    return True


@dataclass(frozen=True)
class Summary:
    """Whose practice a code leads to, in the words the link page uses."""

    day: int
    practised: int

    def sentence(self) -> str:
        days = "day" if self.practised == 1 else "days"
        return f"Day {self.day}, {self.practised} {days} practised"


def summary(user: User) -> Summary:
    practised = db.session.scalar(
        select(func.count(Completion.id)).where(Completion.user_id == user.id)
    )
    return Summary(day=(user_today(user) - user.first_date).days + 1, practised=practised or 0)


def move_browser(
    device: Device | None, old_user: User | None, new_user_id: str, user_agent: str, now: datetime
) -> str:
    """Make this browser a device of `new_user_id`; returns the new cookie token. Its old
    device row goes (with its push subscriptions: reminders are per device and the new
    user's are set up again). The old user, if no other device can reach it any more, is
    deleted: a practice nobody can open is only a liability. The page has already offered
    the export and asked for a confirmation when it held anything (see the blueprint).
    The caller commits."""
    if device is not None:
        db.session.execute(delete(Device).where(Device.id == device.id))
    if old_user is not None and old_user.id != new_user_id and count(old_user.id) == 0:
        db.session.execute(delete(User).where(User.id == old_user.id))
    return add(new_user_id, user_agent, now)

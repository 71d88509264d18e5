"""The partner-name migration, on SQLite and PostgreSQL: every stored "Your partner" (a link's
name and an invite's label) becomes NULL and then reads "your partner" mid-sentence; chosen
names stay; the table copy SQLite needs keeps one partner at a time and the cascades; the
downgrade writes the words back."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from models import Code, PartnerLink, User, db
from tests.conftest import MIGRATIONS, migrated_app
from together import access

PREVIOUS = "7d41c2e9a5f3"
THIS_REVISION = "61122b394dee"

LINK = (
    "INSERT INTO partner_links (user_id, partner_id, partner_name, since, anchor, created_at)"
    " VALUES ('{a}', '{b}', {name}, '2026-12-01', '2026-11-01', '2026-12-01 09:00:00')"
)
SEED = [
    *[
        "INSERT INTO users (id, created_at, time_zone, time_zone_confirmed, first_date,"
        f" reminder_every, reminder_unanswered) VALUES ('{uid}', '2026-11-01 10:00:00', 'UTC',"
        " true, '2026-11-01', 1, 0)"
        for uid in ("u1", "u2", "u3", "u4")
    ],
    # u1 joined u2's invite giving no name; u2 is "Sam" to u1.
    LINK.format(a="u1", b="u2", name="'Sam'"),
    LINK.format(a="u2", b="u1", name="'Your partner'"),
    *[
        "INSERT INTO codes (kind, token_hash, user_id, label, created_at, expires_at) VALUES"
        f" ('invite', '{uid * 8}', '{uid}', '{label}', '2026-12-01 09:00:00',"
        " '2026-12-08 09:00:00')"
        for uid, label in (("u3", "Your partner"), ("u4", "Kim"))
    ],
]


def names(session) -> dict[str, str | None]:
    return {row.user_id: row.partner_name for row in session.scalars(select(PartnerLink))}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_your_partner_becomes_no_name_and_back(tmp_path, backend):
    with (
        migrated_app(backend, tmp_path, PREVIOUS, SEED, to=THIS_REVISION) as app,
        app.app_context(),
    ):
        assert names(db.session) == {"u1": "Sam", "u2": None}
        labels = dict(db.session.execute(select(Code.user_id, Code.label)).all())
        assert labels == {"u3": None, "u4": "Kim"}
        partner = access.partner_of(db.session.get(User, "u2"))
        assert (partner.name, partner.name_mid) == ("Your partner", "your partner")
        assert access.partner_of(db.session.get(User, "u1")).name_mid == "Sam"

        # The copied table still allows one partner at a time...
        with pytest.raises(IntegrityError):
            db.session.execute(text(LINK.format(a="u3", b="u2", name="NULL")))
            db.session.commit()
        db.session.rollback()
        # ...and deleting a person still unlinks both sides.
        db.session.execute(User.__table__.delete().where(User.id == "u1"))
        db.session.commit()
        assert names(db.session) == {}
        db.session.execute(text(LINK.format(a="u2", b="u3", name="'Sam'")))
        db.session.execute(text(LINK.format(a="u3", b="u2", name="NULL")))
        db.session.commit()
        db.session.remove()

        downgrade(directory=str(MIGRATIONS), revision=PREVIOUS)
        db.session.remove()
        rows = db.session.execute(text("SELECT user_id, partner_name FROM partner_links"))
        assert dict(rows.all()) == {"u2": "Sam", "u3": "Your partner"}
        columns = inspect(db.engine).get_columns("partner_links")
        assert [c["nullable"] for c in columns if c["name"] == "partner_name"] == [False]
        db.session.remove()
        upgrade(directory=str(MIGRATIONS), revision="head")

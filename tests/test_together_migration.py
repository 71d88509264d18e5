"""The Together migration, on SQLite and PostgreSQL: upgrading from the devices head keeps
every row, existing reflections read as not shared and both notification switches as on,
the database itself allows one partner at a time, deleting a person unlinks (both rows go),
and the downgrade gives the old schema back."""

from __future__ import annotations

from datetime import date

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from models import PartnerLink, Reflection, ThankYou, User, db
from tests.conftest import MIGRATIONS, migrated_app

PREVIOUS_HEAD = "26646c19ff3e"
THIS_REVISION = "7d41c2e9a5f3"

SEED = [
    *[
        "INSERT INTO users (id, created_at, time_zone, time_zone_confirmed, first_date,"
        f" reminder_every, reminder_unanswered) VALUES ('{uid}', '2026-11-01 10:00:00', 'UTC',"
        " true, '2026-11-01', 1, 0)"
        for uid in ("u1", "u2", "u3")
    ],
    "INSERT INTO reflections (user_id, day, practice_id, text, created_at, updated_at) VALUES ('u1',"
    " '2026-11-26', 'reflect-1', 'Written before Together', '2026-11-26 08:00:00',"
    " '2026-11-26 08:00:00')",
]


def link(a: str, b: str) -> list[PartnerLink]:
    day = date(2026, 12, 1)
    return [
        PartnerLink(user_id=a, partner_id=b, partner_name="B", since=day, anchor=day),
        PartnerLink(user_id=b, partner_id=a, partner_name="A", since=day, anchor=day),
    ]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrade_keeps_rows_and_the_database_enforces_one_partner(tmp_path, backend):
    with (
        migrated_app(backend, tmp_path, PREVIOUS_HEAD, SEED, to=THIS_REVISION) as app,
        app.app_context(),
    ):
        [old] = db.session.scalars(select(Reflection)).all()
        assert old.text == "Written before Together" and old.shared is False
        user = db.session.get(User, "u1")
        assert user.thanks_notifications is True and user.partner_did_it_notifications
        assert len(db.session.scalars(select(User)).all()) == 3

        db.session.add_all(link("u1", "u2"))
        db.session.commit()
        # u3 cannot become u1's second partner: u1 already has a row, u2 is taken.
        db.session.add(
            PartnerLink(
                user_id="u3",
                partner_id="u2",
                partner_name="x",
                since=date(2026, 12, 2),
                anchor=date(2026, 12, 2),
            )
        )
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()

        db.session.add(ThankYou(sender_id="u2", receiver_id="u1", day=date(2026, 12, 1), text="Hi"))
        db.session.commit()
        # Deleting u2 (as "Delete everything" does) unlinks both sides and drops the notes.
        db.session.execute(User.__table__.delete().where(User.id == "u2"))
        db.session.commit()
        assert db.session.scalars(select(PartnerLink)).all() == []
        assert db.session.scalars(select(ThankYou)).all() == []
        assert db.session.get(User, "u1") is not None

        db.session.remove()
        downgrade(directory=str(MIGRATIONS), revision=PREVIOUS_HEAD)
        db.session.remove()
        inspector = inspect(db.engine)
        assert not {"partner_links", "thank_yous"} & set(inspector.get_table_names())
        assert "shared" not in {c["name"] for c in inspector.get_columns("reflections")}
        assert db.session.execute(text("SELECT text FROM reflections")).scalar() == (
            "Written before Together"
        )
        db.session.remove()
        upgrade(directory=str(MIGRATIONS), revision="head")

"""The devices-and-codes migration, on SQLite and PostgreSQL: upgrading from the previous head
keeps every row (push subscriptions get no device), removing a device then removes its
subscriptions, an old cookie still opens its practice, and the downgrade gives the old schema
back."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select

from models import Device, PushSubscription, Reflection, db
from tests.conftest import MIGRATIONS, migrated_app

PREVIOUS_HEAD = "3c1a7e9d2b40"

SEED = [
    "INSERT INTO users (id, created_at, time_zone, time_zone_confirmed, first_date, reminder_every,"
    " reminder_unanswered) VALUES ('u1', '2026-11-01 10:00:00', 'UTC', true, '2026-11-01', 1, 0)",
    "INSERT INTO reflections (user_id, day, practice_id, text, created_at, updated_at) VALUES ('u1',"
    " '2026-11-26', 'reflect-1', 'Written before devices', '2026-11-26 08:00:00', '2026-11-26 08:00:00')",
    "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) VALUES ('u1',"
    " 'https://push.example/old', 'k', 'a', '2026-11-02 08:00:00')",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrade_from_the_previous_head_keeps_rows_and_old_cookies(tmp_path, backend):
    # to head: the app below reads the models, which later revisions extend
    with migrated_app(backend, tmp_path, PREVIOUS_HEAD, SEED) as app:
        with app.app_context():
            [old] = db.session.scalars(select(PushSubscription)).all()
            assert old.device_id is None and old.user_id == "u1"
            assert db.session.scalar(select(Reflection.text)) == "Written before devices"
            inspector = inspect(db.engine)
            assert {"devices", "codes"} <= set(inspector.get_table_names())
            unique = inspector.get_unique_constraints("devices") + [
                i for i in inspector.get_indexes("devices") if i["unique"]
            ]
            assert any(u["column_names"] == ["token_hash"] for u in unique)
            db.session.remove()

        # An old cookie naming u1 opens the practice and becomes a device.
        client = app.test_client()
        signer = app.session_interface.get_signing_serializer(app)
        client.set_cookie("closer", signer.dumps({"uid": "u1", "_permanent": True}))
        assert "Written before devices" in client.get("/day/2026-11-26").get_data(as_text=True)

        with app.app_context():
            [device] = db.session.scalars(select(Device)).all()
            db.session.add(
                PushSubscription(
                    user_id="u1",
                    device_id=device.id,
                    endpoint="https://push.example/new",
                    p256dh="k",
                    auth="a",
                )
            )
            db.session.commit()
            db.session.execute(Device.__table__.delete())  # as Remove does: the FK cascades
            db.session.commit()
            endpoints = db.session.scalars(select(PushSubscription.endpoint)).all()
            assert endpoints == ["https://push.example/old"]
            db.session.remove()  # no open transaction may hold a lock the downgrade needs
            downgrade(directory=str(MIGRATIONS), revision=PREVIOUS_HEAD)
            db.session.remove()
            inspector = inspect(db.engine)
            assert "devices" not in inspector.get_table_names()
            columns = {c["name"] for c in inspector.get_columns("push_subscriptions")}
            assert "device_id" not in columns
            upgrade(directory=str(MIGRATIONS), revision="head")

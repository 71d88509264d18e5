"""Data safety: migrations keep data, SQLite backup and restore, a database outage is a
friendly 503 and the app recovers by itself."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from models import Completion, Reflection, User, db
from tests.conftest import (
    MIGRATIONS,
    POSTGRES_BASE_URL,
    POSTGRES_URL,
    make_app,
    migrated_app,
    require_postgres,
)


def first_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_base()


SEED_SQL = [
    "INSERT INTO users (id, created_at, time_zone, time_zone_confirmed, first_date, reminder_every,"
    " reminder_unanswered) VALUES ('u1', '2026-11-01 10:00:00', 'Europe/Berlin', true, '2026-11-01', 1, 0)",
    "INSERT INTO completions (user_id, day, practice_id, done_at) VALUES ('u1', '2026-11-02', 'reflect-1',"
    " '2026-11-02 08:00:00')",
    "INSERT INTO reflections (user_id, day, practice_id, text, created_at, updated_at) VALUES ('u1',"
    " '2026-11-02', 'reflect-1', 'We talked for an hour.', '2026-11-02 08:00:00', '2026-11-02 08:00:00')",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrading_from_the_first_schema_keeps_every_row(tmp_path, backend):
    with migrated_app(backend, tmp_path, first_revision(), SEED_SQL) as app, app.app_context():
        user = db.session.get(User, "u1")
        assert user.time_zone == "Europe/Berlin"
        assert db.session.scalars(select(Completion.practice_id)).all() == ["reflect-1"]
        assert db.session.scalars(select(Reflection.text)).all() == ["We talked for an hour."]
        # head matches the models: every model table and column exists
        inspector = inspect(db.engine)
        for table in db.metadata.sorted_tables:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert {c.name for c in table.columns} <= columns, table.name
        if backend == "postgres":
            # the daily claim's rewrites stay on their page (HOT): see the migration
            options = db.session.scalar(
                text("SELECT reloptions FROM pg_class WHERE oid = 'users'::regclass")
            )
            assert options == ["fillfactor=90"]


def test_models_and_migrations_agree(tmp_path):
    """An autogenerate diff against head is empty: nobody changed a model without a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with migrated_app("sqlite", tmp_path, "head") as app, app.app_context():
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []


def _file_app(tmp_path: Path):
    db_file = tmp_path / "live.db"
    app = make_app(tmp_path, f"sqlite:///{db_file}")
    client = app.test_client()
    client.get("/")
    client.post("/day/2026-11-26/done")
    client.post("/day/2026-11-26/reflection", data={"text": "worth keeping"})
    return app, client, db_file


def test_backup_and_restore_round_trip(tmp_path):
    app, client, db_file = _file_app(tmp_path)
    runner = app.test_cli_runner()
    backup = tmp_path / "backups" / "closer.db"
    result = runner.invoke(args=["db-backup", str(backup)])
    assert result.exit_code == 0, result.output
    assert (backup.stat().st_mode & 0o777) == 0o600
    with sqlite3.connect(backup) as conn:
        assert conn.execute("select text from reflections").fetchall() == [("worth keeping",)]

    # Lose the data, then restore it.
    client.post("/day/2026-11-26/reflection", data={"text": ""})
    client.post("/day/2026-11-26/undo")
    result = runner.invoke(args=["db-restore", str(backup), "--yes"])
    assert result.exit_code == 0, result.output
    assert "worth keeping" in client.get("/progress").get_data(as_text=True)
    assert "Done for today" in client.get("/").get_data(as_text=True)


def test_backup_refuses_to_overwrite_and_non_sqlite(tmp_path):
    app, _, _ = _file_app(tmp_path)
    target = tmp_path / "exists.db"
    target.write_text("keep me")
    result = app.test_cli_runner().invoke(args=["db-backup", str(target)])
    assert result.exit_code != 0 and "exists" in result.output
    assert target.read_text() == "keep me"


def test_restore_refuses_a_corrupt_backup(tmp_path):
    app, client, _ = _file_app(tmp_path)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    result = app.test_cli_runner().invoke(args=["db-restore", str(bad), "--yes"])
    assert result.exit_code != 0
    assert "worth keeping" in client.get("/progress").get_data(as_text=True)


def test_sqlite_connections_use_wal_wait_for_the_writer_and_enforce_foreign_keys(app):
    with app.app_context():
        for _ in range(2):  # every pooled connection, not just the first
            with db.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            db.engine.dispose()


def test_database_outage_is_a_friendly_503_and_recovers(tmp_path):
    """The SQLite file's folder disappears (an unmounted volume), then comes back."""
    folder = tmp_path / "volume"
    folder.mkdir()
    app = make_app(tmp_path, f"sqlite:///{folder / 'closer.db'}")
    client = app.test_client()
    client.get("/")
    moved = tmp_path / "away"
    with app.app_context():
        db.engine.dispose()
    folder.rename(moved)
    for url in ("/", "/progress"):
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 503, url
        assert "trouble reaching our storage" in html and "Traceback" not in html
    response = client.post("/day/2026-11-26/done", headers={"HX-Request": "true"})
    assert response.status_code == 503 and "<html" not in response.get_data(as_text=True)
    moved.rename(folder)
    assert client.get("/").status_code == 200
    assert client.post("/day/2026-11-26/done").status_code == 303


def test_postgres_connections_dropped_under_the_app_recover(tmp_path):
    """The server drops the app's pooled connections (a restart, a failover). Only this
    app's own connections, by their application_name: the `test` database is shared with
    other test runs and services, whose connections must live on."""
    require_postgres()
    name = f"closer-test-{uuid.uuid4().hex[:12]}"
    options = {"connect_args": {"application_name": name}}
    app = make_app(tmp_path, POSTGRES_URL, SQLALCHEMY_ENGINE_OPTIONS=options)
    client = app.test_client()
    # Another client of the same database: it drops the app's connections, and survives.
    bystander = create_engine(POSTGRES_BASE_URL).connect()
    try:
        client.get("/")
        # The app's pool now holds its idle connection.
        terminated = bystander.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": name},
        ).scalar()
        bystander.commit()
        assert terminated >= 1  # the app's pooled connection
        # pool_pre_ping notices the dead connections and opens new ones
        assert client.get("/").status_code == 200
        assert client.post("/day/2026-11-26/done").status_code == 303
        assert bystander.execute(text("SELECT 1")).scalar() == 1  # someone else's lives on
    finally:
        bystander.close()
        bystander.engine.dispose()
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()

"""Database safety commands: `flask db-backup PATH` and `flask db-restore PATH` for SQLite.

Both use SQLite's online backup API, which copies a consistent snapshot page by page while
the app keeps serving (a plain file copy of a WAL database can miss committed pages).
PostgreSQL deployments use pg_dump; these commands refuse anything but SQLite.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy.engine import make_url

from models import db


def sqlite_path() -> Path:
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise click.ClickException("db-backup and db-restore work on a SQLite file database only")
    return Path(url.database)


def copy_database(source: Path, target: Path) -> int:
    """Copy source to target with the online backup API; returns the page count copied."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst, pages=256)
        return dst.execute("PRAGMA page_count").fetchone()[0]


def init_app(app: Flask) -> None:
    @app.cli.command("db-backup")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    def db_backup(path: Path):
        """Write a consistent snapshot of the live SQLite database to PATH."""
        source = sqlite_path()
        if path.exists():
            raise click.ClickException(f"{path} exists; choose a new file for the backup")
        path.parent.mkdir(parents=True, exist_ok=True)
        pages = copy_database(source, path)
        path.chmod(0o600)  # it holds people's reflections
        click.echo(f"backed up {source} to {path} ({pages} pages)")

    @app.cli.command("db-restore")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="Replace the live database without asking.")
    def db_restore(path: Path, yes: bool):
        """Replace the live SQLite database with the backup at PATH."""
        target = sqlite_path()
        with sqlite3.connect(path) as check:
            result = check.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise click.ClickException(f"{path} failed its integrity check: {result}")
        if not yes:
            click.confirm(f"Replace {target} with {path}?", abort=True)
        db.engine.dispose()
        pages = copy_database(path, target)
        click.echo(f"restored {target} from {path} ({pages} pages)")

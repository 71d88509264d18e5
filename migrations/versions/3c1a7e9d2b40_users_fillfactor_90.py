"""users: fillfactor 90 on PostgreSQL

Each day's claim rewrites every due user's row. With full heap pages none of those updates
is HOT, so each one also inserts into both indexes; leaving 10% of each page free lets most
of them stay on their page (measured in bench/findings.md: 42.7 -> 24.9 ms per claim of
1,000). SQLite has no such setting: a no-op there.

Revision ID: 3c1a7e9d2b40
Revises: 10b09cad6104
Create Date: 2026-11-26 03:20:00

"""
from alembic import op


revision = '3c1a7e9d2b40'
down_revision = '10b09cad6104'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # Applies to pages written from now on; existing pages fill up to it as rows move.
        op.execute("ALTER TABLE users SET (fillfactor = 90)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE users RESET (fillfactor)")

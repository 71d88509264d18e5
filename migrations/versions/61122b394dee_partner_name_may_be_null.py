"""partner names: none given is NULL, not the words "Your partner"

A partner who gave no name used to be stored as the literal "Your partner", which then read
with a capital Y mid-sentence ("Share with Your partner"). `partner_links.partner_name`
becomes nullable and every stored "Your partner" (there is no telling it from someone who
typed exactly that) becomes NULL, as does an invite's label of that text; together/names.py
words a missing name for where it stands. The downgrade writes the words back.

Revision ID: 61122b394dee
Revises: 7d41c2e9a5f3
Create Date: 2026-12-07 05:29:29

"""
from alembic import op
import sqlalchemy as sa


revision = '61122b394dee'
down_revision = '7d41c2e9a5f3'
branch_labels = None
depends_on = None

OLD_DEFAULT = "Your partner"


def upgrade():
    # Batch mode: SQLite can change a column's NULL rule only by copying the table. Safe
    # here, unlike for `users`: no table refers to partner_links, so its DROP cascades nowhere.
    with op.batch_alter_table('partner_links', schema=None) as batch_op:
        batch_op.alter_column('partner_name', existing_type=sa.String(length=40), nullable=True)
    op.execute(
        sa.text("UPDATE partner_links SET partner_name = NULL WHERE partner_name IN (:old, '')")
        .bindparams(old=OLD_DEFAULT)
    )
    op.execute(
        sa.text("UPDATE codes SET label = NULL WHERE kind = 'invite' AND label IN (:old, '')")
        .bindparams(old=OLD_DEFAULT)
    )


def downgrade():
    op.execute(
        sa.text("UPDATE partner_links SET partner_name = :old WHERE partner_name IS NULL")
        .bindparams(old=OLD_DEFAULT)
    )
    with op.batch_alter_table('partner_links', schema=None) as batch_op:
        batch_op.alter_column('partner_name', existing_type=sa.String(length=40), nullable=False)

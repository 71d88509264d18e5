"""together: partner links, thank-yous, shared reflections, two notification switches

`partner_links`: one row per person in a couple (user_id is the primary key and partner_id is
unique, so one partner at a time is a database rule); both columns cascade, so deleting
either person unlinks. `thank_yous`: notes between partners, cascading with both people. `partner_notices`: pushes
owed to a partner, each sent once.
`reflections.shared` (off) and `users.thanks_notifications` / `users.partner_did_it_notifications`
(on) get server defaults, so every existing row reads as before: nothing shared, switches on.
Invites need no table: they are rows of `codes` with kind "invite".

Revision ID: 7d41c2e9a5f3
Revises: 26646c19ff3e
Create Date: 2026-12-07 03:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7d41c2e9a5f3'
down_revision = '26646c19ff3e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('partner_links',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('partner_name', sa.String(length=40), nullable=False),
    sa.Column('since', sa.Date(), nullable=False),
    sa.Column('anchor', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id'),
    sa.UniqueConstraint('partner_id')
    )
    op.create_table('thank_yous',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.String(length=32), nullable=False),
    sa.Column('receiver_id', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('text', sa.String(length=140), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['receiver_id'], ['users.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('thank_yous', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_thank_yous_sender_id'), ['sender_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_thank_yous_receiver_id'), ['receiver_id'], unique=False)

    op.create_table('partner_notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receiver_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('once', sa.String(length=80), nullable=False),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['receiver_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('once')
    )
    with op.batch_alter_table('partner_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_notices_sent_at'), ['sent_at'], unique=False)

    # Plain ALTER TABLE ADD COLUMN, not batch mode: on SQLite a batch that decides to copy
    # the table drops the old `users`, and with foreign keys on that DROP cascades to every
    # user's rows. Adding a column with a constant default never needs the copy.
    op.add_column('reflections', sa.Column('shared', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('users', sa.Column('thanks_notifications', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('users', sa.Column('partner_did_it_notifications', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    # Plain DROP COLUMN (SQLite >= 3.35), for the same reason as above.
    op.drop_column('users', 'partner_did_it_notifications')
    op.drop_column('users', 'thanks_notifications')
    op.drop_column('reflections', 'shared')

    with op.batch_alter_table('thank_yous', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_thank_yous_receiver_id'))
        batch_op.drop_index(batch_op.f('ix_thank_yous_sender_id'))

    with op.batch_alter_table('partner_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_notices_sent_at'))

    op.drop_table('partner_notices')
    op.drop_table('thank_yous')
    op.drop_table('partner_links')

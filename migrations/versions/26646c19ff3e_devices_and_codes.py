"""devices and codes: a server-side session per browser, single-use codes, push per device

`devices`: one row per browser signed in to a user; the cookie holds a random token and
the row its SHA-256 (unique index: the one lookup per request). `codes`: every single-use
code a person passes on, hashed: "use on another device" codes now, partner invites
(issue 15) later, hence `kind` and the optional `label`. `push_subscriptions.device_id`:
removing a device removes its reminders (ON DELETE CASCADE); rows from before stay NULL.
No data migration: an existing cookie that still names its user is turned into a device on
its next request (identity.load_user).

Revision ID: 26646c19ff3e
Revises: 3c1a7e9d2b40
Create Date: 2026-12-07 02:30:16.003210

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '26646c19ff3e'
down_revision = '3c1a7e9d2b40'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_codes_user_id'), ['user_id'], unique=False)

    op.create_table('devices',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_devices_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_push_subscriptions_device_id'), ['device_id'], unique=False)
        batch_op.create_foreign_key('fk_push_subscriptions_device_id', 'devices', ['device_id'], ['id'], ondelete='CASCADE')



def downgrade():
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.drop_constraint('fk_push_subscriptions_device_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_push_subscriptions_device_id'))
        batch_op.drop_column('device_id')

    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_devices_user_id'))

    op.drop_table('devices')
    with op.batch_alter_table('codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_codes_user_id'))

    op.drop_table('codes')

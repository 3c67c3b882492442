"""export sync of changed rows: followers.updated_at, sync indexes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 13:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
import gateway.db


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('service_account_followers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', gateway.db.UTCDateTime(), nullable=True))
    # the last change a follower's row has seen so far: its latest follow, unfollow or block
    followers = sa.table('service_account_followers', sa.column('updated_at'), sa.column('followed_at'),
                         sa.column('unfollowed_at'), sa.column('blocked_at'))
    latest = sa.case((followers.c.blocked_at > sa.func.coalesce(followers.c.unfollowed_at, followers.c.followed_at),
                      followers.c.blocked_at),
                     else_=sa.func.coalesce(followers.c.unfollowed_at, followers.c.followed_at))
    op.execute(followers.update().values(updated_at=latest))
    with op.batch_alter_table('service_account_followers', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=gateway.db.UTCDateTime(), nullable=False)
        batch_op.create_index('ix_service_account_followers_account_updated_at',
                              ['service_account_id', 'updated_at', 'id'], unique=False)

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_merchant_id_updated_at', ['merchant_id', 'updated_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_merchant_id_updated_at')

    with op.batch_alter_table('service_account_followers', schema=None) as batch_op:
        batch_op.drop_index('ix_service_account_followers_account_updated_at')
        batch_op.drop_column('updated_at')

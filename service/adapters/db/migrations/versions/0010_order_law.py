"""orders as the law writes them: extensions, ends, the legal history and service records

``orders`` gains ``extensions``, ``ended_at`` and ``superseded_by`` (status: active,
expired, cancelled, superseded, rejected, withdrawn). ``order_versions`` gains
when a version took effect and who made it, why. ``order_events`` is the
append-only legal history (issued, modified, extended, cancelled, superseded,
rejected, withdrawn, expired, served), ``service_records`` who was served when.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extensions', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('superseded_by', sa.String(64), nullable=True))
    with op.batch_alter_table('order_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('effective_from', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('actor_id', sa.String(64), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
    op.create_table(
        'order_events',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('order_id', sa.String(64), nullable=False),
        sa.Column('event', sa.String(16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor_id', sa.String(64), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=True),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events')),
    )
    op.create_index('ix_order_events_order_id', 'order_events', ['order_id'])
    op.create_table(
        'service_records',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('order_id', sa.String(64), nullable=False),
        sa.Column('party', sa.String(16), nullable=False),
        sa.Column('served_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('served_by', sa.String(64), nullable=False),
        sa.Column('method', sa.Text(), nullable=True),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_service_records')),
    )
    op.create_index('ix_service_records_order_id', 'service_records', ['order_id'])


def downgrade() -> None:
    op.drop_index('ix_service_records_order_id', table_name='service_records')
    op.drop_table('service_records')
    op.drop_index('ix_order_events_order_id', table_name='order_events')
    op.drop_table('order_events')
    with op.batch_alter_table('order_versions', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('actor_id')
        batch_op.drop_column('effective_from')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('superseded_by')
        batch_op.drop_column('ended_at')
        batch_op.drop_column('extensions')

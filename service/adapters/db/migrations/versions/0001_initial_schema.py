"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 16:35:48.708859
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('agencies',
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('jurisdiction', sa.JSON(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('agency_id', name=op.f('pk_agencies'))
    )
    op.create_table('alert_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=36), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('message', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_log')),
    sa.UniqueConstraint('alert_id', 'event_seq', name='uq_alert_log_alert_event')
    )
    with op.batch_alter_table('alert_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_log_alert_id'), ['alert_id'], unique=False)

    op.create_table('alerts',
    sa.Column('alert_id', sa.String(length=36), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('zone_id', sa.String(length=64), nullable=True),
    sa.Column('retroactive', sa.Boolean(), nullable=False),
    sa.Column('condition_active', sa.Boolean(), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('recipients', sa.JSON(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_event_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_report_ts', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('alert_id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_status'), ['status'], unique=False)

    op.create_table('location_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('device_ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('acc_m', sa.Float(), nullable=False),
    sa.Column('spd_mps', sa.Float(), nullable=True),
    sa.Column('hdg_deg', sa.Float(), nullable=True),
    sa.Column('batt_pct', sa.SmallInteger(), nullable=True),
    sa.Column('src', sa.String(length=8), nullable=True),
    sa.Column('flags', sa.String(length=200), server_default='', nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location_reports')),
    sa.UniqueConstraint('device_id', 'seq', name='uq_location_reports_device_seq')
    )
    with op.batch_alter_table('location_reports', schema=None) as batch_op:
        batch_op.create_index('ix_location_reports_device_ts', ['device_id', 'device_ts'], unique=False)

    op.create_table('order_parties',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('report_interval_s', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('order_id', 'role', name=op.f('pk_order_parties'))
    )
    with op.batch_alter_table('order_parties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_parties_device_id'), ['device_id'], unique=False)

    op.create_table('order_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_versions')),
    sa.UniqueConstraint('order_id', 'version', name=op.f('uq_order_versions_order_id'))
    )
    op.create_table('orders',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('court_id', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_orders'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('alert_id', sa.String(length=36), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_unsent', ['sent_at', 'priority', 'id'], unique=False)

    op.create_table('panic_presses',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('device_ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('acc_m', sa.Float(), nullable=True),
    sa.Column('silent', sa.Boolean(), nullable=False),
    sa.Column('flags', sa.String(length=200), server_default='', nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_panic_presses')),
    sa.UniqueConstraint('device_id', 'seq', name='uq_panic_presses_device_seq')
    )
    op.create_table('rejected_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('topic', sa.Text(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=True),
    sa.Column('item_index', sa.Integer(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_messages'))
    )
    op.create_table('status_reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('device_ts', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('batt_pct', sa.SmallInteger(), nullable=True),
    sa.Column('charging', sa.Boolean(), nullable=True),
    sa.Column('strap', sa.String(length=8), nullable=True),
    sa.Column('case_state', sa.String(length=8), nullable=True),
    sa.Column('gps', sa.String(length=8), nullable=True),
    sa.Column('flags', sa.String(length=200), server_default='', nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_status_reports')),
    sa.UniqueConstraint('device_id', 'seq', name='uq_status_reports_device_seq')
    )
    op.create_table('zone_membership',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('zone_id', sa.String(length=64), nullable=False),
    sa.Column('inside', sa.Boolean(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('alert_id', sa.String(length=36), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('order_id', 'zone_id', name=op.f('pk_zone_membership'))
    )
    op.create_table('zones',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('zone_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('geometry', sa.JSON(), nullable=False),
    sa.Column('radius_m', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('order_id', 'zone_id', name=op.f('pk_zones'))
    )



def downgrade() -> None:

    op.drop_table('zones')
    op.drop_table('zone_membership')
    op.drop_table('status_reports')
    op.drop_table('rejected_messages')
    op.drop_table('panic_presses')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_unsent')

    op.drop_table('outbox')
    op.drop_table('orders')
    op.drop_table('order_versions')
    with op.batch_alter_table('order_parties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_parties_device_id'))

    op.drop_table('order_parties')
    with op.batch_alter_table('location_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_location_reports_device_ts')

    op.drop_table('location_reports')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_status'))
        batch_op.drop_index(batch_op.f('ix_alerts_order_id'))

    op.drop_table('alerts')
    with op.batch_alter_table('alert_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_log_alert_id'))

    op.drop_table('alert_log')
    op.drop_table('agencies')


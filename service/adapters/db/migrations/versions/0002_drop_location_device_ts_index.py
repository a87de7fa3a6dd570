"""drop the (device_id, device_ts) index of location_reports

Every report paid for a second scattered index on the hot path (~20 us per row
on the reference machine). The latest fix of a device is found through the
unique (device_id, seq) index instead: seq is the device's own order.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 17:40:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('location_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_location_reports_device_ts')


def downgrade() -> None:
    with op.batch_alter_table('location_reports', schema=None) as batch_op:
        batch_op.create_index('ix_location_reports_device_ts', ['device_id', 'device_ts'], unique=False)

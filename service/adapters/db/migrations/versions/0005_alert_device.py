"""alerts name the device a device-health alert is about

``strap_tamper``, ``case_tamper``, ``battery_low``, ``signal_lost`` and
``location_lost`` are about one device of the order (the respondent's tracker or
the victim's phone); the column lets a restart find the open condition again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 20:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('device_id')

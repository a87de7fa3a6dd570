"""zone membership keeps the warning ring and the run of possible checks

The geofence engine's per-zone state grew two fields (``geofence.engine.ZoneState``):
``warned`` (a pre-alert episode is open) and ``possibles`` (possible checks in a
row), so a restart neither repeats a pre-alert nor forgets a run of uncertain fixes.
The moving zone around the victim is kept here too, under the zone id ``@victim``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 19:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('zone_membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warned', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('possibles', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('zone_membership', schema=None) as batch_op:
        batch_op.drop_column('possibles')
        batch_op.drop_column('warned')

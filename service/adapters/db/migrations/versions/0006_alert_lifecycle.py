"""alerts keep who handled them and their escalation clock

``alerts.lifecycle`` (acknowledged, dispatched, on scene, resolved with an outcome) and
``alerts.escalation`` (the policy copied onto the alert when raised, the steps taken, the
next deadline): the clock survives restarts because it lives here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 20:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by', sa.String(100), nullable=True))
        batch_op.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('on_scene_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolved_by', sa.String(100), nullable=True))
        batch_op.add_column(sa.Column('outcome', sa.String(32), nullable=True))
        batch_op.add_column(sa.Column('escalation', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('escalation_level', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_escalation_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        for name in ('next_escalation_at', 'escalation_level', 'escalation', 'outcome', 'resolved_by', 'resolved_at',
                     'on_scene_at', 'dispatched_at', 'acknowledged_by', 'acknowledged_at'):
            batch_op.drop_column(name)

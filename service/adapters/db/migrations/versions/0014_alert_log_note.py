"""the officer's note with each step on an alert, kept in the append-only alert log

Until now a step's note was required (a resolution says what happened) but kept nowhere.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 21:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alert_log', schema=None) as batch_op:
        batch_op.drop_column('note')

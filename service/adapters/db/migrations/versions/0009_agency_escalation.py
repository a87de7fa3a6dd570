"""agencies carry their own escalation policy and the agencies an alert escalates to

``escalation``: steps per alert kind or severity (``alerts.escalation``), used for
alerts this agency must handle; ``escalate_to``: the agency ids a ``next_agency``
step adds as recipients (the supervising bureau, the court's duty office).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 18:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('escalate_to', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_column('escalate_to')
        batch_op.drop_column('escalation')

"""orders keep the warnings of their set-up checks

``service.domain.setup_checks`` runs when an order is imported (respondent's home in
a zone, a moving zone under 350 m, overlapping zones); the warnings are stored with
the order so the enforcement team sees them, not only whoever ran the import.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 19:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('warnings')

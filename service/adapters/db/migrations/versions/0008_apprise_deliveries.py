"""a delivery is for a webhook or for an agency's Apprise URLs; an attempt names its target

Apprise deliveries (SMS, e-mail, chat) share the webhook tables: same durability,
same receipts. ``channel`` tells them apart; ``target`` is the service an Apprise
attempt went to, with its secrets masked (webhook attempts leave it empty).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 18:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(16), nullable=False, server_default='webhook'))
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('target', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_column('target')
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_column('channel')

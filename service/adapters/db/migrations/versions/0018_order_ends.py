"""ends of an order announced, the grace after an end (issue 13, items 2, 3 and 5)

``orders.grace_until``: after an order's end (expiry, cancellation, supersession, rejection,
withdrawal), until when her panic still reaches police (``service.domain.ends``). Orders that ended
before this revision get none: their grace, had it existed, is over or unknown.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 13:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("grace_until")

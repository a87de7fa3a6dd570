"""the response clock belongs to the agency that must act (issue 13, item 4)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 13:30:00
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""legal profiles and the court's decision dates (issue 13, items 1 and 6)

``agencies.legal_profile``: a court's legal profile (``service.domain.profiles``: ``prc-advl-2016``, the
law in force, or ``expert-draft``); null: the deployment's ``STAYAWAY_LEGAL_PROFILE``. Stored orders are
not changed: one that breaks its court's term is flagged to the court (``term_flagged``) when serve
starts or orders or agencies are imported. Decision dates, reconsiderations and their outcomes are
entries of ``order_events`` (details) and ``order_versions.effective_from``, which exist already.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 13:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_profile', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_column('legal_profile')

"""officer accounts (Argon2, TOTP), sessions, API tokens, and the access audit

Tokens and session ids are stored only as SHA-256 hashes. ``access_audit`` is
append-only: sign-ins (success and failure), sign-outs, permission changes,
exports and every read of victim data, with who, what, when (UTC), from where
and why; the failures in it drive the lockout.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 19:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'accounts',
        sa.Column('account_id', sa.String(64), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('agency_id', sa.String(64), nullable=True),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('totp_secret', sa.String(64), nullable=False),
        sa.Column('totp_last_step', sa.BigInteger(), nullable=False, server_default='0'),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('account_id', name=op.f('pk_accounts')),
    )
    op.create_table(
        'sessions',
        sa.Column('token_hash', sa.String(64), nullable=False),
        sa.Column('account_id', sa.String(64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('from_addr', sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_sessions')),
    )
    op.create_index('ix_sessions_account_id', 'sessions', ['account_id'])
    op.create_table(
        'api_tokens',
        sa.Column('token_hash', sa.String(64), nullable=False),
        sa.Column('name', sa.String(64), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('agency_id', sa.String(64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    )
    op.create_table(
        'access_audit',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(64), nullable=False),
        sa.Column('role', sa.String(16), nullable=True),
        sa.Column('action', sa.String(32), nullable=False),
        sa.Column('object_type', sa.String(32), nullable=True),
        sa.Column('object_id', sa.String(80), nullable=True),
        sa.Column('from_addr', sa.String(64), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('outcome', sa.String(16), nullable=False),
        sa.Column('details', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_access_audit')),
    )
    op.create_index('ix_access_audit_actor_action_at', 'access_audit', ['actor', 'action', 'at'])


def downgrade() -> None:
    op.drop_index('ix_access_audit_actor_action_at', table_name='access_audit')
    op.drop_table('access_audit')
    op.drop_table('api_tokens')
    op.drop_index('ix_sessions_account_id', table_name='sessions')
    op.drop_table('sessions')
    op.drop_table('accounts')

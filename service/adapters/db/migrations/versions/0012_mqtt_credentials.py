"""per-device and per-agency MQTT credentials (``stayaway mqtt credentials``)

Only Mosquitto's own hash of each password is kept (PBKDF2-SHA512, its ``$7$``
format), so the password file can be written again without knowing them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 20:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mqtt_credentials',
        sa.Column('username', sa.String(64), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_mqtt_credentials')),
    )


def downgrade() -> None:
    op.drop_table('mqtt_credentials')

"""the response clock belongs to the agency that must act (issue 13, item 4)

``alerts`` gain ``owner`` (the agency whose officers' steps move the alert's status and clock: the police
agency that must respond), ``response`` (the owner's dispatch and on-scene deadlines in seconds after its
acknowledgement, copied at raise), ``dispatch_due_at`` and ``on_scene_due_at`` (set when the owner
acknowledges) and ``missed`` ([[deadline, agency_id], ...]). ``agencies`` gain ``response``
({"dispatch_s": ..., "on_scene_s": ...}, from the agencies file).

Stored data from before: each alert's owner is its first police recipient (routing puts police first),
else its first recipient; an alert whose log holds an ``escalated`` event missed its acknowledgement
deadline (before this revision only an unacknowledged alert escalated), recorded against that owner.
Alerts raised before keep no response deadlines (nothing was copied onto them when they were raised).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 13:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

alerts = sa.table('alerts', sa.column('alert_id', sa.String), sa.column('recipients', sa.JSON),
                  sa.column('owner', sa.String), sa.column('missed', sa.JSON))
agencies = sa.table('agencies', sa.column('agency_id', sa.String), sa.column('kind', sa.String))
alert_log = sa.table('alert_log', sa.column('alert_id', sa.String), sa.column('event', sa.String))


def upgrade() -> None:
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column('response', sa.JSON(), nullable=True))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owner', sa.String(64), nullable=True))
        batch_op.add_column(sa.Column('response', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('dispatch_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('on_scene_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('missed', sa.JSON(), nullable=True))
    conn = op.get_bind()
    police = {a for a, kind in conn.execute(sa.select(agencies.c.agency_id, agencies.c.kind)) if kind == 'police'}
    escalated = set(conn.execute(sa.select(alert_log.c.alert_id).where(alert_log.c.event == 'escalated')
                                 .distinct()).scalars())
    rows = conn.execute(sa.select(alerts.c.alert_id, alerts.c.recipients)).all()
    updates = []
    for alert_id, recipients in rows:
        recipients = list(recipients or [])
        owner = next((r for r in recipients if r in police), recipients[0] if recipients else None)
        missed = [['acknowledge', owner or '']] if alert_id in escalated else None
        updates.append({'id': alert_id, 'o': owner, 'm': missed})
    stmt = sa.update(alerts).where(alerts.c.alert_id == sa.bindparam('id')).values(
        owner=sa.bindparam('o'), missed=sa.bindparam('m'))
    for i in range(0, len(updates), 1000):
        conn.execute(stmt, updates[i:i + 1000])


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        for name in ('missed', 'on_scene_due_at', 'dispatch_due_at', 'response', 'owner'):
            batch_op.drop_column(name)
    with op.batch_alter_table('agencies', schema=None) as batch_op:
        batch_op.drop_column('response')

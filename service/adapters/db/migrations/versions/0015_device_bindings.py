"""a device and an OwnTracks topic belong to one holder at a time (issue 12, finding 3)

``device_bindings`` holds, per device id and per OwnTracks topic, who may name it now: one person,
in one role, in one court's orders (``service.adapters.db.bindings_repo.bind``). ``order_parties``
gains the party's ``owntracks_topic`` (copied from the order bodies).

Stored data from before: for every order in force (the first entered first), each device and topic
its parties name is bound to it unless another holder has it already. Such a clash (another court's
order naming her phone, from before this revision) does not stop the migration: both orders are kept
and monitored as they were; the first entered holds it, each order's legal history gets a
``device_conflict`` entry (without the other order), and a WARNING names both orders for the admin,
who resolves it by having one court release or replace the device (``POST .../release-device``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 10:00:00
"""
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

log = logging.getLogger("stayaway.migrations")

orders = sa.table('orders', sa.column('order_id', sa.String), sa.column('court_id', sa.String),
                  sa.column('status', sa.String), sa.column('body', sa.JSON))
parties = sa.table('order_parties', sa.column('order_id', sa.String), sa.column('role', sa.String),
                   sa.column('person_id', sa.String), sa.column('device_id', sa.String),
                   sa.column('owntracks_topic', sa.String))
versions = sa.table('order_versions', sa.column('order_id', sa.String), sa.column('recorded_at', sa.DateTime))
events = sa.table('order_events', sa.column('order_id', sa.String), sa.column('event', sa.String),
                  sa.column('at', sa.DateTime), sa.column('actor_id', sa.String), sa.column('role', sa.String),
                  sa.column('reason', sa.Text), sa.column('details', sa.JSON))


def upgrade() -> None:
    with op.batch_alter_table('order_parties', schema=None) as batch_op:
        batch_op.add_column(sa.Column('owntracks_topic', sa.String(140), nullable=True))
        batch_op.create_index(batch_op.f('ix_order_parties_owntracks_topic'), ['owntracks_topic'], unique=False)
    bindings = op.create_table(
        'device_bindings',
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('ident', sa.String(140), nullable=False),
        sa.Column('court_id', sa.String(64), nullable=False),
        sa.Column('role', sa.String(16), nullable=False),
        sa.Column('person_id', sa.String(64), nullable=False),
        sa.Column('device_id', sa.String(64), nullable=False),
        sa.Column('bound_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('successor', sa.String(64), nullable=True),
        sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('kind', 'ident', name=op.f('pk_device_bindings')),
    )
    conn = op.get_bind()
    now = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # stored naive UTC there, as schema.UtcDateTime does
    for order_id, body in conn.execute(sa.select(orders.c.order_id, orders.c.body)):
        for role in ("respondent", "victim"):
            party = body.get(role) if isinstance(body, dict) else None
            topic = party.get("owntracks_topic") if isinstance(party, dict) else None
            if isinstance(topic, str):
                conn.execute(sa.update(parties).where(parties.c.order_id == order_id, parties.c.role == role)
                             .values(owntracks_topic=topic[:140]))
    first = sa.select(versions.c.order_id, sa.func.min(versions.c.recorded_at).label("first")) \
        .group_by(versions.c.order_id).subquery()
    rows = conn.execute(
        sa.select(orders.c.order_id, orders.c.court_id, parties.c.role, parties.c.person_id, parties.c.device_id,
                  parties.c.owntracks_topic)
        .join(parties, parties.c.order_id == orders.c.order_id)
        .outerjoin(first, first.c.order_id == orders.c.order_id)
        .where(orders.c.status == "active")
        .order_by(first.c.first, orders.c.order_id, parties.c.role)).all()
    held: dict[tuple[str, str], tuple[tuple[str, str, str, str], str]] = {}  # (kind, ident) -> (holder, order)
    clashes: list[tuple[str, str, str, str]] = []  # (order, role, kind, ident)
    for r in rows:
        if not r.device_id:
            continue
        for kind, ident in (("device", r.device_id), ("owntracks", r.owntracks_topic)):
            if not ident:
                continue
            holder = (r.court_id, r.role, r.person_id, r.device_id)
            if (kind, ident) not in held:
                held[(kind, ident)] = (holder, r.order_id)
                conn.execute(sa.insert(bindings).values(
                    kind=kind, ident=ident, court_id=r.court_id, role=r.role, person_id=r.person_id,
                    device_id=r.device_id, bound_at=now))
                continue
            other_holder, other_order = held[(kind, ident)]
            same = other_holder == holder if kind == "owntracks" else other_holder[:3] == holder[:3]
            if same:
                continue  # one person's device in one court's orders: shared, as it may be
            log.warning("orders %s and %s both name the %s %s for different holders: %s keeps it, %s is flagged "
                        "(device_conflict in both orders' history); have one court release or replace it",
                        other_order, r.order_id, "device" if kind == "device" else "OwnTracks topic", ident,
                        other_order, r.order_id)
            clashes += [(other_order, other_holder[1], kind, ident), (r.order_id, r.role, kind, ident)]
    for order_id, role, kind, ident in dict.fromkeys(clashes):
        what = "device" if kind == "device" else "owntracks_topic"
        conn.execute(sa.insert(events).values(
            order_id=order_id, event="device_conflict", at=now, actor_id="system", role="system",
            reason="another order in force named the same " + ("device" if kind == "device" else "OwnTracks topic")
                   + " before device bindings existed; one court must release or replace it",
            details={"role": role, "what": what, ("device_id" if kind == "device" else "owntracks_topic"): ident}))


def downgrade() -> None:
    op.drop_table('device_bindings')
    with op.batch_alter_table('order_parties', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_parties_owntracks_topic'))
        batch_op.drop_column('owntracks_topic')

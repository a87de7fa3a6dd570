"""The retention policy (``stayaway retention apply``): what is deleted, and when.

An order's case data is kept for ``STAYAWAY_RETENTION_DAYS`` (default 1825, five years) after the
order ended (expired, cancelled, superseded, rejected, withdrawn) and its grace ran out (a decision
back-dated to before it was entered counts from then), and never while one of its alerts is unresolved. Then, in one transaction:

- its alerts, their log, outbox rows and outside-channel deliveries, and its zone membership;
- its devices' location, status and panic reports from the periods each device stood for one of its
  parties (``timeline_repo.device_periods``: a replaced tracker's too), except where the device
  served another order at that time whose data is still kept;
- its zones and the bodies of its versions (they hold the victim's places): the order keeps its
  id, type, court, dates, status and legal history, and the history records the purge.

Rejected messages, and the notices of orders (to agencies and her phone), are kept
``STAYAWAY_RETENTION_DAYS`` after they arrived or were written. The access audit is kept
``STAYAWAY_AUDIT_RETENTION_DAYS`` (default 1825, never less than 365: the rule is at least a year).
Orders in force are never touched. ``--dry-run`` counts without deleting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from service.adapters.db import history_repo, timeline_repo
from service.adapters.db import schema as t
from service.domain import law

MIN_AUDIT_DAYS = 365
REPORT_TABLES = (t.location_reports, t.status_reports, t.panic_presses)


@dataclass
class Purge:
    orders: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, n: int) -> None:
        self.deleted[table] = self.deleted.get(table, 0) + max(0, n)


def windows_without(window: tuple[datetime, datetime], kept: list[tuple[datetime, datetime]]
                    ) -> list[tuple[datetime, datetime]]:
    """``window`` minus the ``kept`` intervals (pure): the periods whose reports may go."""
    parts = [window]
    for k0, k1 in kept:
        nxt = []
        for a, b in parts:
            if k1 <= a or k0 >= b:
                nxt.append((a, b))
                continue
            if a < k0:
                nxt.append((a, k0))
            if k1 < b:
                nxt.append((k1, b))
        parts = nxt
    return parts


def apply(engine: Engine, clock: Callable[[], datetime], retention_days: int, audit_days: int,
          dry_run: bool = False) -> Purge:
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    audit_days = max(audit_days, MIN_AUDIT_DAYS)
    out = Purge()
    with engine.begin() as conn:
        now = clock()
        cutoff = now - timedelta(days=retention_days)
        rows = conn.execute(sa.select(t.orders.c.order_id, t.orders.c.status, t.orders.c.issued_at, t.orders.c.ended_at,
                                      t.orders.c.expires_at, t.orders.c.body, t.orders.c.grace_until)).all()
        purged_before = {r.order_id for r in rows if isinstance(r.body, dict) and r.body.get("purged_at")}
        unresolved = set(conn.execute(sa.select(t.alerts.c.order_id).where(
            t.alerts.c.status != "resolved").distinct()).scalars())
        # kept while enforced (its grace: a back-dated end counts from when it stopped being enforced) and
        # while any of its alerts is still being handled
        due = sorted(r.order_id for r in rows if r.status != law.OrderStatus.ACTIVE.value and r.ended_at is not None
                     and _utc(timeline_repo.enforced_until(r)) <= cutoff and r.order_id not in purged_before
                     and r.order_id not in unresolved)
        periods = timeline_repo.device_periods(conn)  # when each device stood for each order's parties
        kept = [p for oid, ps in periods.items() if oid not in due and oid not in purged_before for p in ps]
        for order_id in due:
            out.orders.append(order_id)
            _purge_alerts(conn, order_id, out, dry_run)
            for p in periods.get(order_id, []):
                still = [(k.start, k.end or now) for k in kept if k.device_id == p.device_id]
                for a, b in windows_without((p.start, p.end or now), still):
                    for table in REPORT_TABLES:
                        where = sa.and_(table.c.device_id == p.device_id, table.c.device_ts >= a,
                                        table.c.device_ts < b)
                        out.add(table.name, _delete(conn, table, where, dry_run))
            out.add("zones", _delete(conn, t.zones, t.zones.c.order_id == order_id, dry_run))
            if not dry_run:
                conn.execute(sa.update(t.order_versions).where(t.order_versions.c.order_id == order_id)
                             .values(body={"purged_at": now.isoformat()}))
                conn.execute(sa.update(t.orders).where(t.orders.c.order_id == order_id)
                             .values(body={"order_id": order_id, "purged_at": now.isoformat()}, updated_at=now))
                history_repo.add_order_event(conn, law.LegalEvent(order_id, "purged", now, "system", "system",
                                                                 f"retention: {retention_days} days after it ended"))
        out.add(t.rejected_messages.name, _delete(conn, t.rejected_messages, t.rejected_messages.c.received_at < cutoff,
                                                  dry_run))
        # notices (to agencies and her phone: reminders, ends, changes) are kept as long as rejections
        out.add("outbox", _delete(conn, t.outbox, sa.and_(t.outbox.c.topic.like("%/notices"),
                                                          t.outbox.c.created_at < cutoff), dry_run))
        out.add(t.access_audit.name, _delete(conn, t.access_audit,
                                             t.access_audit.c.at < now - timedelta(days=audit_days), dry_run))
    return out


def _purge_alerts(conn: Connection, order_id: str, out: Purge, dry_run: bool) -> None:
    ids = [a for (a,) in conn.execute(sa.select(t.alerts.c.alert_id).where(t.alerts.c.order_id == order_id))]
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        events = [f"{a}:%" for a in chunk]
        deliveries = sa.or_(*[t.webhook_deliveries.c.event_id.like(e) for e in events])
        dids = [d for (d,) in conn.execute(sa.select(t.webhook_deliveries.c.id).where(deliveries))]
        if dids:
            out.add("webhook_attempts", _delete(conn, t.webhook_attempts, t.webhook_attempts.c.delivery_id.in_(dids),
                                                dry_run))
            out.add("webhook_deliveries", _delete(conn, t.webhook_deliveries, t.webhook_deliveries.c.id.in_(dids),
                                                  dry_run))
        out.add("alert_log", _delete(conn, t.alert_log, t.alert_log.c.alert_id.in_(chunk), dry_run))
        out.add("outbox", _delete(conn, t.outbox, t.outbox.c.alert_id.in_(chunk), dry_run))
        out.add("alerts", _delete(conn, t.alerts, t.alerts.c.alert_id.in_(chunk), dry_run))
    out.add("zone_membership", _delete(conn, t.zone_membership, t.zone_membership.c.order_id == order_id, dry_run))


def _delete(conn: Connection, table: sa.Table, where: sa.ColumnElement[bool], dry_run: bool) -> int:
    if dry_run:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(where)).scalar_one())
    return int(conn.execute(sa.delete(table).where(where)).rowcount or 0)


def _utc(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value

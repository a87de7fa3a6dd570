"""Agencies and orders: import (upsert with version history) and load."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts.routing import Agency
from service.adapters.db import schema as t
from service.adapters.db.upsert import upsert
from service.domain import law
from service.domain.monitor import MOVING_ZONE_ID
from service.domain.orders import OrderSpec, parse_order
from service.errors import InvalidInput

log = logging.getLogger(__name__)


def save_agencies(conn: Connection, agencies: Iterable[Agency], now: datetime) -> int:
    rows = [
        {"agency_id": a.agency_id, "name": a.name, "kind": a.kind, "jurisdiction": a.jurisdiction,
         "webhook_url": a.webhook_url, "escalation": dict(a.escalation) if a.escalation else None,
         "escalate_to": list(a.escalate_to) or None, "updated_at": now}
        for a in agencies
    ]
    if rows:
        upsert(conn, t.agencies, rows, ["agency_id"])
    return len(rows)


def load_agencies(conn: Connection) -> list[Agency]:
    rows = conn.execute(sa.select(t.agencies).order_by(t.agencies.c.agency_id)).mappings()
    return [Agency(r["agency_id"], r["name"], r["kind"], r["jurisdiction"], r["webhook_url"], r["escalation"] or None,
                   tuple(r["escalate_to"] or ())) for r in rows]


def agency_webhooks(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(sa.select(t.agencies.c.agency_id, t.agencies.c.webhook_url)
                             .where(t.agencies.c.webhook_url.is_not(None))).all())


def agency_kinds(conn: Connection) -> dict[str, str]:
    return dict(conn.execute(sa.select(t.agencies.c.agency_id, t.agencies.c.kind)).all())


def save_order(conn: Connection, spec: OrderSpec, source: str, now: datetime,
               warnings: list[dict[str, Any]] | None = None, actor: law.Actor | None = None,
               reason: str | None = None) -> int:
    """Insert or replace an order; every new body is kept as a new version (taking effect ``now``) and
    an ``issued`` or ``modified`` entry in its legal history. An order that has ended is not revived:
    InvalidInput. Returns the version."""
    current = conn.execute(
        sa.select(t.orders.c.version, t.orders.c.body, t.orders.c.status).where(t.orders.c.order_id == spec.order_id)
    ).first()
    if current is not None and current.status != law.OrderStatus.ACTIVE.value:
        raise InvalidInput(f"order {spec.order_id} has ended ({current.status}); a new order needs a new order_id",
                           "order_id")
    _check_devices(conn, spec)
    if current is not None and current.body == spec.body:
        conn.execute(sa.update(t.orders).where(t.orders.c.order_id == spec.order_id).values(warnings=warnings or None))
        return int(current.version)
    version = 1 if current is None else int(current.version) + 1
    who = actor or law.Actor(f"import:{source}"[:64], "court")
    conn.execute(sa.insert(t.order_versions).values(
        order_id=spec.order_id, version=version, body=spec.body, source=source, recorded_at=now, effective_from=now,
        actor_id=who.actor_id, reason=reason))
    event = "issued" if current is None else "modified"
    add_order_event(conn, law.LegalEvent(spec.order_id, event, now, who.actor_id, who.role,
                                         reason if reason is not None else (f"imported from {source}" if actor is None
                                                                            else None)), version)
    upsert(conn, t.orders, [{
        "order_id": spec.order_id, "type": spec.type, "court_id": spec.court_id, "issued_at": spec.issued_at,
        "expires_at": spec.expires_at, "status": "active", "version": version, "body": spec.body, "updated_at": now,
        "warnings": warnings or None,
    }], ["order_id"])
    conn.execute(sa.delete(t.order_parties).where(t.order_parties.c.order_id == spec.order_id))
    conn.execute(sa.insert(t.order_parties), [
        {"order_id": spec.order_id, "role": p.role, "person_id": p.person_id, "device_id": p.device_id,
         "report_interval_s": p.report_interval_s} for p in spec.parties()
    ])
    conn.execute(sa.delete(t.zones).where(t.zones.c.order_id == spec.order_id))
    if spec.zones:
        conn.execute(sa.insert(t.zones), [
            {"order_id": spec.order_id, "zone_id": z.zone_id, "kind": z.kind, "name": z.name,
             "geometry": z.geometry, "radius_m": z.radius_m} for z in spec.zones
        ])
    kept = [z.zone_id for z in spec.zones] + [MOVING_ZONE_ID]  # the moving zone's state is kept across versions
    conn.execute(sa.delete(t.zone_membership).where(
        t.zone_membership.c.order_id == spec.order_id, t.zone_membership.c.zone_id.not_in(kept)))
    return version


def _check_devices(conn: Connection, spec: OrderSpec) -> None:
    """A device stands for one person: refuse one enrolled in another order in force for someone else (a
    respondent with two orders may wear one tracker), and one named like an agency (broker accounts)."""
    agencies = set(agency_kinds(conn))
    for party in spec.parties():
        device = party.device_id
        if device is None:
            continue
        if device in agencies:
            raise InvalidInput(f"device_id {device} is an agency's id", f"{party.role}.device_id")
        p = t.order_parties.c
        others = conn.execute(
            sa.select(p.person_id, p.role).join(t.orders, t.orders.c.order_id == p.order_id)
            .where(p.device_id == device, p.order_id != spec.order_id, t.orders.c.status == "active")).all()
        if any(o.person_id != party.person_id or o.role != party.role for o in others):
            raise InvalidInput(f"device {device} is enrolled in another order in force for another person",
                               f"{party.role}.device_id")


def add_order_event(conn: Connection, event: law.LegalEvent, version: int | None = None) -> None:
    conn.execute(sa.insert(t.order_events).values(
        order_id=event.order_id, event=event.event, at=event.at, actor_id=event.actor_id, role=event.role,
        reason=event.reason, version=version, details=_jsonable(event.details) or None))


def load_standing(conn: Connection, order_id: str) -> law.Standing | None:
    r = conn.execute(sa.select(t.orders).where(t.orders.c.order_id == order_id)).mappings().first()
    if r is None:
        return None
    return law.Standing(r["order_id"], r["type"], r["court_id"], r["issued_at"], r["expires_at"],
                        law.OrderStatus(r["status"]), r["extensions"], r["ended_at"], r["superseded_by"])


def save_standing(conn: Connection, standing: law.Standing, now: datetime) -> None:
    """The order's legal state; ``updated_at`` moves, so a running serve picks the change up."""
    conn.execute(sa.update(t.orders).where(t.orders.c.order_id == standing.order_id).values(
        status=standing.status.value, expires_at=standing.expires_at, extensions=standing.extensions,
        ended_at=standing.ended_at, superseded_by=standing.superseded_by, updated_at=now))


def end_order(conn: Connection, order_id: str, status: str, now: datetime) -> None:
    """The order's time is up (or it ended otherwise): no longer monitored."""
    current = load_standing(conn, order_id)
    if current is None or current.status != law.OrderStatus.ACTIVE:
        return
    ended_at = current.expires_at if status == "expired" and current.expires_at is not None else now
    conn.execute(sa.update(t.orders).where(t.orders.c.order_id == order_id).values(
        status=status, ended_at=ended_at, updated_at=now))


def noticed_orders(conn: Connection, order_ids: Iterable[str] | None, event: str) -> set[str]:
    q = sa.select(t.order_events.c.order_id).where(t.order_events.c.event == event).distinct()
    if order_ids is not None:
        q = q.where(t.order_events.c.order_id.in_(list(order_ids)))
    return set(conn.execute(q).scalars())


MAX_EARLIER_VERSIONS = 20  # kept in memory per order for late reports: older ones are history only


def version_timelines(conn: Connection, order_ids: Iterable[str]) -> dict[str, tuple[list[tuple[datetime, OrderSpec]],
                                                                                      datetime | None]]:
    """Per order: its earlier versions (when each took effect, parsed; at most MAX_EARLIER_VERSIONS, the
    newest) and when the current version took effect."""
    ids = list(order_ids)
    if not ids:
        return {}
    c = t.order_versions.c
    q = sa.select(c.order_id, c.version, c.body, sa.func.coalesce(c.effective_from, c.recorded_at).label("eff")) \
        .where(c.order_id.in_(ids)).order_by(c.order_id, c.version)
    rows: dict[str, list[Any]] = {}
    for r in conn.execute(q):
        rows.setdefault(r.order_id, []).append(r)
    out: dict[str, tuple[list[tuple[datetime, OrderSpec]], datetime | None]] = {}
    for order_id, versions in rows.items():
        earlier = []
        for r in versions[:-1][-MAX_EARLIER_VERSIONS:]:
            try:
                earlier.append((_utc(r.eff), parse_order(r.body)))
            except InvalidInput:
                log.warning("order %s version %s does not parse; late reports use the next one", order_id, r.version)
        out[order_id] = (earlier, _utc(versions[-1].eff))
    return out


def order_history(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    c = t.order_events.c
    q = sa.select(c.event, c.at, c.actor_id, c.role, c.reason, c.version, c.details).where(c.order_id == order_id)
    return [dict(r) for r in conn.execute(q.order_by(c.id)).mappings()]


def order_versions(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    c = t.order_versions.c
    q = sa.select(c.version, c.body, c.source, c.recorded_at, c.effective_from, c.actor_id, c.reason) \
        .where(c.order_id == order_id).order_by(c.version)
    return [dict(r) for r in conn.execute(q).mappings()]


def add_service_record(conn: Connection, order_id: str, party: str, served_at: datetime, served_by: str,
                       method: str | None, now: datetime) -> None:
    conn.execute(sa.insert(t.service_records).values(order_id=order_id, party=party, served_at=served_at,
                                                     served_by=served_by, method=method, recorded_at=now))
    conn.execute(sa.update(t.orders).where(t.orders.c.order_id == order_id).values(updated_at=now))


def service_records(conn: Connection, order_ids: Iterable[str] | None = None) -> dict[str, dict[str, datetime]]:
    """order id -> party -> when first served."""
    c = t.service_records.c
    q = sa.select(c.order_id, c.party, sa.func.min(c.served_at)).group_by(c.order_id, c.party)
    if order_ids is not None:
        q = q.where(c.order_id.in_(list(order_ids)))
    out: dict[str, dict[str, datetime]] = {}
    for order_id, party, served_at in conn.execute(q):
        out.setdefault(order_id, {})[party] = _utc(served_at)
    return out


def _utc(value: Any) -> Any:
    from datetime import UTC

    if isinstance(value, datetime) and value.tzinfo is None:  # SQLite's MIN() returns the stored text's value
        return value.replace(tzinfo=UTC)
    return value


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    from service.wire.rfc3339 import format_ts

    return {k: format_ts(v) if isinstance(v, datetime) else v for k, v in details.items()}


def load_orders(conn: Connection, order_ids: Iterable[str] | None = None) -> list[OrderSpec]:
    """Active orders. One that no longer parses is logged and skipped; the others load."""
    q = sa.select(t.orders.c.order_id, t.orders.c.body).where(t.orders.c.status == "active").order_by(t.orders.c.order_id)
    if order_ids is not None:
        q = q.where(t.orders.c.order_id.in_(list(order_ids)))
    specs = []
    for order_id, body in conn.execute(q):
        try:
            specs.append(parse_order(body))
        except InvalidInput as exc:
            log.error("stored order %s does not parse and is NOT monitored: %s (field %s)", order_id, exc, exc.field)
    return specs


def changed_since(conn: Connection, since: datetime | None) -> tuple[list[str], bool, datetime | None]:
    """Order ids updated after ``since``, whether agencies changed, and the newest stamp seen."""
    stamp_o = conn.execute(sa.select(sa.func.max(t.orders.c.updated_at))).scalar()
    stamp_a = conn.execute(sa.select(sa.func.max(t.agencies.c.updated_at))).scalar()
    newest = max([s for s in (stamp_o, stamp_a) if s is not None], default=None)
    if since is None:
        return [], False, newest
    ids = [r for (r,) in conn.execute(sa.select(t.orders.c.order_id).where(t.orders.c.updated_at > since))]
    return ids, stamp_a is not None and stamp_a > since, newest


def order_rows(conn: Connection) -> list[dict[str, Any]]:
    q = sa.select(t.orders.c.order_id, t.orders.c.type, t.orders.c.court_id, t.orders.c.issued_at,
                  t.orders.c.expires_at, t.orders.c.status, t.orders.c.version).order_by(t.orders.c.order_id)
    return [dict(r) for r in conn.execute(q).mappings()]

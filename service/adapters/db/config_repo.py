"""Orders: import (upsert with version history) and load.

The order's other records are by subject: ``agencies_repo`` (agencies), ``bindings_repo`` (a device or
OwnTracks topic stands for one holder at a time), ``standing_repo`` (its legal state and end),
``history_repo`` (its legal history, versions and service records). Their functions that callers reach as
``config_repo.X`` are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import protection_repo
from service.adapters.db import schema as t
from service.adapters.db.bindings_repo import (
    bind,
    holders_of,
    let_go,
    stored_holders,
)
from service.adapters.db.history_repo import (
    add_order_event,
)
from service.adapters.db.upsert import upsert
from service.domain import law
from service.domain.monitoring import MOVING_ZONE_ID
from service.domain.orders import OrderSpec, parse_order
from service.errors import InvalidInput

log = logging.getLogger(__name__)


def save_order(conn: Connection, spec: OrderSpec, source: str, now: datetime,
               warnings: list[dict[str, Any]] | None = None, actor: law.Actor | None = None,
               reason: str | None = None, event: law.LegalEvent | None = None,
               effective_from: datetime | None = None) -> int:
    """Insert or replace an order; every new body is kept as a new version (taking effect ``now``, or
    ``effective_from``: the court's decision date of a modification) and
    an ``issued`` or ``modified`` entry in its legal history (or ``event``, the step that made it). An
    order that has ended is not revived: InvalidInput. Its devices and OwnTracks topics are bound to it
    in the same transaction (:func:`bind`: DeviceUnavailable when another holder has one). Returns the
    version."""
    current = conn.execute(
        sa.select(t.orders.c.version, t.orders.c.body, t.orders.c.status, t.orders.c.court_id)
        .where(t.orders.c.order_id == spec.order_id)).first()
    if current is not None:
        _refuse_ended_or_moved(spec, current.status, current.court_id)
    if current is not None and current.body == spec.body:
        warnings = _with(warnings, protection_repo.outside_warnings(conn, spec))
        conn.execute(sa.update(t.orders).where(t.orders.c.order_id == spec.order_id).values(warnings=warnings or None))
        return int(current.version)
    # every safety alert reaches police: an order no police agency answers for is refused (NoPoliceAgency)
    _, outside = protection_repo.police_check(conn, spec)
    warnings = _with(warnings, outside)
    before = stored_holders(conn, spec.order_id, None if current is None else current.court_id)
    bind(conn, spec, before, now)
    version = 1 if current is None else int(current.version) + 1
    who = actor or law.Actor(f"import:{source}"[:64], "court")
    conn.execute(sa.insert(t.order_versions).values(
        order_id=spec.order_id, version=version, body=spec.body, source=source, recorded_at=now,
        effective_from=effective_from or now,
        actor_id=who.actor_id, reason=reason))
    if event is None:
        event = law.LegalEvent(spec.order_id, "issued" if current is None else "modified", now, who.actor_id, who.role,
                               reason if reason is not None else (f"imported from {source}" if actor is None else None))
    add_order_event(conn, event, version)
    upsert(conn, t.orders, [{
        "order_id": spec.order_id, "type": spec.type, "court_id": spec.court_id, "issued_at": spec.issued_at,
        "expires_at": spec.expires_at, "status": "active", "version": version, "body": spec.body, "updated_at": now,
        "warnings": warnings or None,
    }], ["order_id"])
    conn.execute(sa.delete(t.order_parties).where(t.order_parties.c.order_id == spec.order_id))
    conn.execute(sa.insert(t.order_parties), [
        {"order_id": spec.order_id, "role": p.role, "person_id": p.person_id, "device_id": p.device_id,
         "report_interval_s": p.report_interval_s, "owntracks_topic": p.owntracks_topic} for p in spec.parties()
    ])
    let_go(conn, before, {h.role: h for h in holders_of(spec)}, now)
    _store_zones(conn, spec)
    if current is not None:  # her order changed: she and its police are told (never silently)
        protection_repo.announce_change(conn, spec, version, effective_from or now, now, reason)
    return version


def _refuse_ended_or_moved(spec: OrderSpec, status: str, court_id: str) -> None:
    """A stored order's new body: refused once the order has ended, or when it names another court."""
    if status != law.OrderStatus.ACTIVE.value:
        raise InvalidInput(f"order {spec.order_id} has ended ({status}); a new order needs a new order_id",
                           "order_id")
    if court_id != spec.court_id:  # a file never moves an order (and its devices)
        raise InvalidInput(f"order {spec.order_id} is another court's order; a new order needs a new order_id",
                           "court")


def _store_zones(conn: Connection, spec: OrderSpec) -> None:
    """The version's zones replace the order's; the state of zones it no longer has goes."""
    conn.execute(sa.delete(t.zones).where(t.zones.c.order_id == spec.order_id))
    if spec.zones:
        conn.execute(sa.insert(t.zones), [
            {"order_id": spec.order_id, "zone_id": z.zone_id, "kind": z.kind, "name": z.name,
             "geometry": z.geometry, "radius_m": z.radius_m} for z in spec.zones
        ])
    kept = [z.zone_id for z in spec.zones] + [MOVING_ZONE_ID]  # the moving zone's state is kept across versions
    conn.execute(sa.delete(t.zone_membership).where(
        t.zone_membership.c.order_id == spec.order_id, t.zone_membership.c.zone_id.not_in(kept)))


def _with(warnings: list[dict[str, Any]] | None, more: Iterable[Any]) -> list[dict[str, Any]]:
    """Stored set-up warnings with ``more`` (SetupWarning) added, each once."""
    out = list(warnings or [])
    for w in more:
        item = {"code": w.code, "message": w.message, "field": w.field}
        if item not in out:
            out.append(item)
    return out


def order_warnings(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    return conn.execute(sa.select(t.orders.c.warnings).where(t.orders.c.order_id == order_id)).scalar() or []


def device_roles(conn: Connection, device_id: str) -> list[tuple[str, str]]:
    """(order id, role) of every order in force that names the device."""
    p, o = t.order_parties.c, t.orders.c
    q = sa.select(p.order_id, p.role).join(t.orders, o.order_id == p.order_id).where(
        p.device_id == device_id, o.status == "active")
    return [(order_id, role) for order_id, role in conn.execute(q)]


def load_order_any(conn: Connection, order_id: str) -> OrderSpec | None:
    """The order's current version, whatever its status (None: unknown, or it no longer parses)."""
    body = conn.execute(sa.select(t.orders.c.body).where(t.orders.c.order_id == order_id)).scalar()
    try:
        return parse_order(body) if body is not None else None
    except InvalidInput:
        return None


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

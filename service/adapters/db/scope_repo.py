"""What an access decision needs to know about an order (``service.domain.access.OrderScope``)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts.routing import JurisdictionIndex
from service.adapters.db import agencies_repo
from service.adapters.db import schema as t
from service.domain.access import OrderScope


def order_scopes(conn: Connection, order_ids: Iterable[str] | None = None) -> dict[str, OrderScope]:
    """Every order (or ``order_ids``), whatever its status: its court, and the police agencies it names
    (``police_agency_id``), whose jurisdiction holds one of its zones, or that received one of its alerts."""
    ids = None if order_ids is None else list(order_ids)
    q = sa.select(t.orders.c.order_id, t.orders.c.court_id, t.orders.c.body)
    if ids is not None:
        q = q.where(t.orders.c.order_id.in_(ids))
    rows = conn.execute(q).all()
    courts = {r.order_id: r.court_id for r in rows}
    if not courts:
        return {}
    agencies = agencies_repo.load_agencies(conn)
    police_ids = {a.agency_id for a in agencies if a.kind == "police"}
    index = JurisdictionIndex(agencies)
    police: dict[str, set[str]] = {oid: set() for oid in courts}
    for r in rows:  # the police agency the court named to answer for it (service.domain.responsibility)
        named = r.body.get("police_agency_id") if isinstance(r.body, dict) else None
        if named in police_ids:
            police[r.order_id].add(named)
    zq = sa.select(t.zones.c.order_id, t.zones.c.geometry).where(t.zones.c.order_id.in_(list(courts)))
    for order_id, geometry in conn.execute(zq):
        lat, lon = _anchor(geometry)
        hit = index.police_for(lat, lon)
        if hit is not None:
            police[order_id].add(hit)
    aq = sa.select(t.alerts.c.order_id, t.alerts.c.recipients).where(t.alerts.c.order_id.in_(list(courts)))
    for order_id, recipients in conn.execute(aq):
        police[order_id].update(r for r in recipients or () if r in police_ids)
    return {oid: OrderScope(oid, court, frozenset(police[oid])) for oid, court in courts.items()}


def alert_scope(conn: Connection, alert_id: str) -> tuple[str, str, list[str]] | None:
    """(order id, kind, recipients) of an alert, or None."""
    r = conn.execute(sa.select(t.alerts.c.order_id, t.alerts.c.kind, t.alerts.c.recipients)
                     .where(t.alerts.c.alert_id == alert_id)).first()
    return None if r is None else (r.order_id, r.kind, list(r.recipients or ()))


def _anchor(geometry: dict) -> tuple[float, float]:
    coords = geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return float(coords[1]), float(coords[0])

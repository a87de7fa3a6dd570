"""An order's legal history (its events: steps, reminders, notices), its versions and its service records."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import schema as t
from service.adapters.db.times import utc
from service.domain import law
from service.domain.orders import OrderSpec, parse_order
from service.errors import InvalidInput

log = logging.getLogger(__name__)


def add_order_event(conn: Connection, event: law.LegalEvent, version: int | None = None) -> None:
    conn.execute(sa.insert(t.order_events).values(
        order_id=event.order_id, event=event.event, at=event.at, actor_id=event.actor_id, role=event.role,
        reason=event.reason, version=version, details=_jsonable(event.details) or None))


def order_events_of(conn: Connection, order_id: str, event: str) -> list[law.LegalEvent]:
    """The order's history entries of one kind, oldest first (their times in details read back as times)."""
    from service.wire.rfc3339 import parse_ts

    c = t.order_events.c
    rows = conn.execute(sa.select(c.event, c.at, c.actor_id, c.role, c.reason, c.details)
                        .where(c.order_id == order_id, c.event == event).order_by(c.id)).all()
    out = []
    for r in rows:
        details = {k: (parse_ts(v) or v) if k in ("filed_at", "decided_at", "window_ends") and isinstance(v, str)
                   else v for k, v in (r.details or {}).items()}
        out.append(law.LegalEvent(order_id, r.event, utc(r.at), r.actor_id, r.role, r.reason, details))
    return out


def in_force_from(conn: Connection, order_id: str) -> datetime | None:
    """When the order's current version took effect."""
    c = t.order_versions.c
    row = conn.execute(sa.select(sa.func.coalesce(c.effective_from, c.recorded_at)).where(c.order_id == order_id)
                       .order_by(c.version.desc()).limit(1)).scalar()
    return utc(row)


def reminders_sent(conn: Connection, order_ids: Iterable[str]) -> tuple[dict[str, set[str]], dict[str, datetime]]:
    """Per order: the expiry reminders already sent (their keys), and its last daily "undecided" reminder."""
    c = t.order_events.c
    ids = list(order_ids)
    sent: dict[str, set[str]] = {}
    undecided: dict[str, datetime] = {}
    if not ids:
        return sent, undecided
    q = sa.select(c.order_id, c.event, c.at, c.details).where(
        c.order_id.in_(ids), c.event.in_(("reminder", "undecided")))
    for order_id, event, at, details in conn.execute(q):
        if event == "reminder":
            sent.setdefault(order_id, set()).update((details or {}).get("keys", ()))
        else:
            at = utc(at)
            undecided[order_id] = max(at, undecided.get(order_id, at))
    return sent, undecided


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
                earlier.append((utc(r.eff), parse_order(r.body)))
            except InvalidInput:
                log.warning("order %s version %s does not parse; late reports use the next one", order_id, r.version)
        out[order_id] = (earlier, utc(versions[-1].eff))
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
        out.setdefault(order_id, {})[party] = utc(served_at)
    return out


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    from service.wire.rfc3339 import format_ts

    return {k: format_ts(v) if isinstance(v, datetime) else v for k, v in details.items()}

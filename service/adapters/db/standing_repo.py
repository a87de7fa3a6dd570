"""An order's legal state (its standing) and its end: an ended order's devices are let go, its end is
announced, and her panic still reaches police during its grace."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import protection_repo
from service.adapters.db import schema as t
from service.adapters.db.bindings_repo import release_order
from service.adapters.db.times import utc
from service.domain import ends, law
from service.domain.orders import OrderSpec, parse_order
from service.errors import InvalidInput

log = logging.getLogger(__name__)


def load_standing(conn: Connection, order_id: str) -> law.Standing | None:
    r = conn.execute(sa.select(t.orders).where(t.orders.c.order_id == order_id)).mappings().first()
    if r is None:
        return None
    return law.Standing(r["order_id"], r["type"], r["court_id"], r["issued_at"], r["expires_at"],
                        law.OrderStatus(r["status"]), r["extensions"], r["ended_at"], r["superseded_by"])


def save_standing(conn: Connection, standing: law.Standing, now: datetime, grace: timedelta = ends.GRACE,
                  reason: str | None = None) -> None:
    """The order's legal state; ``updated_at`` moves, so a running serve picks the change up. An end starts
    the order's grace (``service.domain.ends``): from the end, or from now if it is recorded later."""
    values: dict[str, Any] = {"status": standing.status.value, "expires_at": standing.expires_at,
                              "extensions": standing.extensions, "ended_at": standing.ended_at,
                              "superseded_by": standing.superseded_by, "updated_at": now}
    if standing.status != law.OrderStatus.ACTIVE:
        values["grace_until"] = ends.grace_until(standing.ended_at or now, now, grace)
    was = conn.execute(sa.select(t.orders.c.status).where(t.orders.c.order_id == standing.order_id)).scalar()
    conn.execute(sa.update(t.orders).where(t.orders.c.order_id == standing.order_id).values(**values))
    if standing.status != law.OrderStatus.ACTIVE:
        release_order(conn, standing.order_id, now)
        if was == law.OrderStatus.ACTIVE.value:  # it ends now: told to every agency concerned and to her phone
            protection_repo.announce_end(conn, standing, reason, now, grace)


def end_order(conn: Connection, order_id: str, status: str, now: datetime, grace_until: datetime | None = None) -> None:
    """The order's time is up (or it ended otherwise): no longer monitored, but for her panic until
    ``grace_until`` (default: ``ends.GRACE`` from the end, or from now if later)."""
    current = load_standing(conn, order_id)
    if current is None or current.status != law.OrderStatus.ACTIVE:
        return
    ended_at = current.expires_at if status == "expired" and current.expires_at is not None else now
    conn.execute(sa.update(t.orders).where(t.orders.c.order_id == order_id).values(
        status=status, ended_at=ended_at, updated_at=now,
        grace_until=grace_until if grace_until is not None else ends.grace_until(ended_at, now)))
    release_order(conn, order_id, now)


def orders_in_grace(conn: Connection, now: datetime, order_ids: Iterable[str] | None = None
                    ) -> list[tuple[OrderSpec, ends.Ending]]:
    """Ended orders whose grace runs at ``now`` (her panic still reaches police), with how they ended."""
    c = t.orders.c
    q = sa.select(c.order_id, c.body, c.status, c.ended_at, c.grace_until).where(
        c.status != "active", c.grace_until.is_not(None), c.grace_until > now).order_by(c.order_id)
    if order_ids is not None:
        q = q.where(c.order_id.in_(list(order_ids)))
    out = []
    for r in conn.execute(q):
        try:
            spec = parse_order(r.body)
        except InvalidInput as exc:
            log.error("ended order %s does not parse: its grace is not kept (%s)", r.order_id, exc)
            continue
        out.append((spec, ends.Ending(r.status, utc(r.ended_at) or utc(r.grace_until), utc(r.grace_until))))
    return out


def order_ending(conn: Connection, order_id: str) -> dict[str, Any]:
    """When the order ended and until when her panic still reaches police (None while in force)."""
    from service.wire.rfc3339 import format_ts

    r = conn.execute(sa.select(t.orders.c.ended_at, t.orders.c.grace_until).where(
        t.orders.c.order_id == order_id)).first()
    return {"ended_at": format_ts(utc(r.ended_at)) if r is not None and r.ended_at else None,
            "panic_reaches_police_until": format_ts(utc(r.grace_until)) if r is not None and r.grace_until else None}

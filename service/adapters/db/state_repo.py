"""Reads that rebuild the in-memory monitoring state after a start or a failure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from geofence import Fix, ZoneState
from service.adapters.db import schema as t
from service.domain.monitoring import is_poor
from service.wire.decode import FUTURE_TOLERANCE


def load_membership(conn: Connection, order_ids: Iterable[str] | None = None) -> dict[str, dict[str, ZoneState]]:
    q = sa.select(t.zone_membership)
    if order_ids is not None:
        q = q.where(t.zone_membership.c.order_id.in_(list(order_ids)))
    out: dict[str, dict[str, ZoneState]] = {}
    for r in conn.execute(q).mappings():
        out.setdefault(r["order_id"], {})[r["zone_id"]] = ZoneState(bool(r["inside"]), r["since"], bool(r["warned"]),
                                                                         int(r["possibles"]))
    return out


def latest_fix(conn: Connection, device_id: str) -> Fix | None:
    """The device's latest fix: its highest seq (the device's own order; unique index seek). A device
    time ahead of the server's clock (beyond the decoder's tolerance) counts as its receive time, as it
    did live (``monitoring.effective_ts``): a forged clock can't move the device's clock after a restart."""
    c = t.location_reports.c
    row = conn.execute(
        sa.select(c.lat, c.lon, c.acc_m, c.device_ts, c.received_at, c.spd_mps, c.hdg_deg, c.src)
        .where(c.device_id == device_id).order_by(c.seq.desc()).limit(1)
    ).first()
    if row is None:
        return None
    ts = row.received_at if row.device_ts > row.received_at + FUTURE_TOLERANCE else row.device_ts
    return Fix(row.lat, row.lon, row.acc_m, ts, row.spd_mps, row.hdg_deg, is_poor(row.acc_m, row.src))


def last_seen(conn: Connection, device_ids: Iterable[str]) -> dict[str, datetime]:
    """When each device's latest message arrived (its highest seq per message table: index seeks),
    for the silence watchdog after a restart."""
    out: dict[str, datetime] = {}
    for device_id in device_ids:
        for table in (t.location_reports, t.status_reports, t.panic_presses):
            c = table.c
            row = conn.execute(sa.select(c.received_at).where(c.device_id == device_id, c.seq.is_not(None))
                               .order_by(c.seq.desc()).limit(1)).first()
            if row is not None and (device_id not in out or row.received_at > out[device_id]):
                out[device_id] = row.received_at
    return out


def latest_fixes(conn: Connection, device_ids: Iterable[str]) -> dict[str, Fix]:
    out = {}
    for device_id in device_ids:
        fix = latest_fix(conn, device_id)
        if fix is not None:
            out[device_id] = fix
    return out


def last_evaluated(fixes: dict[str, Fix]) -> dict[str, datetime]:
    return {device_id: fix.ts for device_id, fix in fixes.items()}

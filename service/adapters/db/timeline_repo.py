"""What an order's breach timeline is made of: the parties' reports and its alert log, in a window."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import schema as t

MAX_POINTS = 20_000  # per track and window: a day at one fix every 5 s


def party_devices(conn: Connection, order_id: str) -> dict[str, set[str]]:
    """role -> every device the order's versions gave that party (a replaced tracker's reports count)."""
    out: dict[str, set[str]] = {"respondent": set(), "victim": set()}
    for (body,) in conn.execute(sa.select(t.order_versions.c.body).where(t.order_versions.c.order_id == order_id)):
        for role in out:
            device = ((body or {}).get(role) or {}).get("device_id")
            if isinstance(device, str):
                out[role].add(device)
    return out


def track(conn: Connection, devices: Iterable[str], since: datetime, until: datetime) -> list[dict[str, Any]]:
    c = t.location_reports.c
    ids = list(devices)
    if not ids:
        return []
    q = sa.select(c.device_id, c.seq, c.device_ts, c.lat, c.lon, c.acc_m, c.flags) \
        .where(c.device_id.in_(ids), c.device_ts >= since, c.device_ts < until).order_by(c.device_ts, c.seq) \
        .limit(MAX_POINTS)
    return [dict(r) for r in conn.execute(q).mappings()]


def alert_events(conn: Connection, order_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    a, log = t.alerts.c, t.alert_log.c
    q = sa.select(log.alert_id, log.event_seq, log.event, log.status, log.actor, log.source, log.at, log.message,
                  a.kind, a.zone_id, a.severity, a.recipients) \
        .join(t.alerts, t.alerts.c.alert_id == log.alert_id) \
        .where(a.order_id == order_id, log.at >= since, log.at < until).order_by(log.at, log.id)
    return [dict(r) for r in conn.execute(q).mappings()]

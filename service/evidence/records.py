"""The order's append-only records, collected from the database in a fixed order, and their canonical
JSON (sorted keys, UTC times, raw bytes in base64): one line of ``records.jsonl`` each."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import schema as t
from service.adapters.db import timeline_repo
from service.errors import NotFound
from service.wire.rfc3339 import format_ts


def canonical(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=plain)


def plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(type(value).__name__)


def collect(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    """Every append-only record of the order, in a fixed order (kind, then row id)."""
    if conn.execute(sa.select(t.orders.c.order_id).where(t.orders.c.order_id == order_id)).first() is None:
        raise NotFound(f"no order {order_id}")
    records: list[dict[str, Any]] = []

    def add(kind: str, rows: Iterable[Any]) -> None:
        # plain str keys: column names are SQLAlchemy's quoted_name, a str subclass orjson refuses as a key
        records.extend({"record": kind, **{str(k): v for k, v in r.items()}} for r in rows)

    add("order_version", conn.execute(sa.select(t.order_versions).where(t.order_versions.c.order_id == order_id)
                                      .order_by(t.order_versions.c.id)).mappings())
    add("order_event", conn.execute(sa.select(t.order_events).where(t.order_events.c.order_id == order_id)
                                    .order_by(t.order_events.c.id)).mappings())
    periods = timeline_repo.device_periods(conn, [order_id]).get(order_id, [])
    for table, kind in ((t.location_reports, "location_report"), (t.status_reports, "status_report"),
                        (t.panic_presses, "panic_press")):
        by_id: dict[int, Any] = {}  # a device may stand for both periods' parties: each row once
        for p in periods:
            q = sa.select(table).where(table.c.device_id == p.device_id, table.c.device_ts >= p.start)
            if p.end is not None:
                q = q.where(table.c.device_ts < p.end)
            by_id.update((r["id"], r) for r in conn.execute(q).mappings())
        add(kind, [by_id[i] for i in sorted(by_id)])
    alert_ids = [a for (a,) in conn.execute(sa.select(t.alerts.c.alert_id).where(t.alerts.c.order_id == order_id))]
    add("alert_log", conn.execute(sa.select(t.alert_log).where(t.alert_log.c.alert_id.in_(alert_ids))
                                  .order_by(t.alert_log.c.id)).mappings() if alert_ids else [])
    add("service_record", conn.execute(sa.select(t.service_records).where(t.service_records.c.order_id == order_id)
                                       .order_by(t.service_records.c.id)).mappings())
    add("access_audit", conn.execute(sa.select(t.access_audit).where(t.access_audit.c.object_id == order_id)
                                     .order_by(t.access_audit.c.id)).mappings())
    return records

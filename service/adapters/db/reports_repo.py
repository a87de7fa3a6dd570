"""Append-only writes of what devices sent: reports, panic presses, rejections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import schema as t
from service.adapters.db.upsert import insert_new
from service.wire import InvalidMessage, LocationReport, PanicPress, StatusReport


def insert_locations(conn: Connection, reports: Sequence[LocationReport], now: datetime) -> set[tuple]:
    """Returns the (device_id, seq) keys that were new; repeats change nothing."""
    rows = [
        {"device_id": r.device_id, "seq": r.seq, "device_ts": r.ts, "received_at": r.received_at,
         "processed_at": now, "lat": r.lat, "lon": r.lon, "acc_m": r.acc_m, "spd_mps": r.spd_mps,
         "hdg_deg": r.hdg_deg, "batt_pct": r.batt_pct, "src": r.src, "flags": ",".join(r.flags), "raw": r.raw}
        for r in reports
    ]
    return insert_new(conn, t.location_reports, rows, ["device_id", "seq"])


def insert_statuses(conn: Connection, reports: Sequence[StatusReport], now: datetime) -> set[tuple]:
    rows = [
        {"device_id": r.device_id, "seq": r.seq, "device_ts": r.ts, "received_at": r.received_at,
         "processed_at": now, "batt_pct": r.batt_pct, "charging": r.charging, "strap": r.strap,
         "case_state": r.case, "gps": r.gps, "flags": ",".join(r.flags), "raw": r.raw}
        for r in reports
    ]
    return insert_new(conn, t.status_reports, rows, ["device_id", "seq"])


def insert_panics(conn: Connection, presses: Sequence[PanicPress], now: datetime) -> list[PanicPress]:
    """Returns the presses that were new. A press without a valid seq is always new."""
    new: list[PanicPress] = []
    keyed = [p for p in presses if p.seq is not None]
    inserted = insert_new(conn, t.panic_presses, [_panic_row(p, now) for p in keyed], ["device_id", "seq"])
    new.extend(p for p in keyed if (p.device_id, p.seq) in inserted)
    unkeyed = [p for p in presses if p.seq is None]
    if unkeyed:
        conn.execute(sa.insert(t.panic_presses), [_panic_row(p, now) for p in unkeyed])
        new.extend(unkeyed)
    return new


def _panic_row(p: PanicPress, now: datetime) -> dict:
    return {"device_id": p.device_id, "seq": p.seq, "device_ts": p.ts, "received_at": p.received_at,
            "processed_at": now, "lat": p.lat, "lon": p.lon, "acc_m": p.acc_m, "silent": p.silent,
            "flags": ",".join(p.flags), "raw": p.raw}


def insert_rejections(conn: Connection, rejections: Sequence[InvalidMessage], now: datetime) -> None:
    if not rejections:
        return
    conn.execute(sa.insert(t.rejected_messages), [
        {"topic": r.topic, "device_id": r.device_id, "received_at": r.received_at, "processed_at": now,
         "reason": r.reason.value, "field": r.field, "item_index": r.item_index, "detail": r.detail,
         "payload": r.payload}
        for r in rejections
    ])

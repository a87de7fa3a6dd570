"""Append-only writes of what devices sent: reports, panic presses, rejections."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import schema as t
from service.adapters.db.upsert import insert_new
from service.wire import InvalidMessage, LocationReport, PanicPress, StatusReport

LOCATION_COLUMNS = ("device_id", "seq", "device_ts", "received_at", "processed_at", "lat", "lon", "acc_m",
                    "spd_mps", "hdg_deg", "batt_pct", "src", "flags", "raw")


def insert_locations(conn: Connection, reports: Sequence[LocationReport], now: datetime) -> None:
    """Append reports known to be new (see :func:`existing_location_keys`).

    The hot path. Values are converted here and sent as multi-row ``INSERT ...
    VALUES (...), (...)`` statements of up to ``ROWS_PER_INSERT`` rows:
    SQLAlchemy's per-row type processing cost more than SQLite's insert itself,
    and ``executemany`` steps (and releases the GIL) once per row, which lets the
    MQTT thread take it back hundreds of times a batch. Timestamps are stored
    exactly as the ``UtcDateTime`` column type stores them, so Core reads them
    back as aware UTC datetimes (tested). A repeat that slipped through raises an
    IntegrityError (unique device_id, seq): loud, never silent.
    """
    if not reports:
        return
    ts = _ts_param(conn)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    processed = ts(now)
    for i in range(0, len(reports), ROWS_PER_INSERT):
        chunk = reports[i:i + ROWS_PER_INSERT]
        params: list[Any] = []
        for r in chunk:
            params += (r.device_id, r.seq, ts(r.ts), ts(r.received_at), processed, r.lat, r.lon, r.acc_m, r.spd_mps,
                       r.hdg_deg, r.batt_pct, r.src, ",".join(r.flags), r.raw)
        conn.exec_driver_sql(_insert_sql(mark, len(chunk)), tuple(params))


ROWS_PER_INSERT = 500  # 500 x 14 parameters stays under SQLite's 32,766-variable limit


@functools.lru_cache(maxsize=8)
def _insert_sql(mark: str, rows: int) -> str:
    row = f"({', '.join([mark] * len(LOCATION_COLUMNS))})"
    return f"INSERT INTO location_reports ({', '.join(LOCATION_COLUMNS)}) VALUES {', '.join([row] * rows)}"


def existing_location_keys(conn: Connection, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of these (device_id, seq) keys are already stored."""
    return set(stored_locations(conn, keys))


def stored_locations(conn: Connection, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple]:
    """The stored content (``location_content``) of those of these (device_id, seq) keys that are stored."""
    c = t.location_reports.c
    found: dict[tuple[str, int], tuple] = {}
    for i in range(0, len(keys), 500):
        part = list(keys[i:i + 500])
        rows = conn.execute(sa.select(c.device_id, c.seq, c.device_ts, c.lat, c.lon, c.acc_m)
                            .where(sa.tuple_(c.device_id, c.seq).in_(part)))
        found.update(((r.device_id, r.seq), (r.device_ts, r.lat, r.lon, r.acc_m)) for r in rows)
    return found


def location_content(r: LocationReport) -> tuple:
    """What makes a location report the same report: a repeat of its seq with other content is a conflict."""
    return (r.ts, r.lat, r.lon, r.acc_m)


def status_content(r: StatusReport) -> tuple:
    return (r.ts, r.batt_pct, r.charging, r.strap, r.case, r.gps)


def stored_statuses(conn: Connection, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple]:
    """The stored content (``status_content``) of those of these (device_id, seq) keys that are stored."""
    c = t.status_reports.c
    found: dict[tuple[str, int], tuple] = {}
    for i in range(0, len(keys), 500):
        part = list(keys[i:i + 500])
        rows = conn.execute(sa.select(c.device_id, c.seq, c.device_ts, c.batt_pct, c.charging, c.strap, c.case_state,
                                      c.gps).where(sa.tuple_(c.device_id, c.seq).in_(part)))
        found.update(((r.device_id, r.seq), (r.device_ts, r.batt_pct, r.charging, r.strap, r.case_state, r.gps))
                     for r in rows)
    return found


def max_seqs(conn: Connection, device_ids: Sequence[str]) -> dict[str, int]:
    """The highest stored location seq of each device that has one (unique index seek)."""
    c = t.location_reports.c
    out: dict[str, int] = {}
    for i in range(0, len(device_ids), 500):
        part = list(device_ids[i:i + 500])
        q = sa.select(c.device_id, sa.func.max(c.seq)).where(c.device_id.in_(part)).group_by(c.device_id)
        out.update({d: int(m) for d, m in conn.execute(q)})
    return out


def _ts_param(conn: Connection):  # type: ignore[no-untyped-def]
    if conn.dialect.name == "sqlite":  # the UtcDateTime/SQLite storage form: naive UTC, always 6 decimals
        return lambda dt: (dt if dt.tzinfo is UTC else dt.astimezone(UTC)).replace(tzinfo=None).isoformat(" ", "microseconds")
    return lambda dt: dt


def insert_statuses(conn: Connection, reports: Sequence[StatusReport], now: datetime) -> set[tuple]:
    rows = [
        {"device_id": r.device_id, "seq": r.seq, "device_ts": r.ts, "received_at": r.received_at,
         "processed_at": now, "batt_pct": r.batt_pct, "charging": r.charging, "strap": r.strap,
         "case_state": r.case, "gps": r.gps, "flags": ",".join(r.flags), "raw": r.raw}
        for r in reports
    ]
    return insert_new(conn, t.status_reports, rows, ["device_id", "seq"])


def insert_panics(conn: Connection, presses: Sequence[PanicPress], now: datetime) -> list[PanicPress]:
    """Returns the presses that were new. A press without a valid seq is always new; so is a press whose seq
    is stored with other bytes (a copy of her phone, or a squatter of her seqs, must never hide a press): it
    is stored without its seq and flagged ``seq_conflict``."""
    new: list[PanicPress] = []
    keyed = [p for p in presses if p.seq is not None]
    inserted = insert_new(conn, t.panic_presses, [_panic_row(p, now) for p in keyed], ["device_id", "seq"])
    new.extend(p for p in keyed if (p.device_id, p.seq) in inserted)
    repeated = [p for p in keyed if (p.device_id, p.seq) not in inserted]
    if repeated:
        c = t.panic_presses.c
        stored = {(r.device_id, r.seq): r.raw for r in conn.execute(
            sa.select(c.device_id, c.seq, c.raw).where(sa.tuple_(c.device_id, c.seq).in_(
                [(p.device_id, p.seq) for p in repeated])))}
        presses = [*presses, *(msgspec.structs.replace(p, seq=None, flags=(*p.flags, "seq_conflict"))
                               for p in repeated if stored.get((p.device_id, p.seq)) != p.raw)]
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

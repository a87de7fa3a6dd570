"""What an order's breach timeline is made of: the parties' reports and its alert log, in a window."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from service.adapters.db import schema as t
from service.wire.rfc3339 import parse_ts

MAX_POINTS = 20_000  # per track and window: a day at one fix every 5 s


@dataclass(frozen=True, slots=True)
class Period:
    role: str  # respondent | victim
    device_id: str
    start: datetime
    end: datetime | None  # None: still this order's


def device_periods(conn: Connection, order_ids: Iterable[str] | None = None) -> dict[str, list[Period]]:
    """When each device stood for a party of each order: from the order's issue (or the version that
    enrolled it) to the version that replaced it (extended to the new device's first report: the old
    one kept reporting meanwhile), or to the order's end. A device's reports outside these periods are
    not the order's (a tracker reissued to someone else, a phone before the order existed). An ended order's
    devices stood for it until the end of its grace (:func:`enforced_until`)."""
    v = t.order_versions.c
    q = sa.select(v.order_id, v.version, v.body, sa.func.coalesce(v.effective_from, v.recorded_at).label("eff")) \
        .order_by(v.order_id, v.version)
    o = sa.select(t.orders.c.order_id, t.orders.c.issued_at, t.orders.c.ended_at, t.orders.c.grace_until)
    if order_ids is not None:
        ids = list(order_ids)
        q, o = q.where(v.order_id.in_(ids)), o.where(t.orders.c.order_id.in_(ids))
    orders = {r.order_id: r for r in conn.execute(o)}
    versions: dict[str, list[Any]] = {}
    for r in conn.execute(q):
        versions.setdefault(r.order_id, []).append(r)
    out: dict[str, list[Period]] = {}
    for order_id, rows in versions.items():
        order = orders.get(order_id)
        if order is None:
            continue
        periods: list[Period] = []
        for i, r in enumerate(rows):
            start = order.issued_at if i == 0 else _utc(r.eff)
            end = _utc(rows[i + 1].eff) if i + 1 < len(rows) else enforced_until(order)
            for role in ("respondent", "victim"):
                device = ((r.body or {}).get(role) or {}).get("device_id")
                if not isinstance(device, str):
                    continue
                last = next((p for p in reversed(periods) if p.role == role), None)
                if last is not None and last.device_id == device and last.end == start:
                    periods[periods.index(last)] = Period(role, device, last.start, end)  # the same device goes on
                else:
                    if last is not None and last.end == start and last.device_id != device:  # replaced: handover
                        first = _first_report(conn, device, start)
                        periods[periods.index(last)] = Period(role, last.device_id, last.start,
                                                              first if first is not None else end)
                    periods.append(Period(role, device, start, end))
        out[order_id] = periods
    return out


def enforced_until(order: Any) -> datetime | None:
    """When the order stopped holding its devices: the end of its grace (its reports until then are its
    evidence, and her panic was still raised), else its end; None while in force. A back-dated decision
    (``ended_at`` before it was entered) never cuts off what was received while it was enforced."""
    ends = [_utc(x) for x in (order.ended_at, getattr(order, "grace_until", None)) if x is not None]
    return max(ends, default=None)


def _first_report(conn: Connection, device_id: str, since: datetime) -> datetime | None:
    c = t.location_reports.c
    return _utc(conn.execute(sa.select(sa.func.min(c.device_ts)).where(c.device_id == device_id,
                                                                      c.device_ts >= since)).scalar())


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def track_in(conn: Connection, periods: Iterable[Period], role: str, since: datetime, until: datetime
             ) -> list[dict[str, Any]]:
    """A party's reports in [since, until), each from the device that stood for it at its time."""
    points: list[dict[str, Any]] = []
    for p in periods:
        if p.role != role:
            continue
        a, b = max(p.start, since), min(p.end, until) if p.end is not None else until
        if a < b:
            points += track(conn, [p.device_id], a, b)
    return sorted(points, key=lambda x: (x["device_ts"], x["seq"]))[:MAX_POINTS]


def track(conn: Connection, devices: Iterable[str], since: datetime, until: datetime) -> list[dict[str, Any]]:
    c = t.location_reports.c
    ids = list(devices)
    if not ids:
        return []
    q = sa.select(c.device_id, c.seq, c.device_ts, c.received_at, c.lat, c.lon, c.acc_m, c.flags) \
        .where(c.device_id.in_(ids), c.device_ts >= since, c.device_ts < until).order_by(c.device_ts, c.seq) \
        .limit(MAX_POINTS)
    return [dict(r) for r in conn.execute(q).mappings()]


def alert_events(conn: Connection, order_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    a, log = t.alerts.c, t.alert_log.c
    q = sa.select(log.alert_id, log.event_seq, log.event, log.status, log.actor, log.source, log.at, log.message,
                  log.note, a.kind, a.zone_id, a.severity, a.recipients, a.raised_at) \
        .join(t.alerts, t.alerts.c.alert_id == log.alert_id) \
        .where(a.order_id == order_id, log.at >= since, log.at < until).order_by(log.at, log.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def moving_zone_spans(conn: Connection, order_id: str, since: datetime, until: datetime
                      ) -> list[tuple[datetime, datetime | None]]:
    """The order's episodes of the moving zone (``proximity``, and ``pre_alert`` of no fixed zone) that may
    come near [since, until): each as its first and last moment of his (the alert's start, the end of the
    condition, and the time of every fix of his its events carry; a raise judged on her fix may carry an
    older fix of his), the last None while the condition lasts. ``her_data.withheld_windows`` makes the
    windows of his track withheld around them from a caller who may not see her."""
    a, log = t.alerts.c, t.alert_log.c
    near = timedelta(hours=6)  # wider than any bucket, margin and freshness of a fix
    rows = conn.execute(sa.select(a.alert_id, a.occurred_at, a.last_report_ts, a.condition_active).where(
        a.order_id == order_id, a.kind.in_(("proximity", "pre_alert")), a.zone_id.is_(None),
        a.occurred_at < until + near,
        sa.or_(a.condition_active.is_(True), a.last_report_ts.is_(None), a.last_report_ts >= since - near))).all()
    if not rows:
        return []
    fixes: dict[str, list[datetime]] = {}
    ids = [r.alert_id for r in rows]
    for chunk in range(0, len(ids), 500):
        for alert_id, message in conn.execute(sa.select(log.alert_id, log.message)
                                              .where(log.alert_id.in_(ids[chunk:chunk + 500]))):
            for msg in (message or {}).values():
                for value in ((msg.get("respondent") or {}).get("ts"), msg.get("ended_at")):
                    at = parse_ts(value)
                    if at is not None:
                        fixes.setdefault(alert_id, []).append(at)
    out: list[tuple[datetime, datetime | None]] = []
    for r in rows:
        moments = [_utc(r.occurred_at), *fixes.get(r.alert_id, ())]
        if r.last_report_ts is not None:
            moments.append(_utc(r.last_report_ts))
        out.append((min(moments), None if r.condition_active else max(moments)))
    return out


def alert_zone(conn: Connection, alert_id: str) -> str | None:
    """The fixed zone an alert is of (None: the moving zone, or no zone)."""
    return conn.execute(sa.select(t.alerts.c.zone_id).where(t.alerts.c.alert_id == alert_id)).scalar()


def latest_fix_ts(conn: Connection, periods: Iterable[Period], role: str) -> datetime | None:
    """When a party's latest fix counts (its devices' highest seq, as the monitor resumes from it)."""
    from service.adapters.db.state_repo import latest_fix

    times = [fix.ts for p in periods if p.role == role and (fix := latest_fix(conn, p.device_id)) is not None]
    return max(times, default=None)


def open_alerts(conn: Connection, order_ids: Iterable[str]) -> dict[str, list[tuple[str, list[str]]]]:
    """(kind, recipients) of each order's alerts not yet resolved: what the need-to-know rule reads
    (``access.victim_position_access``), for many orders in one query."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    a = t.alerts.c
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for chunk in range(0, len(ids), 500):
        q = sa.select(a.order_id, a.kind, a.recipients).where(a.order_id.in_(ids[chunk:chunk + 500]),
                                                              a.status != "resolved")
        for order_id, kind, recipients in conn.execute(q):
            out.setdefault(order_id, []).append((kind, list(recipients or ())))
    return out

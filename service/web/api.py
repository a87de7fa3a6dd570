"""Read-only JSON API under /api/v1.

Nothing here returns zone geometry or any position: zones mark where the victim
lives and works, and this API has no authentication yet (it binds to loopback).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from service.adapters.db import alerts_repo, config_repo
from service.web import deps
from service.wire.rfc3339 import format_ts

bp = Blueprint("api", __name__, url_prefix="/api/v1")
ALERT_STATUSES = ("open", "acknowledged", "resolved")


@bp.get("/orders")
def list_orders():  # type: ignore[no-untyped-def]
    """Every order with its type, court, dates and version."""
    with deps().engine.connect() as conn:
        rows = config_repo.order_rows(conn)
    return jsonify(orders=[_order(r) for r in rows])


@bp.get("/orders/<order_id>")
def get_order(order_id: str):  # type: ignore[no-untyped-def]
    """One order, its parties' ids, zone names and its alerts. 404 if unknown."""
    with deps().engine.connect() as conn:
        rows = [r for r in config_repo.order_rows(conn) if r["order_id"] == order_id]
        if not rows:
            abort(404, description=f"no order {order_id}")
        spec = config_repo.load_orders(conn, [order_id])
        alerts = alerts_repo.alert_rows(conn, order_id=order_id)
    body = _order(rows[0])
    if spec:
        s = spec[0]
        body["parties"] = [{"role": p.role, "person_id": p.person_id, "device_id": p.device_id,
                            "report_interval_s": p.report_interval_s} for p in s.parties()]
        body["zones"] = [{"zone_id": z.zone_id, "kind": z.kind, "name": z.name} for z in s.zones]
        body["min_distance_m"] = s.min_distance_m
    body["alerts"] = [_alert(a) for a in alerts]
    return jsonify(body)


@bp.get("/alerts")
def list_alerts():  # type: ignore[no-untyped-def]
    """Alerts, newest first; ``?status=open`` (default), ``acknowledged``, ``resolved`` or ``all``. 400 otherwise."""
    status = request.args.get("status", "open")
    if status not in ALERT_STATUSES + ("all",):
        abort(400, description="status must be open, acknowledged, resolved or all")
    with deps().engine.connect() as conn:
        rows = alerts_repo.alert_rows(conn, None if status == "all" else status)
    return jsonify(alerts=[_alert(a) for a in rows])


def _order(r: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": r["order_id"], "type": r["type"], "court": r["court_id"],
            "issued_at": format_ts(r["issued_at"]),
            "expires_at": format_ts(r["expires_at"]) if r["expires_at"] else None,
            "status": r["status"], "version": r["version"]}


def _alert(a: dict[str, Any]) -> dict[str, Any]:
    return {"alert_id": a["alert_id"], "order_id": a["order_id"], "kind": a["kind"], "severity": a["severity"],
            "status": a["status"], "zone_id": a["zone_id"],
            "condition": "active" if a["condition_active"] else "ended", "retroactive": a["retroactive"],
            "event_seq": a["event_seq"], "recipients": a["recipients"],
            "occurred_at": format_ts(a["occurred_at"]), "raised_at": format_ts(a["raised_at"]),
            "last_event_at": format_ts(a["last_event_at"])}

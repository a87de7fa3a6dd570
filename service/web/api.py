"""JSON API under /api/v1: orders and alerts, and what officers do with alerts.

Nothing here returns zone geometry or any position: zones mark where the victim
lives and works, and this API has no authentication yet (it binds to loopback).
Until the roles issue, an action names its actor in the body (``actor``); the
handlers take it from one place, so the signed-in officer will replace it there.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request

from alerts.lifecycle import LifecycleError
from service.adapters.db import alerts_repo, config_repo
from service.web import deps
from service.wire.rfc3339 import format_ts

bp = Blueprint("api", __name__, url_prefix="/api/v1")
ALERT_STATUSES = ("open", "acknowledged", "dispatched", "on_scene", "resolved")
ACTIONS = ("acknowledge", "dispatch", "on_scene", "resolve", "refer")


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
        abort(400, description="status must be open, acknowledged, dispatched, on_scene, resolved or all")
    with deps().engine.connect() as conn:
        rows = alerts_repo.alert_rows(conn, None if status == "all" else status)
    return jsonify(alerts=[_alert(a) for a in rows])


@bp.post("/alerts/<alert_id>/<action>")
def act_on_alert(alert_id: str, action: str):  # type: ignore[no-untyped-def]
    """acknowledge | dispatch (``unit``) | on_scene | resolve (``outcome``, ``note``) | refer (``to_agency``,
    ``note``). Body: JSON with ``actor`` (until sign-in arrives) and the fields named. 409 with a stable
    code when the step is not allowed (e.g. ``note_required``, ``already_resolved``); 404 for an unknown
    or already resolved alert."""
    if action not in ACTIONS:
        abort(404, description=f"no action {action}")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "bad_request", "the body must be a JSON object", None)
    actor = body.get("actor")
    if not isinstance(actor, str) or not 1 <= len(actor) <= 100:
        return _error(400, "validation", "actor must be a string of 1-100 characters", "actor")
    for name in ("note", "unit", "outcome", "to_agency", "agency_id"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            return _error(400, "validation", f"{name} must be a string", name)
    act = deps().act
    if act is None:
        abort(503, description="alert actions need the running service")
    try:
        alert = act(alert_id, action, body)
    except KeyError:
        return _error(404, "not_found", f"no unresolved alert {alert_id}", None)
    except LifecycleError as exc:
        return _error(409, exc.code, str(exc), None)
    return jsonify(alert=alert)


def _error(status: int, code: str, message: str, field: str | None):  # type: ignore[no-untyped-def]
    err: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        err["field"] = field
    return jsonify(error=err), status


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

"""JSON API under /api/v1: orders and alerts, and what officers do with alerts. Signed in only
(``service.web.security``); every answer is cut to what the principal may see (``service.domain.access``).

Nothing here returns zone geometry or any position: zones mark where the victim lives and works.
The victim's position has its own endpoint, on a need-to-know basis (``orders_api``).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, abort, jsonify, request

from service.domain import access
from service.domain.her_data import stream_message, without_her_data
from service.errors import Forbidden, NotFound
from service.reads import alerts as alert_reads
from service.reads import orders as order_reads
from service.web import deps
from service.web.errors import FieldError, error
from service.web.security import audit, principal
from service.wire.rfc3339 import format_ts

bp = Blueprint("api", __name__, url_prefix="/api/v1")
ALERT_STATUSES = ("open", "acknowledged", "dispatched", "on_scene", "resolved")
ACTIONS = ("acknowledge", "dispatch", "on_scene", "resolve", "refer")


@bp.get("/orders")
def list_orders():  # type: ignore[no-untyped-def]
    """The orders the principal may see, with type, court, dates, status and version."""
    return jsonify(orders=[_order(r) for r in order_reads.visible_orders(deps().engine, principal())])


@bp.get("/orders/<order_id>")
def get_order(order_id: str):  # type: ignore[no-untyped-def]
    """One order: its status for the victim; for officers in scope also its parties' ids, zone names and
    its alerts (an audited read of victim data). 404 if unknown or out of scope."""
    return jsonify(order_body(order_id))


def order_body(order_id: str) -> dict[str, Any]:
    """The order as the principal may see it (the API's body; the web app's order page). NotFound (404) when
    unknown or out of scope."""
    p = principal()
    view = order_reads.order_view(deps().engine, p, order_id)
    body = _order(view.row)
    if p.role == access.Role.VICTIM:  # her order's status and how each alert about her is being handled
        body.update(view.ending or {})
        body["alerts"] = view.hers
        return body
    if not access.may_read_order_details(p, view.scope):
        return body
    if view.spec is not None:
        s = view.spec
        body["parties"] = [{"role": x.role, "person_id": x.person_id, "device_id": x.device_id,
                            "report_interval_s": x.report_interval_s} for x in s.parties()]
        body["zones"] = [{"zone_id": z.zone_id, "kind": z.kind, "name": z.name} for z in s.zones]
        body["min_distance_m"] = s.min_distance_m
    body["alerts"] = view.alerts
    audit("read_victim_data", "order", order_id, details={"what": "order details"})
    return body


@bp.get("/alerts")
def list_alerts():  # type: ignore[no-untyped-def]
    """Alerts the principal may see, newest first, at most ``?limit=`` (default 500, at most 1000);
    ``?status=open`` (default), ``acknowledged``, ..., ``resolved`` or ``all``. 400 otherwise."""
    status = request.args.get("status", "open")
    if status not in ALERT_STATUSES + ("all",):
        raise FieldError("status must be open, acknowledged, dispatched, on_scene, resolved or all", "status")
    raw_limit = request.args.get("limit", "500")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
        raise FieldError("limit must be an integer from 1 to 1000", "limit")
    # her phone: her own orders' alerts only, read as such; others: other agencies' alerts are skipped page
    # by page, never cut off ours
    return jsonify(alerts=alert_reads.alert_list(deps().engine, principal(), None if status == "all" else status,
                                                 int(raw_limit)))


STREAM_KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
STREAM_RECHECK_S = 60.0  # the signed-in session is checked again this often: a stream ends with it


@bp.get("/alerts/stream")
def alert_stream():  # type: ignore[no-untyped-def]
    """Server-sent events for the live alert board: every alert message addressed to the caller's agency
    as it is published (``event: alert``, the message as on the agency's MQTT topic), keep-alive comments,
    and ``event: signed_out`` / ``event: reset`` (fell too far behind: reload) before the stream ends.
    Officers of an agency."""
    import queue as queue_mod
    import time

    from flask import Response

    from service.live import RESET

    p = principal()
    if p.role not in access.OFFICER_ROLES or not p.agency_id:
        raise Forbidden("the live board is for officers of an agency")
    feed, auth = deps().feed, deps().auth
    if feed is None or auth is None:
        return error(503, "unavailable", "the live stream needs the running service")
    from flask import g

    bearer = g.get("token")  # the session or API token it was opened with (Bearer or the web app's cookie)
    sub = feed.subscribe(p.agency_id)
    # police and court get their agency's messages as published on its MQTT topic: they answer its alerts
    # (a panic's or a proximity's ``victim`` included). A supervisor never sees her data: her position and
    # everything computed from it or from her zones (distances, ETA, confidence) is cut from every message
    sees_her = p.role in access.VICTIM_POSITION_ROLES

    def events():  # type: ignore[no-untyped-def]
        try:
            yield b"retry: 3000\n: stayaway alert stream\n\n"
            checked = time.monotonic()
            while True:
                try:
                    payload = sub.queue.get(timeout=STREAM_KEEPALIVE_S)
                except queue_mod.Empty:
                    payload = None
                    yield b": keepalive\n\n"
                if payload == RESET:
                    yield b"event: reset\ndata: {}\n\n"
                    return
                if payload and not sees_her:
                    message = stream_message(orjson.loads(payload))  # None: a moving zone's "still inside"
                    payload = None if message is None else orjson.dumps(message)
                if payload:
                    yield b"event: alert\ndata: " + payload + b"\n\n"
                if time.monotonic() - checked >= STREAM_RECHECK_S:
                    checked = time.monotonic()
                    if auth.authenticate(bearer) is None:
                        yield b"event: signed_out\ndata: {}\n\n"
                        return
        finally:
            feed.unsubscribe(sub)

    return Response(events(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.get("/notices")
def my_notices():  # type: ignore[no-untyped-def]
    """The victim's app (signed in as her phone): the notices sent to it, newest first (the same bodies
    as on ``stayaway/v1/devices/{phone}/notices``). Nobody else has notices: 403."""
    p = principal()
    if p.role != access.Role.VICTIM:
        raise Forbidden("notices are the victim's, read by her phone")
    return jsonify(notices=alert_reads.device_notices(deps().engine, p.subject))


@bp.post("/alerts/<alert_id>/<action>")
def act_on_alert(alert_id: str, action: str):  # type: ignore[no-untyped-def]
    """acknowledge | dispatch (``unit``) | on_scene | resolve (``outcome``, ``note``) | refer (``to_agency``,
    ``note``), by an officer of an agency that received the alert (the signed-in principal is the actor).
    409 with a stable code when the step is not allowed (e.g. ``note_required``, ``already_resolved``);
    404 for an unknown, out-of-scope or already resolved alert; 403 for one its principal may only read."""
    if action not in ACTIONS:
        raise NotFound(f"no action {action}")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "bad_request", "the body must be a JSON object")
    for name in ("note", "unit", "outcome", "to_agency"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            raise FieldError(f"{name} must be a string", name)
    p = principal()
    order_id, kind, _ = alert_reads.actionable(deps().engine, p, alert_id)  # NotFound 404, Forbidden 403
    act = deps().act
    if act is None:
        abort(503, description="alert actions need the running service")
    step = {**{k: body.get(k) for k in ("note", "unit", "outcome", "to_agency")}, "actor": p.subject,
            "agency_id": p.agency_id}
    try:
        alert = act(alert_id, action, step)  # a step not allowed: LifecycleError, 409 with its code
    except NotFound:
        raise NotFound(f"no unresolved alert {alert_id}") from None
    sees_her, moving = alert_reads.acted_rights(deps().engine, p, order_id, kind, alert_id)
    return jsonify(alert=without_her_data(alert, sees_her, moving_zone=moving))


def _order(r: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": r["order_id"], "type": r["type"], "court": r["court_id"],
            "issued_at": format_ts(r["issued_at"]),
            "expires_at": format_ts(r["expires_at"]) if r["expires_at"] else None,
            "status": r["status"], "version": r["version"]}

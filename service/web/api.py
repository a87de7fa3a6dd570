"""JSON API under /api/v1: orders and alerts, and what officers do with alerts. Signed in only
(``service.web.security``); every answer is cut to what the principal may see (``service.domain.access``).

Nothing here returns zone geometry or any position: zones mark where the victim lives and works.
The victim's position has its own endpoint, on a need-to-know basis (``orders_api``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import orjson
from flask import Blueprint, abort, jsonify, request

from alerts.lifecycle import LifecycleError
from service.adapters.db import alerts_repo, config_repo, scope_repo, timeline_repo
from service.domain import access
from service.domain.her_data import (
    BUCKET,
    is_moving_zone,
    stream_message,
    without_her_data,
)
from service.errors import NotFound
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
    p = principal()
    with deps().engine.connect() as conn:
        scopes = scope_repo.order_scopes(conn)
        rows = [r for r in config_repo.order_rows(conn)
                if r["order_id"] in scopes and access.may_read_order(p, scopes[r["order_id"]])]
    return jsonify(orders=[_order(r) for r in rows])


@bp.get("/orders/<order_id>")
def get_order(order_id: str):  # type: ignore[no-untyped-def]
    """One order: its status for the victim; for officers in scope also its parties' ids, zone names and
    its alerts (an audited read of victim data). 404 if unknown or out of scope."""
    return jsonify(order_body(order_id))


def order_body(order_id: str) -> dict[str, Any]:
    """The order as the principal may see it (the API's body; the web app's order page). Aborts 404."""
    p = principal()
    with deps().engine.connect() as conn:
        scope = scope_repo.order_scopes(conn, [order_id]).get(order_id)
        if scope is None or not access.may_read_order(p, scope):
            abort(404, description=f"no order {order_id}")
        rows = [r for r in config_repo.order_rows(conn) if r["order_id"] == order_id]
        spec = config_repo.load_orders(conn, [order_id])
        alerts = [a for a in alerts_repo.alert_rows(conn, order_id=order_id)
                  if access.may_read_alert(p, a["recipients"], order_id, a["kind"])]
        shown = shown_alerts(conn, p, alerts, len(alerts))
        if p.role == access.Role.VICTIM:
            hers = victim_alerts(conn, p, alerts, len(alerts))
            ending = config_repo.order_ending(conn, order_id)
    body = _order(rows[0])
    if p.role == access.Role.VICTIM:  # her order's status and how each alert about her is being handled
        body.update(ending)
        body["alerts"] = hers
        return body
    if not access.may_read_order_details(p, scope):
        return body
    if spec:
        s = spec[0]
        body["parties"] = [{"role": x.role, "person_id": x.person_id, "device_id": x.device_id,
                            "report_interval_s": x.report_interval_s} for x in s.parties()]
        body["zones"] = [{"zone_id": z.zone_id, "kind": z.kind, "name": z.name} for z in s.zones]
        body["min_distance_m"] = s.min_distance_m
    body["alerts"] = shown
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
    p = principal()
    if p.role == access.Role.VICTIM:  # her own orders' alerts only, read as such
        with deps().engine.connect() as conn:
            rows = alerts_repo.iter_alert_rows(conn, None if status == "all" else status, order_ids=p.order_ids)
            return jsonify(alerts=victim_alerts(conn, p, itertools.islice(rows, 5000), int(raw_limit)))
    with deps().engine.connect() as conn:  # other agencies' alerts are skipped page by page, never cut off ours
        visible = (a for a in alerts_repo.iter_alert_rows(conn, None if status == "all" else status)
                   if access.may_read_alert(p, a["recipients"], a["order_id"], a["kind"]))
        shown = shown_alerts(conn, p, visible, int(raw_limit))
    return jsonify(alerts=shown)


def victim_alerts(conn: Any, p: access.Principal, rows: Iterable[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Her phone's view of the alerts about her: not a silent panic's (he may be holding her phone), not a
    retroactive (evidence-only) one, each as :func:`victim_alert`."""
    mine = [a for a in rows if access.may_read_alert(p, a["recipients"], a["order_id"], a["kind"])
            and not a["retroactive"]][:limit * 2]
    silent = alerts_repo.silent_panics(conn, [a["alert_id"] for a in mine])
    return [victim_alert(a) for a in mine if a["alert_id"] not in silent][:limit]


def victim_alert(a: dict[str, Any]) -> dict[str, Any]:
    """An alert about her, as her phone sees it: what it is and how far its handling has come, never a
    position, a distance, nor which agencies (their names are in her notices)."""
    def ts(name: str) -> str | None:
        return format_ts(a[name]) if a.get(name) else None

    by_system = a.get("resolved_by") == "system"  # closed when its condition ended: for the moving zone's
    # warning ring that moment is when he left a ring around her, which no notice of hers says: not shown
    return {"alert_id": a["alert_id"], "order_id": a["order_id"], "kind": a["kind"], "status": a["status"],
            "zone_id": a["zone_id"], "condition": "active" if a["condition_active"] else "ended",
            "raised_at": ts("raised_at"), "acknowledged_at": ts("acknowledged_at"), "dispatched_at": ts("dispatched_at"),
            "on_scene_at": ts("on_scene_at"), "resolved_at": None if by_system else ts("resolved_at"),
            "outcome": a.get("outcome"), "escalation_level": a["escalation_level"]}


def shown_alerts(conn: Any, p: access.Principal, rows: Iterable[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` of ``rows`` (alert rows the principal may read, newest first), each as the API gives
    it (``_alert``, cut by ``her_data.without_her_data`` with the principal's rights on its order), newest
    first by the time shown: a moving zone's alert, for a caller who may not see her, by its time rounded
    down, so neither its place in the list nor whether ``limit`` takes it tells its time to the second.
    Reads past the ``limit``-th row only as far as a rounded time could still come before it."""
    taken: list[dict[str, Any]] = []
    stop_below = None
    for a in rows:
        if stop_below is not None and a["raised_at"] < stop_below:
            break
        taken.append(a)
        if len(taken) == limit:  # later rows were raised earlier still: rounding moves none ahead of these
            stop_below = a["raised_at"] - BUCKET
    rights = her_data_rights(conn, p, {a["order_id"] for a in taken})
    cut = [without_her_data(_alert(a), rights.get(a["order_id"], False)) for a in taken]
    cut.sort(key=lambda a: a["alert_id"])
    cut.sort(key=lambda a: a["raised_at"], reverse=True)  # stable: the same time, by id (as the query)
    return cut[:limit]


def her_data_rights(conn: Any, p: access.Principal, order_ids: Iterable[str]) -> dict[str, bool]:
    """Per order (absent: no), whether ``p`` may see her data now, positions and places and what is computed
    from them (``her_data.without_her_data``): the need-to-know rule, ``access.victim_position_access``, on
    the order's open alerts (a read that states no reason: break-glass is the timeline's)."""
    if p.role not in access.VICTIM_POSITION_ROLES:
        return {}
    open_alerts = timeline_repo.open_alerts(conn, order_ids)
    wanted = [o for o, kinds in open_alerts.items() if access.open_alert_needs_her(p, kinds)]
    scopes = scope_repo.order_scopes(conn, wanted) if wanted else {}
    return {o: access.victim_position_access(p, scope, open_alerts[o], None).allowed for o, scope in scopes.items()}


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
        return error(403, "forbidden", "the live board is for officers of an agency")
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
        return error(403, "forbidden", "notices are the victim's, read by her phone")
    with deps().engine.connect() as conn:
        bodies = alerts_repo.device_notices(conn, p.subject)
    return jsonify(notices=bodies)


@bp.post("/alerts/<alert_id>/<action>")
def act_on_alert(alert_id: str, action: str):  # type: ignore[no-untyped-def]
    """acknowledge | dispatch (``unit``) | on_scene | resolve (``outcome``, ``note``) | refer (``to_agency``,
    ``note``), by an officer of an agency that received the alert (the signed-in principal is the actor).
    409 with a stable code when the step is not allowed (e.g. ``note_required``, ``already_resolved``);
    404 for an unknown, out-of-scope or already resolved alert; 403 for one its principal may only read."""
    if action not in ACTIONS:
        abort(404, description=f"no action {action}")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error(400, "bad_request", "the body must be a JSON object")
    for name in ("note", "unit", "outcome", "to_agency"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            return error(400, "validation", f"{name} must be a string", name)
    p = principal()
    with deps().engine.connect() as conn:
        found = scope_repo.alert_scope(conn, alert_id)
    if found is None or not access.may_read_alert(p, found[2], found[0], found[1]):
        return error(404, "not_found", f"no unresolved alert {alert_id}")
    if not access.may_act_on_alert(p, found[2]):
        return error(403, "forbidden", "only officers of an agency that received the alert handle it")
    act = deps().act
    if act is None:
        abort(503, description="alert actions need the running service")
    step = {**{k: body.get(k) for k in ("note", "unit", "outcome", "to_agency")}, "actor": p.subject,
            "agency_id": p.agency_id}
    try:
        alert = act(alert_id, action, step)
    except NotFound:
        return error(404, "not_found", f"no unresolved alert {alert_id}")
    except LifecycleError as exc:
        return error(409, exc.code, str(exc))
    with deps().engine.connect() as conn:
        sees_her = her_data_rights(conn, p, [found[0]]).get(found[0], False)
        moving = not sees_her and is_moving_zone({"kind": found[1], "zone_id": timeline_repo.alert_zone(conn, alert_id)})
    return jsonify(alert=without_her_data(alert, sees_her, moving_zone=moving))


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
            "last_event_at": format_ts(a["last_event_at"]),
            "acknowledged_at": format_ts(a["acknowledged_at"]) if a["acknowledged_at"] else None,
            "escalation_level": a["escalation_level"],
            "next_escalation_at": format_ts(a["next_escalation_at"]) if a["next_escalation_at"] else None,
            "owner": a.get("owner"),
            "dispatch_due_at": format_ts(a["dispatch_due_at"]) if a.get("dispatch_due_at") else None,
            "on_scene_due_at": format_ts(a["on_scene_due_at"]) if a.get("on_scene_due_at") else None}

"""The court's steps on orders, their history, service records, and the victim's position on a
need-to-know basis. Signed in only; scopes from ``service.domain.access``, rules from
``service.domain.law`` (the victim's consent never switches an order off: no victim call changes one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, request

from service.adapters.db import (
    alerts_repo,
    config_repo,
    scope_repo,
    state_repo,
    timeline_repo,
)
from service.adapters.db import schema as t
from service.domain import access
from service.domain.law import DeviceUnavailable, LegalError
from service.domain.responsibility import NoPoliceAgency, UnknownPoliceAgency
from service.errors import InvalidInput, NotFound
from service.web import deps
from service.web.errors import FieldError, error, time_arg, time_value
from service.web.security import audit, principal
from service.wire.rfc3339 import format_ts, parse_ts

bp = Blueprint("orders_api", __name__, url_prefix="/api/v1/orders")


@bp.post("")
def create_order():  # type: ignore[no-untyped-def]
    """Body: the order file (contract section 4); optional ``supersedes`` (a temporary order this ordinary
    order replaces) and ``reason``. 201 ``{"order_id", "version"}``. Court officers of the order's court."""
    body = _body()
    court = body.get("court")
    if not isinstance(court, str) or not access.may_create_order(principal(), court):
        return error(403, "forbidden", "only an officer of the order's court issues it", "court")
    result = _run(lambda admin: admin.create(body, principal().law_actor()))
    if isinstance(result, tuple):
        return result
    audit("order_issued", "order", result["order_id"])
    return jsonify(result), 201


@bp.post("/<order_id>/modify")
def modify_order(order_id: str):  # type: ignore[no-untyped-def]
    """Body ``{"order": <the whole new order body>, "reason", "decided_at"?}``: zones, distances, devices,
    in force from the court's decision date (``decided_at``, default now; 409 ``bad_decision_date`` before
    the order's issue or the version in force, or in the future). The legal fields (type, court, dates)
    change only through their own steps."""
    body = _body()
    _court_only(order_id)
    decided = _when(body, "decided_at")
    return _done(_run(lambda admin: admin.modify(order_id, body.get("order"), principal().law_actor(),
                                                 _text(body, "reason"), decided)))


@bp.post("/<order_id>/replace-device")
def replace_device(order_id: str):  # type: ignore[no-untyped-def]
    """Body ``{"role": "respondent" | "victim", "device_id", "reason"}``: a new version with the party's new
    device; the old one keeps reporting for the order until the new one's first message. A device another
    holder has is 409 ``device_unavailable``, the same answer as for any other device it may not name."""
    body = _body()
    _court_only(order_id)
    if not isinstance(body.get("device_id"), str):
        return error(400, "validation", "device_id must be a string", "device_id")
    return _done(_run(lambda admin: admin.replace_device(order_id, str(body.get("role")), body["device_id"],
                                                         principal().law_actor(), _text(body, "reason"))))


@bp.post("/<order_id>/release-device")
def release_device(order_id: str):  # type: ignore[no-untyped-def]
    """Body ``{"role": "respondent" | "victim", "what": "device" | "owntracks_topic", "reason"}``: the order
    gives the party's device (with its OwnTracks topic) or its topic up, so that another order may name it.
    The order goes on without it: a new version, ``device_released`` in its history, a notice to its court.
    Its court, or an admin (any order: admins see no case data, so the answer holds no more than this).
    Every attempt is in the access audit."""
    body = _body()
    p, reason = principal(), _text(body, "reason")
    details = {k: str(body.get(k))[:32] for k in ("role", "what")}
    if p.role == access.Role.ADMIN:
        with deps().engine.connect() as conn:
            known = scope_repo.order_scopes(conn, [order_id]).get(order_id) is not None
    else:
        with deps().engine.connect() as conn:
            scope = scope_repo.order_scopes(conn, [order_id]).get(order_id)
        known = scope is not None and access.may_read_order(p, scope)
        if known and not access.may_change_order(p, scope):  # type: ignore[arg-type]
            audit("release_device", "order", order_id, reason, "denied", details)
            abort(403, description="only the order's court (or an admin) releases its devices")
    if not known:
        audit("release_device", "order", order_id, reason, "denied", details)
        abort(404, description=f"no order {order_id}")
    result = _run(lambda admin: admin.release_device(order_id, str(body.get("role")), str(body.get("what")),
                                                     p.law_actor(), reason))
    audit("release_device", "order", order_id, reason, "failed" if isinstance(result, tuple) else "ok",
          details if isinstance(result, tuple) else {**details, "version": result["version"]})
    return _done(result)


@bp.post("/<order_id>/extend")
def extend_order(order_id: str):  # type: ignore[no-untyped-def]
    """Body ``{"expires_at", "reason", "decided_at"?}``: as the court's legal profile allows (ADVL: by at most
    6 months each time; draft: once, by at most one year: 409 ``already_extended``, ``extension_too_long``),
    decided before the order lapses (409 ``bad_decision_date``)."""
    body = _body()
    _court_only(order_id)
    new_expiry = parse_ts(body.get("expires_at"))  # None for anything but a time within the years 1900-2199
    if new_expiry is None:
        return error(400, "validation", "expires_at must be an RFC 3339 time within the years 1900-2199", "expires_at")
    decided = _when(body, "decided_at")
    return _done(_run(lambda admin: admin.extend(order_id, new_expiry, principal().law_actor(), _text(body, "reason"),
                                                 decided)))


@bp.post("/<order_id>/cancel")
def cancel_order(order_id: str):  # type: ignore[no-untyped-def]
    """Body ``{"reason", "decided_at"?}``: the order ends at the court's decision date (default now)."""
    body = _body()
    _court_only(order_id)
    decided = _when(body, "decided_at")
    return _done(_run(lambda admin: admin.cancel(order_id, principal().law_actor(), _text(body, "reason"), decided)))


@bp.post("/<order_id>/end")
def end_application(order_id: str):  # type: ignore[no-untyped-def]
    """A temporary order's application ``{"outcome": "rejected" | "withdrawn", "reason", "decided_at"?}``."""
    body = _body()
    _court_only(order_id)
    decided = _when(body, "decided_at")
    return _done(_run(lambda admin: admin.end_application(order_id, str(body.get("outcome")), principal().law_actor(),
                                                          _text(body, "reason"), decided)))


@bp.post("/<order_id>/reconsideration")
def reconsideration(order_id: str):  # type: ignore[no-untyped-def]
    """``{"reason", "filed_at"?, "court"?}``: an application for reconsideration is on record, filed
    ``filed_at`` (default now) within the court's profile's window (409 ``reconsideration_window``), at the
    profile's court (ADVL: the issuing court, the default; draft: the next higher court, named in
    ``court``: 409 ``reconsideration_court``), once under ADVL (409 ``reconsideration_once``). It suspends
    nothing: monitoring goes on until the court decides (``.../reconsideration/decision``). Its court."""
    body = _body()
    _court_only(order_id)
    filed = _when(body, "filed_at")
    court = body.get("court")
    if court is not None and not isinstance(court, str):
        return error(400, "validation", "court must be a court agency's id", "court")
    return _done(_run(lambda admin: admin.reconsideration(order_id, principal().law_actor(), _text(body, "reason"),
                                                          filed, court)))


@bp.post("/<order_id>/reconsideration/decision")
def reconsideration_decision(order_id: str):  # type: ignore[no-untyped-def]
    """``{"outcome": "upheld" | "modified" | "cancelled", "reason", "decided_at"?}``: the outcome of the
    pending application (409 ``no_reconsideration`` when none waits). ``cancelled`` ends the order at the
    decision date; ``modified`` is followed by the modification itself (``.../modify`` with the same
    ``decided_at``). Its court."""
    body = _body()
    _court_only(order_id)
    decided = _when(body, "decided_at")
    return _done(_run(lambda admin: admin.reconsideration_decision(order_id, str(body.get("outcome")),
                                                                   principal().law_actor(), _text(body, "reason"),
                                                                   decided)))


@bp.post("/<order_id>/service")
def record_service(order_id: str):  # type: ignore[no-untyped-def]
    """Body ``{"party": respondent | victim | police | committee, "served_at", "method"?}``: by the court,
    or the police in scope."""
    body = _body()
    scope = _scope(order_id)
    if not access.may_record_service(principal(), scope):
        return error(403, "forbidden", "service is recorded by the court or the police in scope")
    served_at = parse_ts(body.get("served_at"))  # None for anything but a time within the years 1900-2199
    if served_at is None:
        return error(400, "validation", "served_at must be an RFC 3339 time within the years 1900-2199", "served_at")
    return _done(_run(lambda admin: admin.record_service(order_id, str(body.get("party")), served_at,
                                                         _text(body, "method"), principal().law_actor())))


@bp.get("/<order_id>/service")
def service_status(order_id: str):  # type: ignore[no-untyped-def]
    _details(order_id)
    return jsonify(service_body(order_id))


def service_body(order_id: str) -> dict[str, Any]:
    """Who has been served, and who not yet of the court's legal profile's service list."""
    setting = deps().orders.legal_profile if deps().orders is not None else None  # type: ignore[union-attr]
    with deps().engine.connect() as conn:
        served = config_repo.service_records(conn, [order_id]).get(order_id, {})
        court = conn.execute(sa.select(t.orders.c.court_id).where(t.orders.c.order_id == order_id)).scalar()
        parties = config_repo.court_profile(conn, court, setting).service.parties if court else ()
    return {"order_id": order_id, "served": {k: format_ts(v) for k, v in served.items()},
            "unserved": [x for x in parties if x not in served]}


@bp.get("/<order_id>/versions")
def versions(order_id: str):  # type: ignore[no-untyped-def]
    """Every version: when recorded and in effect, who made it and why, and what it changed (zone names,
    never geometry)."""
    _details(order_id)
    return jsonify(order_id=order_id, versions=versions_body(order_id))


def versions_body(order_id: str) -> list[dict[str, Any]]:
    with deps().engine.connect() as conn:
        rows = config_repo.order_versions(conn, order_id)
    out, before = [], None
    for r in rows:
        body = r["body"] or {}
        changed = sorted(k for k in set(body) | set(before or {}) if (before or {}).get(k) != body.get(k)) \
            if before is not None else []
        out.append({"version": r["version"], "recorded_at": format_ts(r["recorded_at"]),
                    "effective_from": format_ts(r["effective_from"] or r["recorded_at"]), "by": r["actor_id"],
                    "reason": r["reason"], "source": r["source"], "changed": changed,
                    "zones": [f.get("properties", {}).get("name") for f in (body.get("zones") or {}).get("features", [])],
                    "expires_at": body.get("expires_at")})
        before = body
    return out


@bp.get("/<order_id>/history")
def history(order_id: str):  # type: ignore[no-untyped-def]
    """The order's legal history: issued, modified, extended, served, cancelled, superseded, ... with who,
    when and why."""
    _details(order_id)
    return jsonify(order_id=order_id, history=history_body(order_id))


def history_body(order_id: str) -> list[dict[str, Any]]:
    with deps().engine.connect() as conn:
        rows = config_repo.order_history(conn, order_id)
    return [{"event": r["event"], "at": format_ts(r["at"]), "by": r["actor_id"], "role": r["role"],
             "reason": r["reason"], "version": r["version"], "details": r["details"]} for r in rows]


@bp.post("/<order_id>/evidence")
def evidence(order_id: str):  # type: ignore[no-untyped-def]
    """The order's evidence bundle (a signed zip: ``stayaway evidence verify`` checks it): its court's officers
    and supervisors, with ``{"reason"}`` (it holds the victim's positions: a stated reason, at least 10
    characters, recorded in the access audit with the file's SHA-256). ``{"edition": "redacted"}`` (or
    ``?edition=redacted``): the edition for disclosure to the respondent's side, without her data. The
    report's language is the caller's: the account's choice, else ``Accept-Language``, else Chinese."""
    import hashlib

    from flask import Response

    from service.evidence.bundle import EDITIONS, export
    from service.web.i18n import negotiate

    p = principal()
    scope = _scope(order_id)
    if not access.may_change_order(p, scope):  # the court's: the bundle holds every record of the case
        audit("export", "order", order_id, None, "denied")
        return error(403, "forbidden", "evidence bundles are exported by the order's court")
    body = request.get_json(silent=True)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or len(reason.strip()) < access.MIN_REASON_CHARS:
        raise FieldError(f"state the reason for this export (at least {access.MIN_REASON_CHARS} characters)", "reason")
    edition = (body.get("edition") if isinstance(body, dict) else None) or request.args.get("edition", "full")
    if edition not in EDITIONS:
        raise FieldError(f"edition: one of {', '.join(EDITIONS)}", "edition")
    if deps().evidence_key is None:
        abort(503, description="no evidence key configured")
    auth = deps().auth
    locale = negotiate(auth.locale(p.subject) if auth is not None else None, request.headers.get("Accept-Language"))
    data = export(deps().engine, order_id, deps().evidence_key, lambda: datetime.now(UTC), p.subject, locale, edition)
    audit("export", "order", order_id, reason, "ok", {"sha256": hashlib.sha256(data).hexdigest(), "edition": edition})
    return Response(data, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{order_id}-evidence'
                                                    f'{"-redacted" if edition == "redacted" else ""}.zip"'})


@bp.post("/<order_id>/victim-location")
def victim_location(order_id: str):  # type: ignore[no-untyped-def]
    """Where the victim's phone last was: police and court in scope, while an alert that needs it (panic,
    proximity) is open, or with ``{"reason": ...}`` (break-glass, at least 10 characters). Every call is an
    access-audit record, allowed or not. A POST: the reason stays out of URLs and access logs."""
    body = request.get_json(silent=True) or {}
    reason = body.get("reason") if isinstance(body, dict) and isinstance(body.get("reason"), str) else None
    p = principal()
    with deps().engine.connect() as conn:  # the reads; the audit is written after, outside this transaction
        scope = scope_repo.order_scopes(conn, [order_id]).get(order_id)
        decision = None
        if scope is not None and access.may_read_order(p, scope):
            open_alerts = [(a["kind"], a["recipients"]) for a in alerts_repo.alert_rows(conn, "open", order_id)]
            decision = access.victim_position_access(p, scope, open_alerts, reason)
            specs = config_repo.load_orders(conn, [order_id])
            device = specs[0].victim.device_id if specs else None
            fix = state_repo.latest_fixes(conn, [device]).get(device) if decision.allowed and device else None
    if decision is None:
        audit("read_victim_data", "order", order_id, reason, "denied", {"what": "victim location"})
        abort(404, description=f"no order {order_id}")
    audit("read_victim_data", "order", order_id, reason, "ok" if decision.allowed else "denied",
          {"what": "victim location", "basis": decision.basis})
    if not decision.allowed:
        return error(403, "need_to_know", decision.why)
    position = None if fix is None else {"lat": fix.lat, "lon": fix.lon, "acc": fix.accuracy_m, "ts": format_ts(fix.ts)}
    return jsonify(order_id=order_id, basis=decision.basis, victim=position)


@bp.get("/<order_id>/timeline")
def timeline(order_id: str):  # type: ignore[no-untyped-def]
    """The breach timeline over ``?from=&to=`` (RFC 3339; default the last 24 h, at most 31 days): the
    respondent's track, and every alert event of the order with who did it and when (zone entries and
    exits, updates, escalations, officers' steps). The victim's track and positions, and what is computed
    from them or from her zones (``distance_m``, ``confidence``), only while an alert that needs them (panic,
    proximity) is open: otherwise omitted. Officers in scope; an audited read."""
    until = time_arg("to") or datetime.now(UTC)
    since = time_arg("from") or until - timedelta(hours=24)
    if not since < until or until - since > MAX_TIMELINE:
        return error(400, "validation", "from must be before to, at most 31 days apart", "from")
    return jsonify(timeline_body(order_id, since, until))


MAX_TIMELINE = timedelta(days=31)


def timeline_body(order_id: str, since: datetime, until: datetime, reason: str | None = None) -> dict[str, Any]:
    """The timeline as the principal may see it (the API's body; the web app's order page). The victim's
    track while an alert that needs it is open, or with a ``reason`` (break-glass, recorded); the read is
    audited either way. Every event goes through ``her_data.without_her_data`` with the same decision, so
    what is computed from her positions or places comes with her track or not at all; without it, the
    moving zone's events come by their time to the 10 minutes, and his fixes near them (and his latest,
    while a moving zone is watched) are withheld (``withheld``: the windows, within the period). 404 / 403
    (aborts) as ``_details``."""
    from service.domain import her_data

    p = principal()
    scope = _details(order_id)
    windows: list[her_data.Window] = []
    with deps().engine.connect() as conn:
        open_alerts = [(a["kind"], a["recipients"]) for a in alerts_repo.alert_rows(conn, "open", order_id)]
        decision = access.victim_position_access(p, scope, open_alerts, reason)
        periods = timeline_repo.device_periods(conn, [order_id]).get(order_id, [])
        his = timeline_repo.track_in(conn, periods, "respondent", since, until)
        hers = timeline_repo.track_in(conn, periods, "victim", since, until) if decision.allowed else None
        # a moving zone's event counts by its time rounded down (read a bucket further, then cut)
        events = timeline_repo.alert_events(conn, order_id, since, until + her_data.BUCKET)
        if not decision.allowed:
            watched = any(s.min_distance_m is not None for s in config_repo.load_orders(conn, [order_id]))
            windows = her_data.withheld_windows(
                timeline_repo.moving_zone_spans(conn, order_id, since, until),
                timeline_repo.latest_fix_ts(conn, periods, "respondent") if watched else None)
    his = [x for x in his if not her_data.withheld_fix(x["device_ts"], x["received_at"], _flags(x), windows)]
    details = {"what": "timeline", "victim_positions": "included" if decision.allowed else "omitted"}
    if reason is not None:
        details["basis"] = decision.basis
    audit("read_victim_data", "order", order_id, reason, "ok", details)
    return {"order_id": order_id, "period": {"from": format_ts(since), "to": format_ts(until)},
            "victim_positions": "included" if decision.allowed else "omitted",
            "withheld": her_data.in_period(windows, since, until),
            "respondent_track": [_point(x) for x in his],
            "victim_track": None if hers is None else [_point(x) for x in hers],
            "events": her_data.shown_events([_event(e, p.agency_id) for e in events], decision.allowed, since, until,
                                            {e["alert_id"]: e["raised_at"] for e in events}, windows)}


def _flags(r: dict[str, Any]) -> list[str]:
    return [f for f in (r["flags"] or "").split(",") if f]


def _point(r: dict[str, Any]) -> dict[str, Any]:
    return {"device_id": r["device_id"], "ts": format_ts(r["device_ts"]), "lat": r["lat"], "lon": r["lon"],
            "acc": r["acc_m"], "flags": _flags(r)}


# from the alert message as the caller's agency got it; her data among them (victim, distance_m, confidence)
# is cut by ``her_data.without_her_data`` unless the need-to-know rule lets the caller see her
TIMELINE_FIELDS = ("distance_m", "condition", "confidence", "retroactive", "escalation", "action", "unit", "outcome",
                   "referred_to", "device_id", "ended_at", "silent", "flips", "respondent", "zone", "victim",
                   "owner", "actor_agency", "dispatch_due_at", "on_scene_due_at")


def _event(e: dict[str, Any], agency_id: str | None) -> dict[str, Any]:
    messages = e["message"] or {}
    message = messages.get(agency_id) or next(iter(messages.values()), {})  # as the caller's agency got it
    out = {"at": format_ts(e["at"]), "alert_id": e["alert_id"], "event_seq": e["event_seq"], "kind": e["kind"],
           "severity": e["severity"], "event": e["event"], "status": e["status"], "zone_id": e["zone_id"],
           "by": e["actor"], "source": e["source"], "recipients": list(e["recipients"] or ())}
    out.update({k: message[k] for k in TIMELINE_FIELDS if k in message})
    if e.get("note"):
        out["note"] = e["note"]
    return out




# -- helpers -------------------------------------------------------------------------------------------

def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="the body must be a JSON object")
    return body


def _when(body: dict[str, Any], name: str) -> datetime | None:
    """A time field of the body: None when absent or null (the step's default: now); 400 naming the field
    when it is anything but an RFC 3339 time within the years 1900-2199."""
    return time_value(body.get(name), name)


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None


def _scope(order_id: str) -> access.OrderScope:
    with deps().engine.connect() as conn:
        scope = scope_repo.order_scopes(conn, [order_id]).get(order_id)
    if scope is None or not access.may_read_order(principal(), scope):
        abort(404, description=f"no order {order_id}")
    return scope


def _details(order_id: str) -> access.OrderScope:
    scope = _scope(order_id)
    if not access.may_read_order_details(principal(), scope):
        abort(403, description="officers in scope only")
    return scope


def _court_only(order_id: str) -> None:
    if not access.may_change_order(principal(), _scope(order_id)):
        audit("order_change", "order", order_id, None, "denied")
        abort(403, description="only the order's court changes it; the victim's consent never suspends it")


def _run(step: Callable[[Any], dict[str, Any]]) -> Any:
    admin = deps().orders
    if admin is None:
        abort(503, description="order changes need the running service")
    try:
        return step(admin)
    except LegalError as exc:
        return error(409, exc.code, exc.message, exc.field)
    except DeviceUnavailable as exc:  # one answer whatever the reason: it never tells what another court holds
        return error(409, exc.code, str(exc), exc.field)
    except (NoPoliceAgency, UnknownPoliceAgency) as exc:  # every safety alert must reach police
        return error(422, exc.code, str(exc), exc.field)
    except InvalidInput as exc:
        return error(400, "validation", str(exc), exc.field)
    except NotFound as exc:
        return error(404, "not_found", str(exc))


def _done(result: Any):  # type: ignore[no-untyped-def]
    if isinstance(result, tuple):
        return result
    return jsonify({k: format_ts(v) if hasattr(v, "tzinfo") and v is not None else v for k, v in result.items()})

"""The court's steps on orders, their history, service records, and the victim's position on a
need-to-know basis. Signed in only; scopes from ``service.domain.access``, rules from
``service.domain.law`` (the victim's consent never switches an order off: no victim call changes one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, jsonify, request

from service.domain import access
from service.domain.law import LegalError
from service.errors import Forbidden, InvalidInput, NotFound
from service.reads import orders as reads
from service.web import deps
from service.web.errors import FieldError, time_arg, time_value
from service.web.security import audit, detailed_order, principal, readable_order
from service.web.timeline import MAX_TIMELINE, timeline_body
from service.wire.rfc3339 import format_ts, parse_ts

bp = Blueprint("orders_api", __name__, url_prefix="/api/v1/orders")


@bp.post("")
def create_order():  # type: ignore[no-untyped-def]
    """Body: the order file (contract section 4); optional ``supersedes`` (a temporary order this ordinary
    order replaces) and ``reason``. 201 ``{"order_id", "version"}``. Court officers of the order's court."""
    body = _body()
    court = body.get("court")
    if not isinstance(court, str) or not access.may_create_order(principal(), court):
        raise Forbidden("only an officer of the order's court issues it", field="court")
    result = _run(lambda admin: admin.create(body, principal().law_actor()))
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
        raise FieldError("device_id must be a string", "device_id")
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
    scope = reads.order_scope(deps().engine, order_id)
    if p.role == access.Role.ADMIN:
        known = scope is not None
    else:
        known = scope is not None and access.may_read_order(p, scope)
        if known and not access.may_change_order(p, scope):  # type: ignore[arg-type]
            audit("release_device", "order", order_id, reason, "denied", details)
            raise Forbidden("only the order's court (or an admin) releases its devices")
    if not known:
        audit("release_device", "order", order_id, reason, "denied", details)
        raise NotFound(f"no order {order_id}")
    try:
        result = _run(lambda admin: admin.release_device(order_id, str(body.get("role")), str(body.get("what")),
                                                         p.law_actor(), reason))
    except STEP_ERRORS:
        audit("release_device", "order", order_id, reason, "failed", details)
        raise
    audit("release_device", "order", order_id, reason, "ok", {**details, "version": result["version"]})
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
        raise FieldError("expires_at must be an RFC 3339 time within the years 1900-2199", "expires_at")
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
        raise FieldError("court must be a court agency's id", "court")
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
    scope = readable_order(order_id)
    if not access.may_record_service(principal(), scope):
        raise Forbidden("service is recorded by the court or the police in scope")
    served_at = parse_ts(body.get("served_at"))  # None for anything but a time within the years 1900-2199
    if served_at is None:
        raise FieldError("served_at must be an RFC 3339 time within the years 1900-2199", "served_at")
    return _done(_run(lambda admin: admin.record_service(order_id, str(body.get("party")), served_at,
                                                         _text(body, "method"), principal().law_actor())))


@bp.get("/<order_id>/service")
def service_status(order_id: str):  # type: ignore[no-untyped-def]
    detailed_order(order_id)
    return jsonify(service_body(order_id))


def service_body(order_id: str) -> dict[str, Any]:
    """Who has been served, and who not yet of the court's legal profile's service list."""
    setting = deps().orders.legal_profile if deps().orders is not None else None  # type: ignore[union-attr]
    served, parties = reads.service_status(deps().engine, order_id, setting)
    return {"order_id": order_id, "served": {k: format_ts(v) for k, v in served.items()},
            "unserved": [x for x in parties if x not in served]}


@bp.get("/<order_id>/versions")
def versions(order_id: str):  # type: ignore[no-untyped-def]
    """Every version: when recorded and in effect, who made it and why, and what it changed (zone names,
    never geometry)."""
    detailed_order(order_id)
    return jsonify(order_id=order_id, versions=versions_body(order_id))


def versions_body(order_id: str) -> list[dict[str, Any]]:
    rows = reads.versions(deps().engine, order_id)
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
    detailed_order(order_id)
    return jsonify(order_id=order_id, history=history_body(order_id))


def history_body(order_id: str) -> list[dict[str, Any]]:
    rows = reads.history(deps().engine, order_id)
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
    scope = readable_order(order_id)
    if not access.may_change_order(p, scope):  # the court's: the bundle holds every record of the case
        audit("export", "order", order_id, None, "denied")
        raise Forbidden("evidence bundles are exported by the order's court")
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
    decision, fix = reads.victim_fix(deps().engine, p, order_id, reason)  # the audit is written after
    if decision is None:
        audit("read_victim_data", "order", order_id, reason, "denied", {"what": "victim location"})
        raise NotFound(f"no order {order_id}")
    audit("read_victim_data", "order", order_id, reason, "ok" if decision.allowed else "denied",
          {"what": "victim location", "basis": decision.basis})
    if not decision.allowed:
        raise Forbidden(decision.why, "need_to_know")
    position = None if fix is None else {"lat": fix.lat, "lon": fix.lon, "acc": fix.accuracy_m, "ts": format_ts(fix.ts)}
    return jsonify(order_id=order_id, basis=decision.basis, victim=position)


@bp.get("/<order_id>/timeline")
def timeline(order_id: str):  # type: ignore[no-untyped-def]
    """The breach timeline over ``?from=&to=`` (RFC 3339; default the last 24 h, at most 31 days): the
    respondent's track, and every alert event of the order with who did it and when (zone entries and
    exits, updates, escalations, officers' steps). The victim's track and positions, and what is computed
    from them or from her zones (``distance_m``, ``confidence``), only while an alert that needs them (panic,
    proximity) is open: otherwise omitted. Officers in scope; an audited read (``service.web.timeline``)."""
    until = time_arg("to") or datetime.now(UTC)
    since = time_arg("from") or until - timedelta(hours=24)
    if not since < until or until - since > MAX_TIMELINE:
        raise FieldError("from must be before to, at most 31 days apart", "from")
    return jsonify(timeline_body(order_id, since, until))


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


def _court_only(order_id: str) -> None:
    if not access.may_change_order(principal(), readable_order(order_id)):
        audit("order_change", "order", order_id, None, "denied")
        raise Forbidden("only the order's court changes it; the victim's consent never suspends it")


# what a court's step refuses with (service.web.errors maps each: LegalError and DeviceUnavailable 409 with their
# code, NoPoliceAgency 422, InvalidInput 400 naming the field, NotFound 404)
STEP_ERRORS = (LegalError, InvalidInput, NotFound)


def _run(step: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    admin = deps().orders
    if admin is None:
        abort(503, description="order changes need the running service")
    return step(admin)


def _done(result: dict[str, Any]):  # type: ignore[no-untyped-def]
    return jsonify({k: format_ts(v) if hasattr(v, "tzinfo") and v is not None else v for k, v in result.items()})

"""An order's breach timeline as the principal may see it: the API's body (``GET /api/v1/orders/<id>/timeline``,
in ``orders_api``) and the web app's order page. The reads are the service layer's
(``service.reads.timeline``); her data is cut here by ``service.domain.her_data`` with the one decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from service.domain import her_data
from service.reads.timeline import timeline_reads
from service.web import deps
from service.web.security import audit, detailed_order, principal
from service.wire.rfc3339 import format_ts

MAX_TIMELINE = timedelta(days=31)


def timeline_body(order_id: str, since: datetime, until: datetime, reason: str | None = None) -> dict[str, Any]:
    """The timeline as the principal may see it (the API's body; the web app's order page). The victim's
    track while an alert that needs it is open, or with a ``reason`` (break-glass, recorded); the read is
    audited either way. Every event goes through ``her_data.without_her_data`` with the same decision, so
    what is computed from her positions or places comes with her track or not at all; without it, the
    moving zone's events come by their time to the 10 minutes, and his fixes near them (and his latest,
    while a moving zone is watched) are withheld (``withheld``: the windows, within the period). 404 / 403
    (NotFound, Forbidden) as ``security.detailed_order``."""
    p = principal()
    scope = detailed_order(order_id)
    read = timeline_reads(deps().engine, p, scope, order_id, since, until, reason)
    decision, hers, events, windows = read.decision, read.hers, read.events, read.windows
    his = [x for x in read.his if not her_data.withheld_fix(x["device_ts"], x["received_at"], _flags(x), windows)]
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

"""The redacted edition: what the respondent's side may see (``service.evidence.bundle``'s docstring):
each record cut from a stored one by allow-lists, her data and free text left out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from service.adapters.db import timeline_repo
from service.wire.rfc3339 import format_ts

# allow-lists, as in service.domain.her_data: a field not named here stays out of the redacted edition
_ORDER_BODY = ("order_id", "type", "court", "issued_at", "expires_at", "min_distance_m", "pre_alert_m",
               "exit_margin_m", "datum", "timezone", "possibles_to_breach", "police_agency_id")
_ZONE = ("zone_id", "kind")  # her places by id and kind (home, work...): never their shapes, nor their names
_SERVED = ("party", "served_at", "method")
WITHHELD = "[withheld: free text]"  # a free-text field of the redacted edition (it may name her places)
_IMPORT_ACTOR = "import:"  # an import's actor id: "import:" and the file's path (service.importing)


def _withheld(value: Any) -> Any:
    return None if value is None else WITHHELD


def _actor(actor_id: Any) -> Any:
    return "import:" + WITHHELD if isinstance(actor_id, str) and actor_id.startswith(_IMPORT_ACTOR) else actor_id


def redact(conn: Connection, order_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records without her data (module docstring): each one cut from a stored record, in the same order."""
    from service.adapters.db import config_repo
    from service.domain import her_data

    periods = [p for p in timeline_repo.device_periods(conn, [order_id]).get(order_id, []) if p.role == "respondent"]
    since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    watched = any(s.min_distance_m is not None for s in config_repo.load_orders(conn, [order_id]))
    windows = her_data.withheld_windows(
        timeline_repo.moving_zone_spans(conn, order_id, since, until),
        timeline_repo.latest_fix_ts(conn, periods, "respondent") if watched else None)
    events = timeline_repo.alert_events(conn, order_id, since, until)

    def his(r: dict[str, Any]) -> bool:
        return any(r["device_id"] == p.device_id and r["device_ts"] >= p.start and (p.end is None or r["device_ts"] < p.end)
                   for p in periods)

    out: list[dict[str, Any]] = []
    for r in records:
        kind = r["record"]
        if kind == "order_version":
            out.append({**r, "body": _cut_body(r.get("body")), "reason": _withheld(r.get("reason")),
                        "source": _withheld(r.get("source")), "actor_id": _actor(r.get("actor_id"))})
        elif kind == "order_event":
            details = r.get("details") if isinstance(r.get("details"), dict) else {}
            out.append({**r, "reason": _withheld(r.get("reason")), "actor_id": _actor(r.get("actor_id")),
                        "details": {k: details[k] for k in _SERVED if k in details} if r["event"] == "served" else None})
        elif kind == "location_report":
            if his(r) and not her_data.withheld_fix(r["device_ts"], r.get("received_at"),
                                                    [f for f in (r.get("flags") or "").split(",") if f], windows):
                out.append(r)
        elif kind in ("status_report", "panic_press"):
            if his(r):  # her phone's reports and her panic presses (where she was) stay out
                out.append(r)
        elif kind == "service_record":
            out.append(r)
        # alert_log (its messages carry her fix, distances, her zones' edges) and access_audit: below / left out
    raised = {e["alert_id"]: e["raised_at"] for e in events}
    shown = her_data.shown_events([_alert_event(e) for e in events], False, since, until, raised, windows)
    out.extend({"record": "alert_event", **_cut_event(e)} for e in shown)
    return out


def _cut_event(e: dict[str, Any]) -> dict[str, Any]:
    """An alert event shown without its free text: the officer's note, the zone's name."""
    out = {**e, "by": _actor(e.get("by"))}
    if "note" in out:
        out["note"] = _withheld(out["note"])
    if isinstance(out.get("zone"), dict):
        out["zone"] = {k: v for k, v in out["zone"].items() if k in _ZONE}
    return out


def _cut_body(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    out: dict[str, Any] = {k: body[k] for k in _ORDER_BODY if k in body}
    if isinstance(body.get("respondent"), dict):
        out["respondent"] = body["respondent"]  # his own
    if isinstance(body.get("victim"), dict):
        out["victim"] = {k: v for k, v in body["victim"].items() if k == "person_id"}
    if isinstance(body.get("zones"), dict):
        out["zones"] = [{k: (f.get("properties") or {}).get(k) for k in _ZONE}
                        for f in body["zones"].get("features") or [] if isinstance(f, dict)]
    return out


# the fields of an alert message the timeline shows (cut again by her_data.shown_events)
_EVENT_FIELDS = ("distance_m", "condition", "confidence", "retroactive", "escalation", "action", "unit", "outcome",
                 "referred_to", "device_id", "ended_at", "silent", "flips", "respondent", "zone", "victim",
                 "occurred_at")


def _alert_event(e: dict[str, Any]) -> dict[str, Any]:
    message = next(iter((e["message"] or {}).values()), {})
    out = {"at": format_ts(e["at"]), "alert_id": e["alert_id"], "event_seq": e["event_seq"], "kind": e["kind"],
           "severity": e["severity"], "event": e["event"], "status": e["status"], "zone_id": e["zone_id"],
           "by": e["actor"], "source": e["source"], "raised_at": format_ts(e["raised_at"])}
    out.update({k: message[k] for k in _EVENT_FIELDS if k in message})
    if e.get("note"):
        out["note"] = e["note"]
    return out

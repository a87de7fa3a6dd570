"""Alert messages for agencies (contract section 2), plus documented additions.

Additions (docs/protocol.md): ``event_id`` and ``event_seq`` (deduplicate
at-least-once deliveries), ``agency_id``, ``condition`` (``active`` or
``ended``), ``ended_at``, ``silent`` on panics, ``episode_id``, ``confidence``
(``confirmed`` or ``possible``), ``eta_s`` on pre-alerts, ``crossed`` for a
drive-through, ``min_distance_m`` on proximity, ``flips`` on a storm-controlled
device condition, ``escalation.escalated_to`` on a ``next_agency`` step, ``after_end``, ``order_status`` and
``order_ended_at`` on a panic pressed in the grace after her order ended; ``owner`` (the agency whose clock
it is), ``dispatch_due_at`` and ``on_scene_due_at`` once the owner acknowledged, ``actor_agency`` on a person's
step, ``escalation.deadline`` and ``escalation.overdue_s`` on an escalation. ``victim`` appears only for
``panic`` and ``proximity`` and only to police and court recipients.
"""

from __future__ import annotations

from typing import Any

from alerts.model import VICTIM_POSITION_KINDS, Kind
from geofence import Fix
from service.wire.rfc3339 import format_ts

VICTIM_RECIPIENT_KINDS = frozenset({"police", "court"})


def alert_topic(agency_id: str) -> str:
    return f"stayaway/v1/agencies/{agency_id}/alerts"


def agency_notice_topic(agency_id: str) -> str:
    """Notices for an agency that are not alerts (an addition: an order unserved 24 h after issue)."""
    return f"stayaway/v1/agencies/{agency_id}/notices"


def device_topic(device_id: str, channel: str = "commands") -> str:
    """``commands`` or ``notices`` (contract section 3)."""
    return f"stayaway/v1/devices/{device_id}/{channel}"


def alert_message(
    event: Any, agency_id: str, agency_kind: str, respondent: Fix | None, victim: Fix | None,
    zone: Any | None, distance_m: float | None,
) -> dict[str, Any]:
    """``event`` is an ``alerts.AlertEvent``; ``zone`` a ``ZoneSpec`` or None."""
    alert = event.alert
    msg: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "order_id": alert.order_id,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "event": event.event.value,
        "status": alert.status.value,
        "at": format_ts(event.at),
        "occurred_at": format_ts(alert.occurred_at),
        "retroactive": alert.retroactive,
        "event_id": f"{alert.alert_id}:{alert.event_seq}",
        "event_seq": alert.event_seq,
        "agency_id": agency_id,
        "condition": "active" if alert.condition_active else "ended",
    }
    if respondent is not None:
        msg["respondent"] = _fix(respondent)
    if victim is not None and alert.kind in VICTIM_POSITION_KINDS and agency_kind in VICTIM_RECIPIENT_KINDS:
        msg["victim"] = _fix(victim)
    if zone is not None:
        msg["zone"] = {"zone_id": zone.zone_id, "kind": zone.kind, "name": zone.name}
    if distance_m is not None:
        msg["distance_m"] = distance_m
    if "ended_at" in event.details:
        msg["ended_at"] = format_ts(event.details["ended_at"])
    if "order_ended_at" in event.details:  # a panic after the order's end, in its grace
        msg["order_ended_at"] = format_ts(event.details["order_ended_at"])
    if alert.owner is not None:
        msg["owner"] = alert.owner
    for key in ("dispatch_due_at", "on_scene_due_at"):
        if getattr(alert, key) is not None:
            msg[key] = format_ts(getattr(alert, key))
    if event.details.get("actor_agency"):
        msg["actor_agency"] = event.details["actor_agency"]
    if alert.kind == Kind.PANIC:
        msg["silent"] = bool(event.details.get("silent", False))
    else:
        msg["episode_id"] = alert.alert_id  # every event of one episode (start, updates, end) carries it
    for key in ("confidence", "eta_s", "crossed", "min_distance_m", "device_id", "action", "unit", "outcome",
                "referred_to", "flips", "after_end", "order_status"):
        if key in event.details and event.details[key] is not None:
            msg[key] = event.details[key]
    if event.event.value == "escalated":
        msg["escalation"] = {"level": event.details.get("level"), "action": event.details.get("action")}
        for key in ("deadline", "overdue_s"):  # which deadline passed (acknowledge, dispatch, on_scene), how late
            if event.details.get(key) is not None:
                msg["escalation"][key] = event.details[key]
        if "escalated_to" in event.details:  # next_agency: the agencies added as recipients by this step
            msg["escalation"]["escalated_to"] = list(event.details["escalated_to"])
    return msg


def _fix(fix: Fix) -> dict[str, Any]:
    return {"lat": fix.lat, "lon": fix.lon, "acc": fix.accuracy_m, "ts": format_ts(fix.ts)}

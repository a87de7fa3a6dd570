"""How the API writes domain values out (JSON-ready dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts import Alert
from service.wire.rfc3339 import format_ts


def alert_fields(a: Alert) -> dict[str, Any]:
    """An alert as the API returns it after an action (no position: the alert holds none)."""
    def ts(v: datetime | None) -> str | None:
        return format_ts(v) if v is not None else None

    return {"alert_id": a.alert_id, "order_id": a.order_id, "kind": a.kind.value, "severity": a.severity.value,
            "status": a.status.value, "event_seq": a.event_seq, "condition": "active" if a.condition_active else "ended",
            "acknowledged_at": ts(a.acknowledged_at), "acknowledged_by": a.acknowledged_by,
            "dispatched_at": ts(a.dispatched_at), "on_scene_at": ts(a.on_scene_at), "resolved_at": ts(a.resolved_at),
            "resolved_by": a.resolved_by, "outcome": a.outcome, "escalation_level": a.escalation_level,
            "next_escalation_at": ts(a.next_escalation_at), "owner": a.owner,
            "dispatch_due_at": ts(a.dispatch_due_at), "on_scene_due_at": ts(a.on_scene_due_at),
            "missed_deadlines": [{"deadline": d, "agency_id": who} for d, who in a.missed]}

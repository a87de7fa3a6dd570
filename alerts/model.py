"""The alert vocabulary of the v1 contract, and the alert value itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    ZONE_BREACH = "zone_breach"
    PROXIMITY = "proximity"
    PRE_ALERT = "pre_alert"
    PANIC = "panic"
    STRAP_TAMPER = "strap_tamper"
    CASE_TAMPER = "case_tamper"
    BATTERY_LOW = "battery_low"
    SIGNAL_LOST = "signal_lost"
    LOCATION_LOST = "location_lost"
    VICTIM_SIGNAL_LOST = "victim_signal_lost"
    DEVICE_CLONED = "device_cloned"  # an addition: two sources publish as one device (a forged or cloned one)


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    WARNING = "warning"


class Status(StrEnum):
    OPEN = "open"  # raised, nobody has taken it yet
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"  # a unit is on its way
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"


class Outcome(StrEnum):
    FALSE_ALARM = "false_alarm"
    RESPONDENT_WARNED = "respondent_warned"
    DETAINED = "detained"
    ARRESTED = "arrested"
    VICTIM_SAFE = "victim_safe"
    REFERRED = "referred"  # handed to another agency, which keeps it open
    CONDITION_ENDED = "condition_ended"  # closed automatically: a battery charged, a signal back
    OTHER = "other"


class EventType(StrEnum):
    RAISED = "raised"
    UPDATED = "updated"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


SEVERITY: dict[Kind, Severity] = {
    Kind.ZONE_BREACH: Severity.CRITICAL,
    Kind.PROXIMITY: Severity.CRITICAL,
    Kind.PANIC: Severity.CRITICAL,
    Kind.PRE_ALERT: Severity.HIGH,
    Kind.STRAP_TAMPER: Severity.HIGH,
    Kind.CASE_TAMPER: Severity.HIGH,
    Kind.DEVICE_CLONED: Severity.HIGH,
    Kind.SIGNAL_LOST: Severity.HIGH,
    Kind.LOCATION_LOST: Severity.HIGH,
    Kind.VICTIM_SIGNAL_LOST: Severity.HIGH,
    Kind.BATTERY_LOW: Severity.WARNING,
}

# Kinds whose messages may carry the victim's position (contract section 2).
VICTIM_POSITION_KINDS = frozenset({Kind.PANIC, Kind.PROXIMITY})


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: one breach episode, one panic incident, one device condition."""

    alert_id: str
    order_id: str
    kind: Kind
    severity: Severity
    status: Status
    occurred_at: datetime  # device time of the report that showed the condition
    raised_at: datetime  # backend time
    zone_id: str | None = None
    retroactive: bool = False
    device_id: str | None = None  # device-health kinds: the device the condition is about
    condition_active: bool = True  # False once the condition has ended (respondent left, ...)
    event_seq: int = 1  # sequence number of the latest event of this alert
    last_event_at: datetime | None = None  # backend time of the latest event
    last_report_ts: datetime | None = None  # device time of the latest report folded in
    # -- who handled it (alerts.lifecycle) and the escalation clock (alerts.escalation) --
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    dispatched_at: datetime | None = None
    on_scene_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    outcome: str | None = None
    escalation: tuple[tuple[float, str], ...] = ()  # the policy copied at raise: (seconds after raise, action)
    escalation_level: int = 0  # steps already taken
    next_escalation_at: datetime | None = None  # the next deadline of the owner's clock; None when none is left
    # -- whose clock it is (alerts.lifecycle: only the owner's officers move it) and its response deadlines --
    owner: str | None = None  # the agency that must act: the police recipient chosen at raise (else the first)
    response: tuple[float, float] | None = None  # (dispatch_s, on_scene_s) after the owner's acknowledgement, copied at raise
    dispatch_due_at: datetime | None = None  # set when the owner acknowledges (alerts with a response policy)
    on_scene_due_at: datetime | None = None
    missed: tuple[tuple[str, str], ...] = ()  # (deadline, agency) of each deadline missed: acknowledge | dispatch | on_scene


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of an alert; each becomes one log record and one message per recipient."""

    alert: Alert  # the alert after this event
    event: EventType
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)

"""Escalation: what happens when nobody acknowledges an alert in time (pure).

A policy is a list of steps ``(seconds after the alert was raised, action)``. It is chosen when
the alert is raised (per agency and kind, else per severity) and **copied onto the alert**, so a
later change of policy never rewrites an alert's clock, and the clock survives restarts with it.
Actions:

* ``renotify``: the alert's recipients get it again (an ``escalated`` event);
* ``supervisor``: the same, marked for the agencies' supervisors;
* ``next_agency``: the agencies the recipients name (``escalate_to`` in the agencies file) are added
  as recipients (:func:`next_agencies`); the first receivers stay on record and keep receiving it.

An acknowledgement stops the clock. The service checks :func:`due` about once a second, so a
step fires within about a second of its deadline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from alerts.model import Alert, AlertEvent, EventType, Kind, Severity, Status

Steps = tuple[tuple[float, str], ...]
ACTIONS = ("renotify", "supervisor", "next_agency")

DEFAULT_POLICY: dict[Severity, Steps] = {
    Severity.CRITICAL: ((60.0, "renotify"), (120.0, "supervisor"), (300.0, "next_agency")),
    Severity.HIGH: ((300.0, "renotify"), (600.0, "supervisor")),
    Severity.WARNING: ((1800.0, "renotify"),),
}


Policies = Mapping[str, Sequence[Sequence[object]]]


def policy_for(kind: Kind, severity: Severity, policies: Policies | None, agency: Policies | None = None) -> Steps:
    """The steps for this kind (or its severity): the handling agency's own (``agency``), else the
    service's configured ones (``policies``), else the default for the severity."""
    for configured in (agency, policies):
        if configured:
            for key in (kind.value, severity.value):
                if key in configured:
                    return parse_steps(configured[key])
    return DEFAULT_POLICY[severity]


def next_agencies(recipients: Sequence[str], escalate_to: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The agencies a ``next_agency`` step adds: those the current recipients escalate to, in their
    order, without the ones already receiving the alert."""
    added = [a for r in recipients for a in escalate_to.get(r, ()) if a not in recipients]
    return tuple(dict.fromkeys(added))


def parse_steps(raw: Sequence[Sequence[object]]) -> Steps:
    steps = []
    for item in raw:
        if len(item) != 2:
            raise ValueError("a step is [seconds, action]")
        after, action = item
        if isinstance(after, bool) or not isinstance(after, (int, float)) or not 0 < after <= 7 * 86400:
            raise ValueError("a step's seconds must be in (0, 604800]")
        if action not in ACTIONS:
            raise ValueError(f"a step's action must be one of {', '.join(ACTIONS)}")
        steps.append((float(after), str(action)))
    if [a for a, _ in steps] != sorted(a for a, _ in steps):
        raise ValueError("steps must be in increasing time")
    return tuple(steps)


def arm(alert: Alert, steps: Steps) -> Alert:
    """Copy the policy onto a newly raised alert and start its clock."""
    first = alert.raised_at + timedelta(seconds=steps[0][0]) if steps else None
    return replace(alert, escalation=steps, escalation_level=0, next_escalation_at=first)


def due(alert: Alert, now: datetime) -> bool:
    return (alert.status == Status.OPEN and alert.next_escalation_at is not None
            and now >= alert.next_escalation_at and alert.escalation_level < len(alert.escalation))


def escalate(alert: Alert, now: datetime) -> AlertEvent:
    """Take the next step (call only when :func:`due`). Each step is taken once: the level moves on."""
    after_s, action = alert.escalation[alert.escalation_level]
    level = alert.escalation_level + 1
    nxt = (alert.raised_at + timedelta(seconds=alert.escalation[level][0])) if level < len(alert.escalation) else None
    changed = replace(alert, event_seq=alert.event_seq + 1, last_event_at=now, escalation_level=level,
                      next_escalation_at=nxt)
    late_s = (now - (alert.raised_at + timedelta(seconds=after_s))).total_seconds()
    return AlertEvent(changed, EventType.ESCALATED, now, {"action": action, "level": level,
                                                          "unacknowledged_s": round(after_s + late_s, 1)})

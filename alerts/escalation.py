"""Escalation: what happens when the agency that must act does not act in time (pure).

A policy is a list of steps ``(seconds after the alert was raised, action)``. It is chosen when
the alert is raised (per agency and kind, else per severity) and **copied onto the alert**, so a
later change of policy never rewrites an alert's clock, and the clock survives restarts with it.
Actions:

* ``renotify``: the alert's recipients get it again (an ``escalated`` event);
* ``supervisor``: the same, marked for the agencies' supervisors;
* ``next_agency``: the agencies the recipients name (``escalate_to`` in the agencies file) are added
  as recipients (:func:`next_agencies`); the first receivers stay on record and keep receiving it.

The clock is the **owner's** (``Alert.owner``, set by :func:`arm`: the police agency that must respond).
Only the owner's acknowledgement stops these steps (``alerts.lifecycle``); a court clerk's is on
record and stops nothing. The owner's acknowledgement starts its response deadlines (the kinds in
:data:`RESPONSE_KINDS`: a unit dispatched within ``dispatch_s``, on scene within ``on_scene_s``, both
counted from the acknowledgement; the owner's ``response`` policy copied at raise, else
:data:`DEFAULT_RESPONSE`). A missed deadline escalates once (a ``supervisor`` step with
``deadline`` and ``overdue_s``) and is recorded in ``Alert.missed`` with the agency that missed it;
the first policy step fired before the owner acknowledged records the missed ``acknowledge``
deadline. ``next_escalation_at`` is always the next deadline still pending (:func:`next_deadline`).
The service checks :func:`due` about once a second, so a step fires within about a second of its
deadline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from alerts.model import Alert, AlertEvent, EventType, Kind, Severity, Status

Steps = tuple[tuple[float, str], ...]
ACTIONS = ("renotify", "supervisor", "next_agency")
DEADLINES = ("acknowledge", "dispatch", "on_scene")
# the kinds a police unit is expected to go out for, and the default deadlines after the owner's acknowledgement
RESPONSE_KINDS = frozenset({Kind.ZONE_BREACH, Kind.PANIC, Kind.PROXIMITY})
DEFAULT_RESPONSE: tuple[float, float] = (300.0, 1200.0)  # dispatch within 5 min, on scene within 20 min
RESPONSE_ACTION = "supervisor"  # what a missed dispatch or on-scene deadline does

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


def parse_response(raw: object) -> tuple[float, float]:
    """An agency's ``response`` property: ``{"dispatch_s": ..., "on_scene_s": ...}`` (either may be left
    out: its default), each in (0, 86400], on scene not before dispatch."""
    if not isinstance(raw, Mapping):
        raise ValueError('response must be an object: {"dispatch_s": seconds, "on_scene_s": seconds}')
    unknown = set(raw) - {"dispatch_s", "on_scene_s"}
    if unknown:
        raise ValueError(f"response knows only dispatch_s and on_scene_s, not {', '.join(sorted(map(str, unknown)))}")
    out = []
    for key, default in zip(("dispatch_s", "on_scene_s"), DEFAULT_RESPONSE, strict=True):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
            raise ValueError(f"response.{key} must be seconds in (0, 86400]")
        out.append(float(value))
    if out[1] < out[0]:
        raise ValueError("response.on_scene_s can't come before response.dispatch_s")
    return out[0], out[1]


def response_for(kind: Kind, agency: Mapping[str, object] | None) -> tuple[float, float] | None:
    """The response deadlines for an alert of this kind: the owner agency's, else the defaults; None for a kind
    no unit is expected to go out for."""
    if kind not in RESPONSE_KINDS:
        return None
    return parse_response(agency) if agency else DEFAULT_RESPONSE


def arm(alert: Alert, steps: Steps, owner: str | None = None, response: tuple[float, float] | None = None) -> Alert:
    """Copy the policy onto a newly raised alert, name its owner and start its clock."""
    first = alert.raised_at + timedelta(seconds=steps[0][0]) if steps else None
    return replace(alert, escalation=steps, escalation_level=0, next_escalation_at=first, owner=owner,
                   response=response)


def owner_after(owner: str | None, added: Sequence[str], kinds: Mapping[str, str]) -> str | None:
    """The owner once ``added`` agencies join the alert (a ``next_agency`` step or a referral by someone else):
    a police agency keeps it; otherwise the first police agency added takes it over."""
    if owner is not None and kinds.get(owner) == "police":
        return owner
    return next((a for a in added if kinds.get(a) == "police"), owner)


def start_response(alert: Alert, at: datetime, dispatched: bool = False) -> dict[str, object]:
    """The changes the owner's acknowledgement (``at``) makes to the clock: its response deadlines, and
    ``next_escalation_at`` the first of them (the acknowledgement steps stop). ``dispatched``: the owner
    dispatched at once (no dispatch deadline)."""
    due_dispatch = due_on_scene = None
    if alert.response is not None:
        due_dispatch = None if dispatched else at + timedelta(seconds=alert.response[0])
        due_on_scene = at + timedelta(seconds=alert.response[1])
    status = Status.DISPATCHED if dispatched else Status.ACKNOWLEDGED
    pending = replace(alert, status=status, dispatch_due_at=due_dispatch, on_scene_due_at=due_on_scene)
    nxt = next_deadline(pending)
    return {"dispatch_due_at": due_dispatch, "on_scene_due_at": due_on_scene,
            "next_escalation_at": nxt[0] if nxt else None}


def next_deadline(alert: Alert) -> tuple[datetime, str] | None:
    """The next deadline of the owner's clock still to come, and its name (``acknowledge``: the next policy
    step while nobody of the owner has acknowledged; ``dispatch``, ``on_scene``); None when none is left."""
    if alert.status == Status.OPEN:
        if alert.escalation_level < len(alert.escalation):
            return alert.raised_at + timedelta(seconds=alert.escalation[alert.escalation_level][0]), "acknowledge"
        return None
    taken = {d for d, _ in alert.missed}
    pending = []
    if alert.status == Status.ACKNOWLEDGED and alert.dispatch_due_at is not None and "dispatch" not in taken:
        pending.append((alert.dispatch_due_at, "dispatch"))
    if (alert.status in (Status.ACKNOWLEDGED, Status.DISPATCHED) and alert.on_scene_due_at is not None
            and "on_scene" not in taken):
        pending.append((alert.on_scene_due_at, "on_scene"))
    return min(pending) if pending else None


def due(alert: Alert, now: datetime) -> bool:
    nxt = next_deadline(alert)
    return nxt is not None and now >= nxt[0]


def escalate(alert: Alert, now: datetime) -> AlertEvent:
    """Take the step of the deadline that passed (call only when :func:`due`). Each is taken once: a policy
    step moves the level on, a response deadline goes into ``missed``."""
    nxt = next_deadline(alert)
    assert nxt is not None, "escalate() follows due()"
    at, deadline = nxt
    overdue_s = round((now - at).total_seconds(), 1)
    who = alert.owner or ""
    if deadline == "acknowledge":
        after_s, action = alert.escalation[alert.escalation_level]
        level = alert.escalation_level + 1
        missed = alert.missed if any(d == "acknowledge" for d, _ in alert.missed) else (*alert.missed, ("acknowledge", who))
        changed = replace(alert, escalation_level=level, missed=missed)
        details: dict[str, object] = {"action": action, "level": level, "deadline": deadline, "overdue_s": overdue_s,
                                      "unacknowledged_s": round(after_s + overdue_s, 1)}
    else:
        changed = replace(alert, missed=(*alert.missed, (deadline, who)))
        details = {"action": RESPONSE_ACTION, "level": alert.escalation_level, "deadline": deadline,
                   "overdue_s": overdue_s}
    following = next_deadline(changed)
    changed = replace(changed, event_seq=alert.event_seq + 1, last_event_at=now,
                      next_escalation_at=following[0] if following else None)
    if alert.owner is not None:
        details["owner"] = alert.owner
    return AlertEvent(changed, EventType.ESCALATED, now, details)

"""What people (and, where safe, the system) do with an alert: a pure state machine.

    open --acknowledge--> acknowledged --dispatch--> dispatched --on_scene--> on_scene
      \\________________________\\______________________\\_______________--resolve--> resolved

Dispatching an open alert acknowledges it on the way (the dispatcher has taken it). Every step
returns an :class:`AlertEvent` (``acknowledged``, ``updated`` for dispatch/on scene/referral,
``resolved``) that the service logs with its actor and publishes like any other event.

Rules the law and the research ask for:

* a panic or tamper alert is resolved only by a person, with a note: no automation cancels it;
* any resolution by a person carries an outcome; a referral keeps the first receiver on record
  (the alert stays open, the new agency joins its recipients);
* a resolved alert is final.

Pure: no clock, no I/O; the caller passes ``at``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from alerts.model import Alert, AlertEvent, EventType, Kind, Outcome, Status

PERSON_ONLY_KINDS = frozenset({Kind.PANIC, Kind.STRAP_TAMPER, Kind.CASE_TAMPER, Kind.DEVICE_CLONED})
MAX_NOTE = 2000


class LifecycleError(ValueError):
    """A step that is not allowed; ``code`` is stable (API error codes), the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Actor:
    actor_id: str  # an officer's account, an integration, or "system"
    kind: Literal["person", "system"] = "person"
    agency_id: str | None = None


SYSTEM = Actor("system", "system")


def acknowledge(alert: Alert, actor: Actor, at: datetime, note: str | None = None) -> AlertEvent:
    _open(alert)
    if alert.status != Status.OPEN:
        raise LifecycleError("already_acknowledged", f"the alert is already {alert.status.value}")
    if actor.kind != "person":
        raise LifecycleError("person_required", "only a person acknowledges an alert")
    changed = _next(alert, at, status=Status.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=actor.actor_id,
                    next_escalation_at=None)
    return AlertEvent(changed, EventType.ACKNOWLEDGED, at, _details(actor, note))


def dispatch(alert: Alert, actor: Actor, at: datetime, unit: str, note: str | None = None) -> AlertEvent:
    _open(alert)
    if alert.status not in (Status.OPEN, Status.ACKNOWLEDGED):
        raise LifecycleError("bad_transition", f"cannot dispatch an alert that is {alert.status.value}")
    if not unit or len(unit) > 100:
        raise LifecycleError("unit_required", "name the unit dispatched (1-100 characters)")
    acked = {} if alert.acknowledged_at else {"acknowledged_at": at, "acknowledged_by": actor.actor_id}
    changed = _next(alert, at, status=Status.DISPATCHED, dispatched_at=at, next_escalation_at=None, **acked)
    return AlertEvent(changed, EventType.UPDATED, at, {**_details(actor, note), "action": "dispatched", "unit": unit})


def on_scene(alert: Alert, actor: Actor, at: datetime, note: str | None = None) -> AlertEvent:
    _open(alert)
    if alert.status != Status.DISPATCHED:
        raise LifecycleError("bad_transition", f"on scene follows a dispatch; the alert is {alert.status.value}")
    changed = _next(alert, at, status=Status.ON_SCENE, on_scene_at=at)
    return AlertEvent(changed, EventType.UPDATED, at, {**_details(actor, note), "action": "on_scene"})


def resolve(alert: Alert, actor: Actor, at: datetime, outcome: Outcome | str, note: str | None) -> AlertEvent:
    _open(alert)
    try:
        outcome = Outcome(outcome)
    except ValueError as exc:
        raise LifecycleError("bad_outcome", f"outcome must be one of {', '.join(o.value for o in Outcome)}") from exc
    if actor.kind != "person":
        if alert.kind in PERSON_ONLY_KINDS:
            raise LifecycleError("person_required", f"a {alert.kind.value} alert is resolved only by a person")
        if outcome != Outcome.CONDITION_ENDED or alert.condition_active:
            raise LifecycleError("person_required", "the system closes only a condition that has ended")
    elif not (note or "").strip():
        raise LifecycleError("note_required", "a person resolving an alert says what happened (note)")
    if outcome == Outcome.REFERRED:
        raise LifecycleError("bad_outcome", "refer the alert instead: it stays open with the new agency")
    changed = _next(alert, at, status=Status.RESOLVED, resolved_at=at, resolved_by=actor.actor_id,
                    outcome=outcome.value, next_escalation_at=None)
    return AlertEvent(changed, EventType.RESOLVED, at, {**_details(actor, note), "outcome": outcome.value})


def refer(alert: Alert, actor: Actor, at: datetime, to_agency: str, note: str | None) -> AlertEvent:
    """Hand the alert to another agency (the first-inquiry rule: handle it or refer it, on the record)."""
    _open(alert)
    if actor.kind != "person":
        raise LifecycleError("person_required", "only a person refers an alert")
    if not (note or "").strip():
        raise LifecycleError("note_required", "say why the alert is referred (note)")
    changed = _next(alert, at)
    return AlertEvent(changed, EventType.UPDATED, at, {**_details(actor, note), "action": "referred",
                                                       "referred_to": to_agency})


def _open(alert: Alert) -> None:
    if alert.status == Status.RESOLVED:
        raise LifecycleError("already_resolved", "the alert is resolved; nothing more can change it")


def _next(alert: Alert, at: datetime, **changes: object) -> Alert:
    return replace(alert, event_seq=alert.event_seq + 1, last_event_at=at, **changes)  # type: ignore[arg-type]


def _details(actor: Actor, note: str | None) -> dict[str, object]:
    if note is not None and len(note) > MAX_NOTE:
        raise LifecycleError("note_too_long", f"a note has at most {MAX_NOTE} characters")
    out: dict[str, object] = {"actor": actor.actor_id, "actor_kind": actor.kind}
    if actor.agency_id:
        out["actor_agency"] = actor.agency_id
    if note:
        out["note"] = note
    return out

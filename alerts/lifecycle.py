"""What people (and, where safe, the system) do with an alert: a pure state machine.

    open --acknowledge--> acknowledged --dispatch--> dispatched --on_scene--> on_scene
      \\________________________\\______________________\\_______________--resolve--> resolved

Dispatching an open alert acknowledges it on the way (the dispatcher has taken it). Every step
returns an :class:`AlertEvent` (``acknowledged``, ``updated`` for dispatch/on scene/referral,
``resolved``) that the service logs with its actor and publishes like any other event.

**Only the agency that must act stops its own clock** (LAW.md). An alert has an ``owner``
(``alerts.escalation.arm``: the police agency that must respond). Only a person of the owner agency
(``Actor.agency_id == alert.owner``) acknowledges, dispatches, marks on scene and resolves: that
moves the status and the clock. Another recipient's acknowledgement, dispatch or arrival (the
court's clerk, a support agency) is put on record as an ``updated`` event with ``action``
``acknowledged_by_other``, ``dispatched_by_other`` or ``on_scene_by_other`` (actor, agency, note) and
changes nothing else: the status stays, ``next_escalation_at`` too. Another recipient can't resolve
(``not_owner``): every safety alert reaches police, and police close it; the court puts what it knows
on record with a note. An alert without an owner (none was recorded) is handled by anyone, as before.

Rules the law and the research ask for:

* a panic or tamper alert is resolved only by a person, with a note: no automation cancels it;
* any resolution by a person carries an outcome; a referral keeps the first receiver on record
  (the alert stays open, the new agency joins its recipients); a referral to a police agency by the
  owner, or by anyone while no police agency owns the alert, hands the clock to that agency
  (``owner`` changes; the running deadlines keep running: a referral buys no time);
* a resolved alert is final.

Pure: no clock, no I/O; the caller passes ``at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from alerts.escalation import next_deadline, start_response
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


def owns(alert: Alert, actor: Actor) -> bool:
    """Whether the actor's steps move this alert's clock: the owner agency's people, the system, or anyone
    when the alert has no owner on record."""
    return actor.kind == "system" or alert.owner is None or actor.agency_id == alert.owner


def acknowledge(alert: Alert, actor: Actor, at: datetime, note: str | None = None) -> AlertEvent:
    _open(alert)
    if actor.kind != "person":
        raise LifecycleError("person_required", "only a person acknowledges an alert")
    if not owns(alert, actor):
        return _by_other(alert, actor, at, note, "acknowledged_by_other")
    if alert.status != Status.OPEN:
        raise LifecycleError("already_acknowledged", f"the alert is already {alert.status.value}")
    changed = _next(alert, at, status=Status.ACKNOWLEDGED, acknowledged_at=at, acknowledged_by=actor.actor_id,
                    **start_response(alert, at))
    return AlertEvent(changed, EventType.ACKNOWLEDGED, at, _details(actor, note))


def dispatch(alert: Alert, actor: Actor, at: datetime, unit: str, note: str | None = None) -> AlertEvent:
    _open(alert)
    if owns(alert, actor) and alert.status not in (Status.OPEN, Status.ACKNOWLEDGED):
        raise LifecycleError("bad_transition", f"cannot dispatch an alert that is {alert.status.value}")
    if not unit or len(unit) > 100:
        raise LifecycleError("unit_required", "name the unit dispatched (1-100 characters)")
    if not owns(alert, actor):
        return _by_other(alert, actor, at, note, "dispatched_by_other", unit=unit)
    if alert.acknowledged_at:
        clock: dict[str, object] = {}
        pending = next_deadline(replace(alert, status=Status.DISPATCHED))
        clock["next_escalation_at"] = pending[0] if pending else None
    else:  # dispatched at once: acknowledged now, only the on-scene deadline is left
        clock = {"acknowledged_at": at, "acknowledged_by": actor.actor_id, **start_response(alert, at, dispatched=True)}
    changed = _next(alert, at, status=Status.DISPATCHED, dispatched_at=at, **clock)
    return AlertEvent(changed, EventType.UPDATED, at, {**_details(actor, note), "action": "dispatched", "unit": unit})


def on_scene(alert: Alert, actor: Actor, at: datetime, note: str | None = None) -> AlertEvent:
    _open(alert)
    if not owns(alert, actor):
        return _by_other(alert, actor, at, note, "on_scene_by_other")
    if alert.status != Status.DISPATCHED:
        raise LifecycleError("bad_transition", f"on scene follows a dispatch; the alert is {alert.status.value}")
    changed = _next(alert, at, status=Status.ON_SCENE, on_scene_at=at, next_escalation_at=None)
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
    elif not owns(alert, actor):
        raise LifecycleError("not_owner", f"only {alert.owner}, the agency that must act, resolves this alert; "
                                          "acknowledge it with a note to put what you know on record")
    elif not (note or "").strip():
        raise LifecycleError("note_required", "a person resolving an alert says what happened (note)")
    if outcome == Outcome.REFERRED:
        raise LifecycleError("bad_outcome", "refer the alert instead: it stays open with the new agency")
    changed = _next(alert, at, status=Status.RESOLVED, resolved_at=at, resolved_by=actor.actor_id,
                    outcome=outcome.value, next_escalation_at=None)
    return AlertEvent(changed, EventType.RESOLVED, at, {**_details(actor, note), "outcome": outcome.value})


def refer(alert: Alert, actor: Actor, at: datetime, to_agency: str, note: str | None,
          kinds: Mapping[str, str] | None = None) -> AlertEvent:
    """Hand the alert to another agency (the first-inquiry rule: handle it or refer it, on the record).
    ``kinds`` (agency id to kind): a referral to a police agency by the owner, or by anyone while no police
    agency owns it, makes that agency the owner; the deadlines running keep running."""
    _open(alert)
    if actor.kind != "person":
        raise LifecycleError("person_required", "only a person refers an alert")
    if not (note or "").strip():
        raise LifecycleError("note_required", "say why the alert is referred (note)")
    kinds = kinds or {}
    hand_over = (kinds.get(to_agency) == "police" and to_agency != alert.owner
                 and (alert.owner is None or actor.agency_id == alert.owner or kinds.get(alert.owner) != "police"))
    details = {**_details(actor, note), "action": "referred", "referred_to": to_agency}
    if hand_over:
        details["owner_was"] = alert.owner
        changed = _next(alert, at, owner=to_agency)
    else:
        changed = _next(alert, at)
    return AlertEvent(changed, EventType.UPDATED, at, details)


def _by_other(alert: Alert, actor: Actor, at: datetime, note: str | None, action: str, **more: object) -> AlertEvent:
    """Another recipient's step: on record (actor, agency, note), and nothing else changes."""
    return AlertEvent(_next(alert, at), EventType.UPDATED, at, {**_details(actor, note), "action": action, **more})


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

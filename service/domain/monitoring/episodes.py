"""One transition of a zone episode, for a fixed zone and for the moving zone around her phone alike
(``geofence`` gives ``enter``, ``exit``, ``warn``, ``unwarn``, ``crossed``; pure).

The two differ only where the contract says so: a fixed zone's breach is a ``zone_breach`` on that
zone, carries its depth, can be crossed between two fixes, leaves a live episode for late reports to
be measured against, and its membership changes with each enter and exit; the moving zone's breach is
a ``proximity`` with her fix attached (the officers' map; never sent to his device), and its end is
dated by the transition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alerts import Kind, breach_ended, breach_started
from geofence import OUTSIDE, Fix, Transition, ZoneState
from service.domain.orders import ZoneSpec

from .outcomes import emit
from .state import MOVING_ZONE_ID, Changes, MembershipChange, OrderState

if TYPE_CHECKING:
    from .monitor import Monitor


@dataclass(frozen=True, slots=True)
class Place:
    """Where a transition happened and what its events carry."""

    zone: ZoneSpec | None  # the fixed zone (None: the moving zone)
    fix: Fix  # his fix
    distance: float  # metres into the zone, or to it (rounded)
    victim: Fix | None = None  # her fix: the moving zone's
    min_distance_m: float | None = None  # the moving zone's radius


def transition(m: Monitor, order: OrderState, t: Transition, place: Place, now: datetime, changes: Changes,
               retro: bool, state: ZoneState | None) -> None:
    """Fold one transition in: open or close the zone's breach or pre-alert, and publish it."""
    moving = place.zone is None
    oid = order.spec.order_id
    key = MOVING_ZONE_ID if moving else t.zone_id
    details: dict[str, Any] = {"confidence": t.confidence.value}
    if moving:
        details["min_distance_m"] = place.min_distance_m
    ends_at = t.at if moving else place.fix.ts  # a fixed zone's end is dated by the fix that showed it
    if t.kind in ("enter", "crossed"):
        _enter(m, order, t, place, now, changes, retro, state, details)
    elif t.kind == "exit":
        alert = order.close_episode(key)
        if not moving:
            if alert is not None:
                order.episodes[key] = (alert.occurred_at, t.at)
            changes.membership.append(MembershipChange(oid, key, state or OUTSIDE, None))
        if alert is not None:
            emit(m, order, breach_ended(alert, ends_at, now, details), place.fix, place.zone, place.distance, changes,
                 place.victim)
    elif t.kind == "warn":
        if t.eta_s is not None:
            details["eta_s"] = t.eta_s
        event = breach_started(m.new_id(), oid, None if moving else key, t.at, now, retro, details,
                               kind=Kind.PRE_ALERT)
        order.open_episode(key, event.alert, warning=True)
        emit(m, order, event, place.fix, place.zone, place.distance, changes)
    elif t.kind == "unwarn":
        alert = order.close_episode(key, warning=True)
        if alert is not None:
            if not moving and state is not None and state.inside:
                details["reason"] = "breach"
            emit(m, order, breach_ended(alert, ends_at, now, details), place.fix, place.zone, place.distance, changes)


def _enter(m: Monitor, order: OrderState, t: Transition, place: Place, now: datetime, changes: Changes,
           retro: bool, state: ZoneState | None, details: dict[str, Any]) -> None:
    oid = order.spec.order_id
    if place.zone is None:
        event = breach_started(m.new_id(), oid, None, t.at, now, retro, details, kind=Kind.PROXIMITY)
        order.open_episode(MOVING_ZONE_ID, event.alert)
        changes.membership.append(MembershipChange(oid, MOVING_ZONE_ID, state or OUTSIDE, event.alert.alert_id))
        emit(m, order, event, place.fix, None, place.distance, changes, place.victim)
        return
    details["depth_m"] = place.distance
    event = breach_started(m.new_id(), oid, t.zone_id, t.at, now, retro, details)
    if t.kind == "crossed":  # an episode that began and ended between two fixes
        details["crossed"] = True
        emit(m, order, event, place.fix, place.zone, place.distance, changes)
        ended = breach_ended(event.alert, t.at, now, {"crossed": True, "confidence": t.confidence.value})
        emit(m, order, ended, place.fix, place.zone, place.distance, changes)
        return
    order.open_episode(t.zone_id, event.alert)
    order.episodes[t.zone_id] = (t.at, None)
    changes.membership.append(MembershipChange(oid, t.zone_id, state or OUTSIDE, event.alert.alert_id))
    emit(m, order, event, place.fix, place.zone, place.distance, changes)

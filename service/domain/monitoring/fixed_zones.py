"""The order's fixed zones (her home, work, school): the version in force at a fix's time, weekly
schedules, the ``Reach`` prefilter, a live fix checked against them, and an old fix checked on its own
against history (a retroactive alert; pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from alerts import breach_continues, breach_ended, breach_started
from geofence import (
    OUTSIDE,
    CompiledZone,
    Confidence,
    Fix,
    LocalFrame,
    Reach,
    Rules,
    classify,
    compile_zone,
    evaluate,
)
from geofence.schedule import in_force
from service.domain import law
from service.domain.orders import OrderSpec, ZoneSpec
from service.wire import LocationReport

from . import outcomes
from .episodes import Place, transition
from .quality import MAX_SPEED_MPS, is_poor
from .state import MOVING_ZONE_ID, Changes, MembershipChange, OrderState

if TYPE_CHECKING:
    from .monitor import Monitor

DEFAULT_EXIT_MARGIN_M = 50.0
DEFAULT_POSSIBLES_TO_BREACH = 3
RETRO_MERGE_S = 600.0  # late fixes inside a zone this close in time belong to one retroactive episode


def zone_anchor(zone: ZoneSpec) -> tuple[float, float]:
    """A (lat, lon) inside or on the zone: its centre, or its first vertex."""
    coords = zone.geometry["coordinates"]
    while isinstance(coords[0], list):
        coords = coords[0]
    return float(coords[1]), float(coords[0])


def anchor_of(spec: OrderSpec) -> tuple[float, float] | None:
    return zone_anchor(spec.zones[0]) if spec.zones else None


def compiled(spec: OrderSpec, frame: LocalFrame | None, earlier: Sequence[tuple[datetime, OrderSpec]],
             effective_from: datetime | None, now: datetime | None, police: str | None) -> OrderState:
    """A new order's state: its zones (and its earlier versions') compiled in ``frame``, its rules;
    monitored since ``now`` (the victim's grace starts there)."""
    zones = [_compile(z, frame) for z in spec.zones] if frame else []
    versions = tuple((at, s, [_compile(z, frame) for z in s.zones])
                     for at, s in earlier) if frame is not None and effective_from is not None else ()
    margin = spec.exit_margin_m if spec.exit_margin_m is not None else DEFAULT_EXIT_MARGIN_M
    ring = spec.pre_alert_m or 0.0
    every_zone = [*spec.zones, *(z for _, s, _ in versions for z in s.zones)]
    reach = Reach.around(((z.geometry, z.radius_m) for z in every_zone), margin + ring) if every_zone else None
    rules = Rules(exit_margin_m=margin, possibles_to_breach=spec.possibles_to_breach or DEFAULT_POSSIBLES_TO_BREACH,
                  max_speed_mps=MAX_SPEED_MPS)
    tz = ZoneInfo(spec.timezone) if spec.timezone else None
    return OrderState(spec, frame, zones, rules, reach, ring, tz, monitoring_since=now, versions=versions,
                      effective_from=effective_from, police=police)


def _compile(z: ZoneSpec, frame: LocalFrame) -> CompiledZone:
    return compile_zone(z.zone_id, z.kind, z.name, z.geometry, z.radius_m, frame)


def version(order: OrderState, ts: datetime) -> tuple[OrderSpec, list[CompiledZone]]:
    """The order's content in force at ``ts`` (service.domain.law.version_at); the current one for
    reports since it took effect."""
    if not order.versions or order.effective_from is None or ts >= order.effective_from:
        return order.spec, order.zones
    chosen = law.version_at([(at, (s, z)) for at, s, z in order.versions], ts)
    if chosen is None:  # before the first recorded version took effect: the first one
        _, s, z = order.versions[0]
        return s, z
    return chosen


def zone_specs(order: OrderState, ts: datetime) -> dict[str, ZoneSpec]:
    """Zone specs by id: the version's in force at ``ts``, then the current ones (names for messages)."""
    spec, _ = version(order, ts)
    return {**{z.zone_id: z for z in order.spec.zones}, **{z.zone_id: z for z in spec.zones}}


def zones_in_force(order: OrderState, ts: datetime) -> list[CompiledZone]:
    spec, zones = version(order, ts)
    if order.tz is None:
        return zones
    specs = {z.zone_id: z for z in spec.zones}
    return [z for z in zones if in_force(specs[z.zone_id].schedule, ts, order.tz)]


def check(m: Monitor, order: OrderState, fix: Fix, previous: Fix | None, now: datetime, changes: Changes,
          retro: bool, hold: bool = False) -> None:
    """His live fix against the fixed zones in force at its time."""
    if order.frame is None:
        return
    busy = order.open_conditions() or any(s.inside or s.warned or s.possibles for s in order.membership.values())
    if not busy and order.reach is not None and not order.reach.holds(fix.lat, fix.lon, fix.accuracy_m):
        if previous is None or not order.reach.touches_segment((previous.lat, previous.lon), (fix.lat, fix.lon)):
            return  # far from every zone, inside none, and did not pass by one: nothing can change
    zones = zones_in_force(order, fix.ts)
    fixed = {k: v for k, v in order.membership.items() if k != MOVING_ZONE_ID}
    result = evaluate(fix, order.frame, zones, fixed, order.rules, order.ring_m, previous, hold)
    specs = zone_specs(order, fix.ts)
    for zone_id, state in result.states.items():
        if state != order.membership.get(zone_id, OUTSIDE):
            order.membership[zone_id] = state
            if not any(t.zone_id == zone_id and t.kind in ("enter", "exit") for t in result.transitions):
                changes.membership.append(MembershipChange(order.spec.order_id, zone_id, state,
                                                           order.breach.get(zone_id)))
    for t in result.transitions:
        place = Place(specs[t.zone_id], fix, round(abs(t.distance_m), 1))
        transition(m, order, t, place, now, changes, retro, result.states.get(t.zone_id))
    in_force_ids = {z.zone_id for z in zones}
    for zone_id in list(order.breach):
        if zone_id not in in_force_ids:  # removed by the court, or its schedule window closed
            _zone_gone(m, order, zone_id, fix, now, changes, specs)
            continue
        if any(t.zone_id == zone_id for t in result.transitions) or not result.states[zone_id].inside:
            continue
        depth = round(max(0.0, -result.distances_m[zone_id]), 1)
        update = breach_continues(order.alerts[order.breach[zone_id]], fix.ts, now, {
            "depth_m": depth, "confidence": result.confidences[zone_id].value})
        if update is not None:
            order.replace(update.alert)
            outcomes.emit(m, order, update, fix, specs[zone_id], depth, changes)
    for zone_id in [z for z in order.warn if z not in in_force_ids]:
        alert = order.close_episode(zone_id, warning=True)
        assert alert is not None
        outcomes.emit(m, order, breach_ended(alert, fix.ts, now, {"reason": "schedule_ended"}), fix,
                      specs.get(zone_id), None, changes)


def _zone_gone(m: Monitor, order: OrderState, zone_id: str, fix: Fix, now: datetime, changes: Changes,
               specs: dict[str, ZoneSpec]) -> None:
    """A zone with an open breach is no longer in force: its episode ends."""
    alert = order.close_episode(zone_id)
    assert alert is not None
    reason = "zone_removed" if all(z.zone_id != zone_id for z in order.spec.zones) else "schedule_ended"
    order.membership.pop(zone_id, None)
    changes.membership.append(MembershipChange(order.spec.order_id, zone_id, OUTSIDE, None))
    outcomes.emit(m, order, breach_ended(alert, fix.ts, now, {"reason": reason}), fix, specs.get(zone_id), None,
                  changes)


def check_old(m: Monitor, order: OrderState, report: LocationReport, now: datetime, changes: Changes) -> None:
    """A respondent fix older than one already evaluated: checked on its own against the zones in
    force then. A confirmed breach that no episode covered raises a retroactive alert (evidence
    for the court); late fixes close in time to it fold into the same retroactive episode."""
    if order.frame is None or is_poor(report.acc_m, report.src):
        return
    if order.reach is not None and not order.reach.holds(report.lat, report.lon, report.acc_m):
        return
    p = order.frame.position(report.lat, report.lon)
    specs = zone_specs(order, report.ts)
    fix = Fix(report.lat, report.lon, report.acc_m, report.ts)
    for zone in zones_in_force(order, report.ts):
        d = zone.signed_distance_m(p)
        if classify(d, report.acc_m) is not Confidence.CONFIRMED or _covered(order, zone.zone_id, report.ts):
            continue
        retro = order.retro.get(zone.zone_id)
        if retro is not None and abs((report.ts - retro[1]).total_seconds()) <= RETRO_MERGE_S:
            update = breach_continues(order.alerts[retro[0]], max(report.ts, retro[1]), now, {"depth_m": round(-d, 1)})
            if update is not None:
                order.retro[zone.zone_id] = (order.hold(update.alert), max(report.ts, retro[1]))
            continue
        details = {"depth_m": round(-d, 1), "confidence": Confidence.CONFIRMED.value, "out_of_order": True}
        event = breach_started(m.new_id(), order.spec.order_id, zone.zone_id, report.ts, now, True, details)
        ended = breach_ended(event.alert, report.ts, now, {"out_of_order": True})
        if retro is not None:
            order.release(retro[0])
        order.retro[zone.zone_id] = (order.hold(ended.alert), report.ts)
        outcomes.emit(m, order, event, fix, specs[zone.zone_id], round(-d, 1), changes)
        outcomes.emit(m, order, ended, fix, specs[zone.zone_id], round(-d, 1), changes)


def _covered(order: OrderState, zone_id: str, ts: datetime) -> bool:
    """A live episode covers this moment, or is this visit seen a little early or late."""
    live = order.episode_alert(zone_id)
    span = (live.occurred_at, None) if live is not None else order.episodes.get(zone_id)
    return span is not None and span[0].timestamp() - RETRO_MERGE_S <= ts.timestamp() and (
        span[1] is None or ts.timestamp() <= span[1].timestamp() + RETRO_MERGE_S)

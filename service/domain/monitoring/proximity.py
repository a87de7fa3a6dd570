"""The moving zone around her phone (``min_distance_m`` around her fresh fix) and her signal: when her
fix is missing or too old to judge it, ``victim_signal_lost`` instead of a comparison with a stale
point (pure). Her fix travels only with the officers' events: never in what his device can read."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from alerts import Kind, breach_continues, breach_ended, breach_started
from geofence import OUTSIDE, Fix, ZoneState, classify, evaluate_moving
from geofence.engine import distance_bounds_m

from .episodes import Place, transition
from .outcomes import emit
from .quality import fresh_for_s
from .state import MOVING_ZONE_ID, Changes, MembershipChange, OrderState

if TYPE_CHECKING:
    from .monitor import Monitor


def check(m: Monitor, order: OrderState, now: datetime, changes: Changes, retro: bool, hold: bool = False) -> None:
    """The parties' latest fixes against each other (after a fix of either)."""
    spec = order.spec
    if spec.min_distance_m is None or order.respondent_fix is None:
        return
    resp, victim = order.respondent_fix, order.victim_fix
    at = resp.ts if victim is None else max(resp.ts, victim.ts)
    victim_since = victim.ts if victim is not None else order.monitoring_since
    stale = victim_since is None or (at - victim_since).total_seconds() > fresh_for_s(spec.victim.report_interval_s)
    if stale:
        if victim is not None or victim_since is not None:
            signal(m, order, True, resp, now, changes, retro, victim)
        return
    if victim is None:
        return  # within the grace after loading, with no fix of hers yet
    signal(m, order, False, resp, now, changes, retro, victim)
    if (at - resp.ts).total_seconds() > fresh_for_s(spec.respondent.report_interval_s):
        return  # his last fix is too old to compare with her moving position
    before = order.membership.get(MOVING_ZONE_ID, OUTSIDE)
    if before == OUTSIDE:  # nothing open: skip the exact distance when the parties are plainly far apart
        far = spec.min_distance_m + order.ring_m + order.rules.exit_margin_m + resp.accuracy_m + victim.accuracy_m
        if distance_bounds_m(resp.lat, resp.lon, victim.lat, victim.lon)[0] > far:
            order.party_distance = None
            return
    _compare(m, order, resp, victim, at, before, now, changes, retro, hold)


def _compare(m: Monitor, order: OrderState, resp: Fix, victim: Fix, at: datetime, before: ZoneState, now: datetime,
             changes: Changes, retro: bool, hold: bool) -> None:
    spec = order.spec
    assert spec.min_distance_m is not None
    prev = order.party_distance
    dt = (at - prev[1]).total_seconds() if prev is not None else None
    after, transitions, dist = evaluate_moving(
        MOVING_ZONE_ID, resp, victim, spec.min_distance_m, before, order.rules, order.ring_m,
        prev[0] if prev is not None else None, dt, hold)
    order.party_distance = (dist, at)
    if after != before:
        order.membership[MOVING_ZONE_ID] = after
        changes.membership.append(MembershipChange(spec.order_id, MOVING_ZONE_ID, after, order.proximity))
    place = Place(None, resp, round(dist, 1), victim, spec.min_distance_m)
    for t in transitions:
        transition(m, order, t, place, now, changes, retro, after)
    if not transitions and after.inside and order.proximity is not None:
        update = breach_continues(order.alerts[order.proximity], at, now, {"confidence": classify(
            dist - spec.min_distance_m, resp.accuracy_m + victim.accuracy_m, resp.poor or victim.poor).value})
        if update is not None:
            order.replace(update.alert)
            emit(m, order, update, resp, None, place.distance, changes, victim)


def signal(m: Monitor, order: OrderState, lost: bool, resp: Fix, now: datetime, changes: Changes, retro: bool,
           victim: Fix | None) -> None:
    """``victim_signal_lost``: the moving zone can't be judged because her fix is missing or too old."""
    open_alert = order.get(order.signal)
    if lost and open_alert is None:
        details = {"victim_fix_age_s": None if victim is None else round((resp.ts - victim.ts).total_seconds(), 1)}
        event = breach_started(m.new_id(), order.spec.order_id, None, resp.ts, now, retro, details,
                               kind=Kind.VICTIM_SIGNAL_LOST)
        order.set_slot("signal", event.alert)
        emit(m, order, event, resp, None, None, changes)
    elif not lost and open_alert is not None:
        order.set_slot("signal", None)
        at = victim.ts if victim is not None else resp.ts
        emit(m, order, breach_ended(open_alert, at, now, {"reason": "victim_fix_fresh"}), resp, None, None, changes)

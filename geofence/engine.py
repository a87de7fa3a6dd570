"""Zone decisions for one fix: confidence, hysteresis, warning ring, approach, drive-through.

Every check compares a signed distance ``d`` (metres from the zone's edge,
negative inside) with the fix's uncertainty ``u`` (its accuracy radius; for the
moving zone around the victim, the sum of both parties' radii):

* **confirmed** when ``d + u <= 0``: the whole uncertainty disc is inside;
* **possible** when ``d - u <= 0 < d + u``: the disc straddles the edge;
* **clear** otherwise.

A *poor* fix (a cell fix of hundreds of metres) is never more than possible,
and does not count towards a run of possibles: poor fixes alone never make a
breach. Per zone a small state machine turns checks into episodes:

* ``enter`` (a breach episode starts) on a confirmed check, or on
  ``Rules.possibles_to_breach`` possible checks in a row;
* ``exit`` only once the fix is beyond ``Rules.exit_margin_m`` and its disc is
  wholly outside, so GPS jitter at the edge gives one episode, not a storm;
* ``warn`` / ``unwarn``: the pre-alert episode, while the fix is possibly
  inside or within ``ring_m`` of the zone (the order's ``pre_alert_m``), ended
  ``exit_margin_m`` beyond the ring or superseded by ``enter``;
* ``crossed``: neither fix inside, but the straight segment between two
  consecutive good fixes passes through the zone deeper than either fix's
  uncertainty (a drive-through): an episode that starts and ends at once.

An approach speed (from the report's speed and heading, else from the
distance change since the previous fix) gives ``eta_s`` on warnings.

Pure: no I/O, no clock; callers pass every time and threshold in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, NamedTuple

from geofence.frame import LocalFrame, Position
from geofence.zones import GEOD, CompiledZone

MIN_CLOSING_MPS = 0.3  # slower than this is not an approach (GPS drift of a standing person)


class Fix(NamedTuple):  # one per report: a NamedTuple builds in a fraction of a frozen dataclass's time
    lat: float
    lon: float
    accuracy_m: float
    ts: datetime
    speed_mps: float | None = None
    heading_deg: float | None = None
    poor: bool = False  # may never confirm a breach on its own (a cell fix, a vague fix)


class Confidence(StrEnum):
    CONFIRMED = "confirmed"
    POSSIBLE = "possible"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Rules:
    exit_margin_m: float = 50.0
    possibles_to_breach: int = 3
    max_cross_gap_s: float = 600.0  # a longer silence between two fixes says nothing about the way between
    max_speed_mps: float = 70.0  # faster than this between two fixes is a jump, not a drive


@dataclass(frozen=True, slots=True)
class ZoneState:
    inside: bool = False  # a breach episode is open
    since: datetime | None = None
    warned: bool = False  # a pre-alert episode is open
    possibles: int = 0  # possible checks in a row while not inside


OUTSIDE = ZoneState()
TransitionKind = Literal["enter", "exit", "warn", "unwarn", "crossed"]


@dataclass(frozen=True, slots=True)
class Transition:
    zone_id: str
    kind: TransitionKind
    at: datetime
    distance_m: float  # signed: negative is metres inside the zone
    confidence: Confidence = Confidence.CONFIRMED
    eta_s: float | None = None  # warnings: seconds to the zone at the current approach speed


@dataclass(frozen=True, slots=True)
class Evaluation:
    states: dict[str, ZoneState]
    transitions: list[Transition] = field(default_factory=list)
    distances_m: dict[str, float] = field(default_factory=dict)
    confidences: dict[str, Confidence] = field(default_factory=dict)
    eta_s: dict[str, float] = field(default_factory=dict)


def classify(distance_m: float, uncertainty_m: float, poor: bool = False) -> Confidence:
    if distance_m + uncertainty_m <= 0.0 and not poor:
        return Confidence.CONFIRMED
    if distance_m - uncertainty_m <= 0.0:
        return Confidence.POSSIBLE
    return Confidence.CLEAR


def step(before: ZoneState, zone_id: str, d: float, uncertainty_m: float, poor: bool, ts: datetime,
         rules: Rules, ring_m: float, eta_s: float | None = None, hold: bool = False) -> tuple[ZoneState, list[Transition]]:
    """One check of one zone: the next state and the transitions it causes. ``hold``: the fix is not to be
    trusted to lower anything (an impossible jump from the previous fix: a glitch, or a second source
    publishing as the device): it may open or count towards an episode, never end one, end a warning or
    reset the possible checks in a row."""
    conf = classify(d, uncertainty_m, poor)
    if before.inside:
        if d > rules.exit_margin_m and d - uncertainty_m > 0.0 and not hold:
            return ZoneState(False, ts), [Transition(zone_id, "exit", ts, d, conf)]
        return before, []
    if conf is Confidence.POSSIBLE:  # a poor fix may warn, but never counts towards a breach: it can't make one alone
        possibles = before.possibles if poor else before.possibles + 1
    else:
        possibles = before.possibles if hold and conf is Confidence.CLEAR else 0
    if conf is Confidence.CONFIRMED or possibles >= rules.possibles_to_breach:
        out = [Transition(zone_id, "unwarn", ts, d, conf)] if before.warned else []
        out.append(Transition(zone_id, "enter", ts, d, conf))
        return ZoneState(True, ts), out
    warned, out = before.warned, []
    if not warned and (conf is Confidence.POSSIBLE or (ring_m > 0.0 and d - uncertainty_m <= ring_m)):
        warned = True
        out.append(Transition(zone_id, "warn", ts, d, conf, eta_s))
    elif warned and d - uncertainty_m > ring_m + rules.exit_margin_m and not hold:
        warned = False
        out.append(Transition(zone_id, "unwarn", ts, d, conf))
    if warned == before.warned and possibles == before.possibles:
        return before, out
    return ZoneState(False, before.since, warned, possibles), out


def closing_speed_mps(d_now: float, d_ahead_1s: float | None, d_before: float | None, dt_s: float | None) -> float | None:
    """How fast the distance to a zone shrinks: from the reported velocity (the distance one second
    ahead along it) when there is one, else from the change since the previous fix."""
    if d_ahead_1s is not None:
        return d_now - d_ahead_1s
    if d_before is not None and dt_s is not None and dt_s > 0:
        return (d_before - d_now) / dt_s
    return None


def eta(d: float, closing_mps: float | None) -> float | None:
    if d <= 0.0:
        return 0.0
    if closing_mps is None or closing_mps < MIN_CLOSING_MPS:
        return None
    return round(d / closing_mps, 1)


def ahead_1s(frame: LocalFrame, p: Position, fix: Fix) -> Position | None:
    """Where the reported speed and heading put the fix one second later, or None without them."""
    if fix.speed_mps is None or fix.heading_deg is None:
        return None
    h = math.radians(fix.heading_deg)
    return frame.position_of_xy(p.x + fix.speed_mps * math.sin(h), p.y + fix.speed_mps * math.cos(h))


def evaluate(
    fix: Fix,
    frame: LocalFrame,
    zones: Sequence[CompiledZone],
    previous: Mapping[str, ZoneState],
    rules: Rules,
    ring_m: float = 0.0,
    prev_fix: Fix | None = None,
    hold: bool = False,
) -> Evaluation:
    """Check ``fix`` against ``zones`` given the ``previous`` states (and the device's previous fix).
    ``hold``: the fix may raise but not lower (see :func:`step`)."""
    p = frame.position(fix.lat, fix.lon)
    exact = rules.exit_margin_m + ring_m + fix.accuracy_m
    ahead = ahead_1s(frame, p, fix)
    prev_p = frame.position(prev_fix.lat, prev_fix.lon) if prev_fix is not None else None
    dt = (fix.ts - prev_fix.ts).total_seconds() if prev_fix is not None else None
    result = Evaluation({})
    for zone in zones:
        zid = zone.zone_id
        before = previous.get(zid, OUTSIDE)
        d = zone.signed_distance_m(p, exact_within_m=exact)
        eta_s = d_before = None
        if d <= exact:  # near enough for the approach to matter
            d_ahead = zone.signed_distance_m(ahead) if ahead is not None else None
            if d_ahead is None and prev_p is not None:  # no reported velocity: from the last fix
                d_before = zone.signed_distance_m(prev_p, exact_within_m=exact)
            eta_s = eta(d, closing_speed_mps(d, d_ahead, d_before, dt))
        after, transitions = step(before, zid, d, fix.accuracy_m, fix.poor, fix.ts, rules, ring_m, eta_s, hold)
        if not after.inside and not before.inside and prev_fix is not None and prev_p is not None:
            crossing = _crossing(zone, prev_fix, prev_p, fix, p, d, rules, d_before)
            if crossing is not None:
                transitions.append(crossing)
        result.states[zid] = after
        result.transitions.extend(transitions)
        result.distances_m[zid] = d
        result.confidences[zid] = classify(d, fix.accuracy_m, fix.poor)
        if eta_s is not None:
            result.eta_s[zid] = eta_s
    return result


def _crossing(zone: CompiledZone, a_fix: Fix, a: Position, b_fix: Fix, b: Position, d_b: float,
              rules: Rules, d_a: float | None = None) -> Transition | None:
    """A confirmed pass through ``zone`` between two good fixes that are both outside it."""
    if a_fix.poor or b_fix.poor:
        return None
    dt = (b_fix.ts - a_fix.ts).total_seconds()
    if not 0 < dt <= rules.max_cross_gap_s:
        return None
    length = math.hypot(b.x - a.x, b.y - a.y)
    if length / dt > rules.max_speed_mps:
        return None
    need = max(a_fix.accuracy_m, b_fix.accuracy_m)
    if d_b - length > -need:
        return None  # even straight at the zone, the segment can't reach that deep (1-Lipschitz)
    if d_a is None:
        d_a = zone.signed_distance_m(a, exact_within_m=length)
    # the signed distance is 1-Lipschitz: no point of the segment is deeper than this bound allows
    if (d_a + d_b - length) / 2.0 > -need:
        return None
    depth = zone.segment_depth_m(a, b)
    if depth > -need:
        return None
    return Transition(zone.zone_id, "crossed", b_fix.ts, depth, Confidence.CONFIRMED)


# -- the moving zone around the victim --------------------------------------------------------------------------
def party_distance_m(a: Fix, b: Fix) -> float:
    """Geodesic distance between two fixes on the WGS-84 ellipsoid."""
    return float(GEOD.inv(a.lon, a.lat, b.lon, b.lat)[2])


M_PER_DEG_MIN = 110_500.0  # a degree of latitude, or of longitude at the equator, is never shorter (WGS-84)
M_PER_DEG_MAX = 111_700.0  # ... nor longer


def distance_bounds_m(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """A cheap (lower, upper) bound of the geodesic distance, for deciding whether the exact one is
    needed: the larger of the north-south and east-west separations bounds it from below, their sum
    from above (longitude scaled by the cosine of the latitude nearer the pole, and then of the one
    nearer the equator). Across the antimeridian or near the poles it gives up: (0, inf)."""
    dlon = abs(lon1 - lon2)
    top = max(abs(lat1), abs(lat2))
    if dlon > 180.0 or top > 85.0:
        return 0.0, math.inf
    ns = abs(lat1 - lat2)
    low = max(ns * M_PER_DEG_MIN, dlon * math.cos(math.radians(top)) * M_PER_DEG_MIN)
    high = (ns + dlon * math.cos(math.radians(min(abs(lat1), abs(lat2))))) * M_PER_DEG_MAX
    return low, high


def evaluate_moving(
    zone_id: str,
    respondent: Fix,
    victim: Fix,
    min_distance_m: float,
    before: ZoneState,
    rules: Rules,
    ring_m: float = 0.0,
    previous_distance_m: float | None = None,
    dt_s: float | None = None,
    hold: bool = False,
) -> tuple[ZoneState, list[Transition], float]:
    """The moving zone: a circle of ``min_distance_m`` around the victim's (fresh) fix.

    Returns the next state, its transitions and the distance between the parties. The
    uncertainty is the sum of both accuracy radii; either fix being poor makes it poor."""
    dist = party_distance_m(respondent, victim)
    d = dist - min_distance_m
    closing = (previous_distance_m - dist) / dt_s if previous_distance_m is not None and dt_s else None
    after, transitions = step(before, zone_id, d, respondent.accuracy_m + victim.accuracy_m,
                              respondent.poor or victim.poor, max(respondent.ts, victim.ts), rules, ring_m,
                              eta(d, closing), hold)
    return after, transitions, dist

"""Membership of one fix in an order's zones, and the transitions it causes.

The vocabulary is closed: a zone is entered (``enter``) or left (``exit``).
Entering needs the fix inside the zone; leaving needs it more than
``Rules.exit_margin_m`` outside, so GPS jitter on an edge gives one episode,
not a storm of enter/exit pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

from geofence.frame import LocalFrame
from geofence.zones import CompiledZone


class Fix(NamedTuple):  # one per report: a NamedTuple builds in a fraction of a frozen dataclass's time
    lat: float
    lon: float
    accuracy_m: float
    ts: datetime


@dataclass(frozen=True, slots=True)
class Rules:
    exit_margin_m: float = 50.0


@dataclass(frozen=True, slots=True)
class ZoneState:
    inside: bool = False
    since: datetime | None = None


OUTSIDE = ZoneState()


@dataclass(frozen=True, slots=True)
class Transition:
    zone_id: str
    kind: Literal["enter", "exit"]
    at: datetime
    distance_m: float  # signed: negative is metres inside the zone


@dataclass(frozen=True, slots=True)
class Evaluation:
    states: dict[str, ZoneState]
    transitions: list[Transition] = field(default_factory=list)
    distances_m: dict[str, float] = field(default_factory=dict)


def evaluate(
    fix: Fix,
    frame: LocalFrame,
    zones: Sequence[CompiledZone],
    previous: Mapping[str, ZoneState],
    rules: Rules,
) -> Evaluation:
    """Classify ``fix`` against ``zones`` given the ``previous`` membership."""
    x, y = frame.to_xy(fix.lat, fix.lon)
    states: dict[str, ZoneState] = {}
    transitions: list[Transition] = []
    distances: dict[str, float] = {}
    for zone in zones:
        before = previous.get(zone.zone_id, OUTSIDE)
        d = zone.signed_distance_m(x, y, exact_within_m=rules.exit_margin_m)
        distances[zone.zone_id] = d
        after = _next_state(before, d, fix.ts, rules)
        if after.inside != before.inside:
            kind: Literal["enter", "exit"] = "enter" if after.inside else "exit"
            transitions.append(Transition(zone.zone_id, kind, fix.ts, d))
        states[zone.zone_id] = after
    return Evaluation(states, transitions, distances)


def _next_state(before: ZoneState, d: float, ts: datetime, rules: Rules) -> ZoneState:
    if not before.inside and d <= 0.0:
        return ZoneState(True, ts)
    if before.inside and d > rules.exit_margin_m:
        return ZoneState(False, ts)
    return before

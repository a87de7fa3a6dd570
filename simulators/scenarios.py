"""Scripted scenarios around the demo order (``data/demo_order.json``), each with its ground truth.

A :class:`Scenario` is a list of timed :class:`Step` s (what the respondent's tracker and the victim's
phone send, ``at_s`` seconds after the scenario starts, with the device time ``ts`` in ``fields``) and
``expected``: the alerts a correct backend must raise, worked out here from the order's geometry and
the contract's definitions (PROTOCOL.md section 2), never from the backend:

- ``zone_breach``: a respondent fix inside a zone (circle: geodesic distance to the centre <= radius;
  polygon: point in polygon), or two consecutive fixes whose straight segment crosses the zone. A fix
  with ``acc`` >= 500 m (a cell fix) never confirms a breach alone. One episode is one alert.
- ``pre_alert``: a respondent fix outside a zone, within ``pre_alert_m`` of it.
- ``proximity``: a respondent fix within ``min_distance_m`` of the victim's latest fix.
- ``victim_signal_lost``: the victim's last message is older than 3 x her interval + 10 s.
- ``signal_lost``: the respondent silent for more than 3 x his interval + 10 s.
- ``retroactive``: the report that shows the condition arrived late (a backfilled array).

``expected`` lists what must be found, in order; for the kinds in ``exhaustive`` it is also everything
that may be found (e.g. ``loiter_edge``: exactly one ``zone_breach``; ``cell_only``: none). The ground
truth covers the scenario's own span ``[0, duration_s]`` and holds at ``speedup`` 1: the runner
compresses device time by ``speedup`` too, so time thresholds (``go_dark``) need the real seconds.

A scenario that needs an order other than the demo order as shipped (an order that expires mid-case, zones
somewhere else) carries ``order_overrides``: fields replacing the demo order's, times in scenario time;
:func:`scenario_order` gives the order body to load for a run, its times mapped as :func:`plan_scenario` maps
the device times. Such a scenario can't be played on the demo's own order (``Scenario.fits_demo_order``).

Every scenario is deterministic (seeded RNG) and built with :mod:`simulators.walk`.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from geopy.distance import geodesic
from shapely.geometry import LineString, Point, Polygon, shape

from simulators.device import SimDevice, rfc3339
from simulators.walk import Walker, offset

ORDER_PATH = Path(__file__).parent / "data" / "demo_order.json"
AGENCIES_PATH = Path(__file__).parent / "data" / "demo_agencies.geojson"  # the agencies the library's orders use
DEFAULT_START = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)  # within the demo order's validity
CELL_ACC_M = 500.0
WALK_MPS = 1.4

Party = Literal["respondent", "victim"]
MessageKind = Literal["location", "status", "panic"]
LatLon = tuple[float, float]


# --- the order ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DemoOrder:
    order_id: str
    respondent_device: str
    victim_device: str
    respondent_interval_s: float
    victim_interval_s: float
    home: LatLon
    home_radius_m: float
    work: Polygon  # (lon, lat) coordinates
    min_distance_m: float
    pre_alert_m: float

    @property
    def respondent_silence_s(self) -> float:
        return 3 * self.respondent_interval_s + 10

    @property
    def victim_silence_s(self) -> float:
        return 3 * self.victim_interval_s + 10

    def home_distance_m(self, lat: float, lon: float) -> float:
        """Geodesic distance to the home zone's centre."""
        return float(geodesic(self.home, (lat, lon)).meters)

    def in_home(self, lat: float, lon: float) -> bool:
        return self.home_distance_m(lat, lon) <= self.home_radius_m

    def in_work(self, lat: float, lon: float) -> bool:
        return bool(self.work.covers(Point(lon, lat)))

    def work_distance_m(self, lat: float, lon: float) -> float:
        """Metres from (lat, lon) to the workplace polygon (0 inside): nearest point found in a local
        equirectangular frame, then measured geodesically."""
        if self.in_work(lat, lon):
            return 0.0
        k = math.cos(math.radians(lat))
        scaled = Polygon([(x * k, y) for x, y in self.work.exterior.coords])
        near = scaled.exterior.interpolate(scaled.exterior.project(Point(lon * k, lat)))
        return float(geodesic((lat, lon), (near.y, near.x / k)).meters)

    def crosses_work(self, a: LatLon, b: LatLon) -> bool:
        return bool(LineString([(a[1], a[0]), (b[1], b[0])]).intersects(self.work))

    def moved(self, north_deg: float, east_deg: float) -> DemoOrder:
        """The same order with its zones shifted by whole degrees of latitude and longitude."""
        ring = [(x + east_deg, y + north_deg) for x, y in self.work.exterior.coords]
        return dataclasses.replace(self, home=(self.home[0] + north_deg, self.home[1] + east_deg), work=Polygon(ring))

    def zones_geojson(self) -> dict[str, Any]:
        """The order file's ``zones`` for these zones (the demo order's names)."""
        home = {"type": "Point", "coordinates": [self.home[1], self.home[0]]}
        work = {"type": "Polygon", "coordinates": [[list(c) for c in self.work.exterior.coords]]}
        return {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": home, "properties": {
                "zone_id": "home", "kind": "home", "name": "Victim's home", "radius_m": self.home_radius_m}},
            {"type": "Feature", "geometry": work, "properties": {
                "zone_id": "work", "kind": "work", "name": "Victim's workplace"}},
        ]}


def load_order(path: Path = ORDER_PATH) -> DemoOrder:
    """The demo order's parties, intervals and zones (a ``home`` circle and a ``work`` polygon)."""
    return order_from(json.loads(Path(path).read_text()))


def order_from(o: dict[str, Any]) -> DemoOrder:
    """A :class:`DemoOrder` from an order body shaped like the demo order's."""
    zones = {f["properties"]["zone_id"]: f for f in o["zones"]["features"]}
    home, work = zones["home"], zones["work"]
    lon, lat = home["geometry"]["coordinates"]
    return DemoOrder(
        order_id=o["order_id"], respondent_device=o["respondent"]["device_id"], victim_device=o["victim"]["device_id"],
        respondent_interval_s=float(o["respondent"]["report_interval_s"]),
        victim_interval_s=float(o["victim"]["report_interval_s"]),
        home=(lat, lon), home_radius_m=float(home["properties"]["radius_m"]),
        work=Polygon(work["geometry"]["coordinates"][0]),
        min_distance_m=float(o["min_distance_m"]), pre_alert_m=float(o["pre_alert_m"]),
    )


# --- scenario values ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """Send ``message`` from ``device`` at ``at_s``. ``fields`` is the body without ``seq`` (``ts`` a datetime,
    which lies in the past for late uploads); for a backfill, ``batch`` holds the reports and ``fields`` is {}."""

    at_s: float
    device: Party
    message: MessageKind
    fields: dict[str, Any]
    batch: list[dict[str, Any]] | None = None
    note: str = ""


@dataclass(frozen=True)
class Expected:
    """An alert a correct backend must raise. ``at_s``: the scenario time when the backend can first know;
    ``occurred_at``: when the condition began (device time of the report that showed it, or when a
    silence passed its limit). ``after_end`` and ``police`` are checked only where a scenario sets them."""

    kind: str
    zone_id: str | None
    at_s: float
    occurred_at: datetime
    retroactive: bool = False
    party: Party = "respondent"
    after_end: bool = False  # raised in the grace after the order's end (a panic: still routed to police)
    police: str | None = None  # when set: the police agency the alert must reach (routing ground truth)

    @property
    def key(self) -> tuple[str, str | None, bool]:
        return (self.kind, self.zone_id, self.retroactive)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    start: datetime
    steps: list[Step]
    expected: list[Expected]
    exhaustive: frozenset[str] = field(default_factory=frozenset)
    # fields replacing the demo order's (times as scenario times: see scenario_order); empty: the demo order
    order_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max((s.at_s for s in self.steps), default=0.0)

    @property
    def fits_demo_order(self) -> bool:
        """True when the scenario plays on the demo order as shipped (``stayaway demo --scenario``)."""
        return not self.order_overrides

    @property
    def order_ends_at(self) -> datetime | None:
        """The order's expiry in scenario time, when the scenario sets one."""
        value = self.order_overrides.get("expires_at")
        return value if isinstance(value, datetime) else None

    def expected_keys(self) -> list[tuple[str, str | None, bool]]:
        return [e.key for e in self.expected]


class _Script:
    """Collects steps; device times are ``start + at_s`` unless given."""

    def __init__(self, order: DemoOrder, start: datetime, seed: int) -> None:
        self.order, self.start, self.rng = order, start, random.Random(seed)
        self.steps: list[Step] = []

    def ts(self, at_s: float) -> datetime:
        return self.start + timedelta(seconds=at_s)

    def fix(self, at_s: float, pos: LatLon, acc: float | None = None, **extra: Any) -> dict[str, Any]:
        acc = acc if acc is not None else round(self.rng.uniform(6.0, 14.0), 1)
        return {"ts": self.ts(at_s), "lat": pos[0], "lon": pos[1], "acc": acc, **extra}

    def location(self, at_s: float, device: Party, pos: LatLon, note: str = "", acc: float | None = None,
                 **extra: Any) -> Step:
        step = Step(at_s, device, "location", self.fix(at_s, pos, acc, **extra), note=note)
        self.steps.append(step)
        return step

    def walk(self, at_s: float, device: Party, waypoints: list[LatLon], every_s: float, note: str = "",
             speed_mps: float = WALK_MPS, noise_m: float = 4.0) -> float:
        """Reports every ``every_s`` along ``waypoints`` at ``speed_mps``; returns the time after the last."""
        for i, pos in enumerate(Walker(waypoints, step_m=speed_mps * every_s, noise_m=noise_m, rng=self.rng)):
            self.location(at_s, device, pos, note if i == 0 else "")
            at_s += every_s
        return at_s

    def victim_at(self, pos: LatLon, t_from: float, t_to: float, note: str = "") -> None:
        """The victim's phone reporting every interval from ``pos`` (with GPS jitter) over [t_from, t_to]."""
        every = self.order.victim_interval_s
        n = int((t_to - t_from) // every)
        for i in range(n + 1):
            jitter = offset(*pos, self.rng.gauss(0, 4), self.rng.gauss(0, 4))
            self.location(t_from + i * every, "victim", jitter, note if i == 0 else "")

    def panic(self, at_s: float, pos: LatLon, note: str = "", silent: bool = False) -> Step:
        step = Step(at_s, "victim", "panic", {**self.fix(at_s, pos, 8.0), "silent": silent}, note=note)
        self.steps.append(step)
        return step

    def scenario(self, name: str, description: str, expected: list[Expected], exhaustive: Iterable[str],
                 order_overrides: dict[str, Any] | None = None) -> Scenario:
        steps = sorted(self.steps, key=lambda s: s.at_s)  # stable: equal times keep their order
        return Scenario(name, " ".join(description.split()), self.start, steps, expected, frozenset(exhaustive),
                        dict(order_overrides or {}))


def _respondent_fixes(steps: list[Step]) -> list[Step]:
    return [s for s in steps if s.device == "respondent" and s.message == "location" and s.batch is None]


def _first(steps: Iterable[Step], pred: Callable[[dict[str, Any]], bool]) -> Step:
    for s in steps:
        if pred(s.fields):
            return s
    raise ValueError("the scenario's geometry does not produce the transition it is built for")


def _expect(kind: str, zone: str | None, step: Step, **kw: Any) -> Expected:
    return Expected(kind, zone, step.at_s, step.fields["ts"], **kw)


def _home_ring(order: DemoOrder) -> Callable[[dict[str, Any]], bool]:
    def pred(f: dict[str, Any]) -> bool:
        d = order.home_distance_m(f["lat"], f["lon"])
        return order.home_radius_m < d <= order.home_radius_m + order.pre_alert_m and f["acc"] < CELL_ACC_M
    return pred


def _in_home(order: DemoOrder) -> Callable[[dict[str, Any]], bool]:
    return lambda f: order.in_home(f["lat"], f["lon"]) and f["acc"] < CELL_ACC_M


def _work_centre(o: DemoOrder) -> LatLon:
    c = o.work.centroid
    return c.y, c.x


LIVE_KINDS = ("zone_breach", "proximity", "victim_signal_lost")


# --- the scenarios ------------------------------------------------------------------------------------------------

def approach_and_enter(start: datetime = DEFAULT_START, seed: int = 1, order: DemoOrder | None = None) -> Scenario:
    """The respondent walks from 1.5 km south-west of the victim's home into the home zone and stays.
    The victim is at work, 2.3 km away. Expected: pre_alert (first fix in the 300 m ring), zone_breach."""
    o = order or load_order()
    s = _Script(o, start, seed)
    origin = offset(*o.home, -500, -1414)  # 1.5 km SW
    inside = offset(*o.home, -30, -80)  # 85 m from the centre
    t = s.walk(15, "respondent", [origin, inside], o.respondent_interval_s, "respondent 1.5 km from the home")
    for i in range(4):
        s.location(t + i * o.respondent_interval_s, "respondent", offset(*inside, 3 * i, -2 * i),
                   "respondent waits inside the home zone" if i == 0 else "")
    end = t + 3 * o.respondent_interval_s
    s.victim_at(_work_centre(o), 0, end + 30, "victim at work")
    fixes = _respondent_fixes(s.steps)
    expected = [_expect("pre_alert", "home", _first(fixes, _home_ring(o))),
                _expect("zone_breach", "home", _first(fixes, _in_home(o)))]
    return s.scenario("approach_and_enter", approach_and_enter.__doc__ or "", expected, LIVE_KINDS)


def loiter_edge(start: datetime = DEFAULT_START, seed: int = 2, order: DemoOrder | None = None,
                minutes: float = 10.0) -> Scenario:
    """The respondent walks up to the home circle's west edge and loiters there for ``minutes``, every fix
    within ±20 m of the edge, in and out (never more than two fixes in a row outside). Expected:
    pre_alert, then ONE zone_breach episode (a backend must not raise a new breach per re-entry)."""
    o = order or load_order()
    s = _Script(o, start, seed)
    approach_from = offset(*o.home, 0, -(o.home_radius_m + o.pre_alert_m + 100))
    edge_out = offset(*o.home, 0, -(o.home_radius_m + 45))
    t = s.walk(15, "respondent", [approach_from, edge_out], o.respondent_interval_s, "respondent approaches the home")
    n = int(minutes * 60 // o.respondent_interval_s)
    outside_run = 0
    for i in range(n):
        u = s.rng.uniform(2.0, 20.0) * s.rng.choice((-1, 1))  # radial offset from the edge, metres
        if u > 0 and outside_run >= 2:
            u = -u
        outside_run = outside_run + 1 if u > 0 else 0
        bearing = math.radians(270 + 25 * math.sin(i / 5))  # drifting slowly along the west edge
        r = o.home_radius_m + u
        s.location(t + i * o.respondent_interval_s, "respondent", offset(*o.home, r * math.cos(bearing),
                   r * math.sin(bearing)), "respondent loiters at the edge of the home zone" if i == 0 else "")
    end = t + (n - 1) * o.respondent_interval_s
    s.victim_at(_work_centre(o), 0, end + 30, "victim at work")
    fixes = _respondent_fixes(s.steps)
    expected = [_expect("pre_alert", "home", _first(fixes, _home_ring(o))),
                _expect("zone_breach", "home", _first(fixes, _in_home(o)))]
    return s.scenario("loiter_edge", loiter_edge.__doc__ or "", expected, LIVE_KINDS)


def drive_through(start: datetime = DEFAULT_START, seed: int = 3, order: DemoOrder | None = None,
                  speed_mps: float = 20.0) -> Scenario:
    """The respondent drives east along 30.4415 N at ``speed_mps`` through the workplace, reporting every
    30 s: one fix 100 m west of it, the next beyond its east side, none inside. Expected: pre_alert
    (work), then zone_breach (work) by crossing, shown by the fix after the crossing."""
    o = order or load_order()
    s = _Script(o, start, seed)
    lat = 30.4415
    west_edge = (lat, o.work.bounds[0])
    step_m = speed_mps * o.respondent_interval_s
    xs = [-100 + step_m * k for k in range(-3, 4)]  # metres east of the west edge
    for k, x in enumerate(xs):
        pos = offset(*west_edge, s.rng.gauss(0, 2), x)
        note = {3: "respondent 100 m west of the workplace", 4: "respondent past the workplace"}.get(k, "")
        s.location(15 + k * o.respondent_interval_s, "respondent", pos, note, spd=speed_mps, hdg=90.0)
    s.victim_at(o.home, 0, 15 + 7 * o.respondent_interval_s, "victim at home")
    fixes = _respondent_fixes(s.steps)
    ring = _first(fixes, lambda f: 0 < o.work_distance_m(f["lat"], f["lon"]) <= o.pre_alert_m)
    cross = next(b for a, b in itertools.pairwise(fixes)
                 if o.crosses_work((a.fields["lat"], a.fields["lon"]), (b.fields["lat"], b.fields["lon"])))
    expected = [_expect("pre_alert", "work", ring), _expect("zone_breach", "work", cross)]
    return s.scenario("drive_through", drive_through.__doc__ or "", expected, LIVE_KINDS)


def follow_victim(start: datetime = DEFAULT_START, seed: int = 4, order: DemoOrder | None = None) -> Scenario:
    """The victim walks 1.8 km west, 1.2 km south of her home, reporting every 60 s; the respondent follows
    200-400 m behind her, reporting every 30 s. Expected: one proximity alert (min_distance_m is 500),
    from his first fix after her first."""
    o = order or load_order()
    s = _Script(o, start, seed)
    v_speed, length = 1.3, 1800.0
    v_start = offset(*o.home, -1200, 0)

    def along(m: float) -> LatLon:  # m metres west of her starting point along her street
        return offset(*v_start, 0, -m)

    duration = length / v_speed
    t = 0.0
    while t <= duration:
        s.location(t, "victim", along(v_speed * t + s.rng.gauss(0, 3)), "victim walks across town" if t == 0 else "")
        t += o.victim_interval_s
    t = 15.0
    while t <= duration:
        gap = 300 + 100 * math.sin(2 * math.pi * t / 600)  # 200-400 m behind her
        pos = offset(*along(v_speed * t - gap), s.rng.gauss(0, 4), s.rng.gauss(0, 4))
        s.location(t, "respondent", pos, "respondent follows her" if t == 15 else "")
        t += o.respondent_interval_s
    first_victim = min(st.at_s for st in s.steps if st.device == "victim")
    fixes = [f for f in _respondent_fixes(s.steps) if f.at_s > first_victim]
    expected = [_expect("proximity", None, fixes[0])]
    return s.scenario("follow_victim", follow_victim.__doc__ or "", expected, LIVE_KINDS)


def go_dark(start: datetime = DEFAULT_START, seed: int = 5, order: DemoOrder | None = None) -> Scenario:
    """The victim is 1.5 km south of her home; her phone reports for 5 min, says its battery is at 4 %,
    then goes silent while the respondent walks towards her from 2.2 km to 0.9 km away. Expected:
    victim_signal_lost once her last fix is older than 3 x 60 s + 10 s; no proximity, no breach."""
    o = order or load_order()
    s = _Script(o, start, seed)
    at = offset(*o.home, -1500, 0)
    last = 300.0
    s.victim_at(at, 0, last, "victim at a friend's place")
    s.steps.append(Step(last - 10, "victim", "status", {"ts": s.ts(last - 10), "batt": 4, "charging": False},
                        note="victim's phone battery at 4 %"))
    s.walk(15, "respondent", [offset(*at, -2200, 0), offset(*at, -900, 0)], o.respondent_interval_s,
           "respondent walks towards the victim")
    lost_at = last + o.victim_silence_s
    expected = [Expected("victim_signal_lost", None, lost_at, s.ts(lost_at), party="victim")]
    return s.scenario("go_dark", go_dark.__doc__ or "", expected, LIVE_KINDS)


def late_buffer_upload(start: datetime = DEFAULT_START, seed: int = 6, order: DemoOrder | None = None,
                       upload_delay_s: float = 180.0) -> Scenario:
    """The respondent walks west towards the home into the warning ring and his tracker goes offline;
    offline, he walks into the home zone and out again to 800 m east; ``upload_delay_s`` after its last
    buffered fix the tracker uploads the buffer as one JSON array, then reports live again. Expected:
    pre_alert (live), signal_lost (his silence), zone_breach (home) retroactive."""
    o = order or load_order()
    s = _Script(o, start, seed)
    every = o.respondent_interval_s
    far, ring, inside, back = (offset(*o.home, 0, e) for e in (850, 520, 150, 800))
    t = s.walk(15, "respondent", [far, ring], every, "respondent walks towards the home")
    last_live = t - every
    buffered: list[dict[str, Any]] = []
    for pos in Walker([ring, inside, ring, back], step_m=WALK_MPS * every, noise_m=4, rng=s.rng):
        buffered.append(s.fix(t, pos))
        t += every
    upload = t - every + upload_delay_s
    s.steps.append(Step(upload, "respondent", "location", {}, batch=buffered,
                        note=f"tracker back online: uploads {len(buffered)} buffered fixes"))
    for i in range(1, 4):
        s.location(upload + i * every, "respondent", offset(*back, 0, 20 * i))
    s.victim_at(_work_centre(o), 0, upload + 3 * every + 30, "victim at work")
    live = _respondent_fixes(s.steps)
    first_in = next(f for f in buffered if _in_home(o)(f))
    expected = [_expect("pre_alert", "home", _first(live, _home_ring(o))),
                Expected("signal_lost", None, last_live + o.respondent_silence_s,
                         s.ts(last_live + o.respondent_silence_s)),
                Expected("zone_breach", "home", upload, first_in["ts"], retroactive=True)]
    return s.scenario("late_buffer_upload", late_buffer_upload.__doc__ or "", expected, LIVE_KINDS)


def cell_only(start: datetime = DEFAULT_START, seed: int = 7, order: DemoOrder | None = None,
              minutes: float = 10.0) -> Scenario:
    """The tracker has no GPS fix (status ``gps: no_fix``) and reports cell fixes (``src: cell``, ``acc``
    650-750 m) from 50-450 m around the home's centre, some nominally inside the zone. Expected: no
    zone_breach: a cell fix never confirms a breach alone."""
    o = order or load_order()
    s = _Script(o, start, seed)
    s.steps.append(Step(5, "respondent", "status", {"ts": s.ts(5), "gps": "no_fix", "batt": 81},
                        note="tracker reports no GPS fix"))
    n = int(minutes * 60 // o.respondent_interval_s)
    for i in range(n):
        r, bearing = s.rng.uniform(50, 450), s.rng.uniform(0, 2 * math.pi)
        pos = offset(*o.home, r * math.cos(bearing), r * math.sin(bearing))
        s.location(15 + i * o.respondent_interval_s, "respondent", pos, "cell fixes near the home" if i == 0 else "",
                   acc=round(s.rng.uniform(650, 750), 1), src="cell")
    s.victim_at(_work_centre(o), 0, 15 + n * o.respondent_interval_s, "victim at work")
    return s.scenario("cell_only", cell_only.__doc__ or "", [], LIVE_KINDS)


def order_expires_mid_case(start: datetime = DEFAULT_START, seed: int = 8, order: DemoOrder | None = None) -> Scenario:
    """The order expires while the respondent walks towards the victim's home: he enters the warning ring
    while it is in force, it expires between two of his fixes, and he walks on into the home zone and waits
    there; then the victim, at work, presses her panic button. Expected: pre_alert (home, before the end);
    no zone_breach (the order is no longer in force: his reports are evidence only); her panic raised all the
    same, marked after_end (the grace after an order's end) and routed to the police of her position."""
    o = order or load_order()
    s = _Script(o, start, seed)
    every = o.respondent_interval_s
    origin, inside = offset(*o.home, -500, -1414), offset(*o.home, -30, -80)  # 1.5 km SW; 85 m from the centre
    t = s.walk(15, "respondent", [origin, inside], every, "respondent 1.5 km from the home")
    for i in range(4):
        s.location(t + i * every, "respondent", offset(*inside, 3 * i, -2 * i),
                   "respondent waits inside the home zone, after the order's end" if i == 0 else "")
    fixes = _respondent_fixes(s.steps)
    ring, first_in = _first(fixes, _home_ring(o)), _first(fixes, _in_home(o))
    expires_s = ring.at_s + 2 * every + 5  # while he is in the ring, between two fixes
    if not ring.at_s < expires_s < first_in.at_s:
        raise ValueError("the order must expire after he enters the ring and before he enters the home")
    work = _work_centre(o)
    press = s.panic(first_in.at_s + 45, offset(*work, 5, -5), "victim presses her panic button, after the order's end")
    s.victim_at(work, 0, t + 3 * every + 30, "victim at work")
    expected = [_expect("pre_alert", "home", ring),
                _expect("panic", None, press, party="victim", after_end=True, police=police_at(work))]
    overrides = {"issued_at": start - timedelta(days=179), "expires_at": start + timedelta(seconds=expires_s)}
    return s.scenario("order_expires_mid_case", order_expires_mid_case.__doc__ or "", expected,
                      (*LIVE_KINDS, "pre_alert"), overrides)


MOVED_NORTH_DEG = 0.3  # about 33 km north of the demo order's zones: outside every jurisdiction of the demo agencies


def home_outside_police_areas(start: datetime = DEFAULT_START, seed: int = 9, order: DemoOrder | None = None,
                              police: str = "police-xinjin-west") -> Scenario:
    """The victim has moved where no imported police jurisdiction reaches (the demo order's zones 0.3 degrees,
    about 33 km, further north); the court names the police agency that answers for her order
    (``police_agency_id``, the Xinjin west station). The respondent walks from 1.5 km south-west into her home
    zone and stays; she is at work. Expected: pre_alert and zone_breach (home), both reaching that police agency
    (a location outside every jurisdiction goes to the order's responsible agency) and the court."""
    o = (order or load_order()).moved(MOVED_NORTH_DEG, 0.0)
    s = _Script(o, start, seed)
    origin, inside = offset(*o.home, -500, -1414), offset(*o.home, -30, -80)
    t = s.walk(15, "respondent", [origin, inside], o.respondent_interval_s, "respondent 1.5 km from her new home")
    for i in range(4):
        s.location(t + i * o.respondent_interval_s, "respondent", offset(*inside, 3 * i, -2 * i),
                   "respondent waits inside the home zone" if i == 0 else "")
    s.victim_at(_work_centre(o), 0, t + 3 * o.respondent_interval_s + 30, "victim at work")
    fixes = _respondent_fixes(s.steps)
    expected = [_expect("pre_alert", "home", _first(fixes, _home_ring(o)), police=police),
                _expect("zone_breach", "home", _first(fixes, _in_home(o)), police=police)]
    if any(police_at(p) is not None for p in (o.home, _work_centre(o))):
        raise ValueError("the moved zones must lie outside every police jurisdiction")
    return s.scenario("home_outside_police_areas", home_outside_police_areas.__doc__ or "", expected, LIVE_KINDS,
                      {"zones": o.zones_geojson(), "police_agency_id": police})


SCENARIOS: dict[str, Callable[..., Scenario]] = {
    f.__name__: f for f in (approach_and_enter, loiter_edge, drive_through, follow_victim, go_dark,
                            late_buffer_upload, cell_only, order_expires_mid_case, home_outside_police_areas)
}
# the scenarios that need an order of their own (``order_overrides``: load ``scenario_order``), and the others,
# which play on the demo order as shipped (``stayaway demo --scenario``)
OWN_ORDER = frozenset({"order_expires_mid_case", "home_outside_police_areas"})
DEMO_SCENARIOS: dict[str, Callable[..., Scenario]] = {n: f for n, f in SCENARIOS.items() if n not in OWN_ORDER}


def police_at(pos: LatLon, path: Path = AGENCIES_PATH) -> str | None:
    """The police agency of the library's agencies file whose jurisdiction holds ``pos`` (the smallest one
    where several do); None where none does."""
    found = []
    for f in json.loads(Path(path).read_text())["features"]:
        if f["properties"].get("kind") == "police" and f.get("geometry"):
            geom = shape(f["geometry"])
            if geom.covers(Point(pos[1], pos[0])):
                found.append((geom.area, f["properties"]["agency_id"]))
    return min(found)[1] if found else None


def scenario_order(scenario: Scenario, start: datetime | None = None, speedup: float = 1.0, compress_ts: bool = True,
                   path: Path = ORDER_PATH) -> dict[str, Any]:
    """The order body to load for a run of ``scenario`` from ``start`` (default now): the demo order with the
    scenario's ``order_overrides``, each time in them mapped as :func:`plan_scenario` maps device times."""
    body = json.loads(Path(path).read_text())
    to_run = _run_time(scenario, start, speedup, compress_ts)
    for k, v in scenario.order_overrides.items():
        body[k] = rfc3339(to_run(v)) if isinstance(v, datetime) else copy.deepcopy(v)
    return body


# --- running ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outgoing:
    """One publication: ``send_at_s`` wall seconds after the run starts."""

    send_at_s: float
    device: Party
    kind: MessageKind
    body: dict[str, Any] | list[dict[str, Any]]
    note: str = ""


def _run_time(scenario: Scenario, start: datetime | None, speedup: float,
              compress_ts: bool) -> Callable[[datetime], datetime]:
    """Scenario time to a run's time (see :func:`plan_scenario`)."""
    if speedup <= 0:
        raise ValueError("speedup must be > 0")
    run_start = (start or datetime.now(UTC)).astimezone(UTC)
    scale = speedup if compress_ts else 1.0
    return lambda at: run_start + (at - scenario.start) / scale


def plan_scenario(scenario: Scenario, start: datetime | None = None, speedup: float = 1.0,
                  first_seq: dict[Party, int] | None = None, compress_ts: bool = True) -> list[Outgoing]:
    """The wire bodies and send times of ``scenario`` run from ``start`` (default now).

    A device time ``ts`` maps to ``start + (ts - scenario.start) / speedup`` (``compress_ts``: device clocks
    run at the replay's speed, so live reports carry about their send time and backfills stay in the
    past), or to ``start + (ts - scenario.start)`` without compression. ``seq`` counts per device from
    ``first_seq`` (default 1) in publish order.
    """
    to_run = _run_time(scenario, start, speedup, compress_ts)
    seqs: dict[Party, int] = {"respondent": 1, "victim": 1, **(first_seq or {})}

    def body(device: Party, fields: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": seqs[device]}
        seqs[device] += 1
        for k, v in fields.items():
            if k == "ts":
                v = rfc3339(to_run(v))
            elif k in ("lat", "lon"):
                v = round(v, 7)
            elif k == "acc":
                v = round(v, 1)
            out[k] = v
        return out

    out: list[Outgoing] = []
    for step in scenario.steps:
        payload: dict[str, Any] | list[dict[str, Any]]
        if step.batch is not None:
            payload = [body(step.device, f) for f in step.batch]
        else:
            payload = body(step.device, step.fields)
        out.append(Outgoing(step.at_s / speedup, step.device, step.message, payload, step.note))
    return out


def run_scenario(scenario: Scenario, respondent: SimDevice, victim: SimDevice, speedup: float = 1.0,
                 start: datetime | None = None, compress_ts: bool = True,
                 on_send: Callable[[Outgoing], None] | None = None) -> list[Outgoing]:
    """Send ``scenario`` through the two connected devices in real time divided by ``speedup``.

    ``seq`` continues each device's own counter. ``on_send`` is called after each publication (e.g. to
    print the step's note in a demo). Returns what was sent.
    """
    devices: dict[Party, SimDevice] = {"respondent": respondent, "victim": victim}
    planned = plan_scenario(scenario, start, speedup, {p: d.seq + 1 for p, d in devices.items()}, compress_ts)
    last = {item.device: i for i, item in enumerate(planned)}  # wait for each device's last publication
    t0 = time.monotonic()
    for i, item in enumerate(planned):
        delay = t0 + item.send_at_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        dev = devices[item.device]
        dev.seq += len(item.body) if isinstance(item.body, list) else 1
        dev.send(item.kind, item.body, wait=last[item.device] == i)
        if on_send is not None:
            on_send(item)
    return planned

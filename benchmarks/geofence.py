"""Geofence benchmark: zone checks per report for a realistic order, through the engine and the Monitor.

    .venv/bin/python benchmarks/geofence.py [--seconds 5] [--orders 1000] [--memory-orders 5000]
        [--seed 20261121] [--json results.json] [--profile]

The order is a realistic one in Xinjin, Chengdu: three circles (the victim's home, 300 m, at
30.4310 N 103.8615 E; her child's school, 150 m, 1.2 km north-east; a relative's home, 200 m,
2.6 km south-west), two polygons (her workplace, an L-shaped compound of 6 vertices 2.3 km
north-east; a park of 40 vertices 1.8 km south-east), ``pre_alert_m`` 300 (the warning ring) and the
moving zone (``min_distance_m`` 500 around the victim's phone, which reports too).

Sections, in order:
  1. engine only, per report: ``geofence.evaluate(...)`` (the five fixed zones, with the device's
     previous fix, so drive-through checks run) plus ``geofence.evaluate_moving(...)``, timed per call
     with ``time.perf_counter_ns`` after a warm-up, for fixes (a) 5-20 km from every zone, (b) near a
     zone (outside every zone, within the 300 m ring of one: the common hard case), (c) inside a zone.
     Each fix comes with the steady state of a device that was already there (previous states =
     the states this fix leads to), so no alert episode starts or ends while timing;
  2. batched: ``Monitor.on_location`` over a time-ordered stream of 1,000 orders (each its own
     respondent tracker every 30 s and victim phone every 60 s, the order's zones shifted across
     Chengdu), 99 % of the trackers 5-20 km from their zones, 1 % near (0.5 %) or inside (0.5 %) one,
     in batches of 200 with one ``Changes`` per batch as the pipeline does. The share of tracker
     reports that skipped the exact check thanks to the ``Reach`` box is counted by wrapping the
     monitor module's ``evaluate`` with a counter (it runs only for reports that were not skipped);
  3. memory: 5,000 such orders parsed and loaded into a ``Monitor`` (compiled zones, frames, Reach
     boxes), in a fresh child process each: the RSS delta (psutil), then tracemalloc's current and
     peak (Python's allocator only: GEOS and PROJ allocate with malloc, which tracemalloc does not see).

Every input comes from a seeded ``random.Random``: the same seed times the same fixes and stream
(the timed sections run for ``--seconds`` each, so how many of them ran varies with the machine).
Prints a rich table; ``--json`` also writes every figure and the machine. Exit status 0, or 2 when
the harness failed. A full default run takes about 45-60 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_HERE = Path(__file__).resolve().parent
# Run as a script, this file's directory comes first on sys.path, and this file's name would shadow the
# geofence package: drop that entry and put the repository first.
sys.path[:] = [p for p in sys.path if Path(p or os.getcwd()).resolve() != _HERE]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np

import service.domain.monitoring.fixed_zones as monitor_module
from benchmarks.harness.fixtures import metres_per_degree
from benchmarks.harness.sampling import CpuWatch, cpu_model
from geofence import (
    OUTSIDE,
    CompiledZone,
    Fix,
    FrameCache,
    LocalFrame,
    Rules,
    ZoneState,
    compile_zone,
    evaluate,
    evaluate_moving,
)
from geofence.zones import GEOD
from service.domain.directory import Directory
from service.domain.monitoring import (
    DEFAULT_EXIT_MARGIN_M,
    MAX_SPEED_MPS,
    MOVING_ZONE_ID,
    Changes,
    Monitor,
)
from service.domain.orders import OrderSpec, parse_agencies, parse_order
from service.wire import LocationReport

HOME = (30.4310, 103.8615)  # lat, lon: the victim's home in Xinjin, Chengdu
RING_M = 300.0  # pre_alert_m
MIN_DISTANCE_M = 500.0
RESPONDENT_INTERVAL_S = 30
VICTIM_INTERVAL_S = 60
T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)
COURT_ID = "court-xinjin"
POLICE_AREA = (30.0, 31.0, 103.4, 104.6)  # lat_min, lat_max, lon_min, lon_max: a 2 x 2 grid of police squares
ORDER_SHIFT = ((-0.06, 0.27), (-0.10, 0.32))  # degrees (lat, lon): each order's zones move by a draw from these
FAR_FROM_HOME_M = (8_500.0, 22_000.0)  # far trackers' base from their order's home: 5-20 km from every zone
GPS_ACCURACY_M = (5.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0)
BATCH = 200  # reports per pipeline batch (one Changes each)
ZONE_CHECKS_PER_REPORT = 6  # five fixed zones and the moving zone


# -- the order ---------------------------------------------------------------------------------------------
def dest(lat: float, lon: float, azimuth_deg: float, distance_m: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth_deg, distance_m)
    return float(lat2), float(lon2)


def local_ring(centre: tuple[float, float], east_north_m: list[tuple[float, float]]) -> list[list[float]]:
    """A closed GeoJSON ring of points given in metres east/north of ``centre``."""
    ring = []
    for e, n in east_north_m:
        lat, lon = dest(*centre, math.degrees(math.atan2(e, n)), math.hypot(e, n))
        ring.append([round(lon, 7), round(lat, 7)])
    return ring + [ring[0]]


@dataclass(frozen=True)
class Template:
    """The order's zones around HOME: (zone_id, kind, name, GeoJSON geometry, radius_m or None)."""

    zones: tuple[tuple[str, str, str, dict[str, Any], float | None], ...]


def make_template(seed: int) -> Template:
    rng = random.Random(seed)
    school = dest(*HOME, 40.0, 1200.0)
    relative = dest(*HOME, 230.0, 2600.0)
    work = dest(*HOME, 35.0, 2300.0)
    park = dest(*HOME, 150.0, 1800.0)
    # an L-shaped compound of 200 m x 140 m
    work_ring = local_ring(work, [(-100, -70), (100, -70), (100, 10), (20, 10), (20, 70), (-100, 70)])
    park_pts = []
    for k in range(40):  # an irregular park boundary of 40 vertices, 200-330 m from its centre
        a = 2 * math.pi * k / 40
        r = 260.0 * (1 + 0.15 * math.sin(3 * a + 0.7) + 0.06 * math.sin(7 * a)) + rng.uniform(-8.0, 8.0)
        park_pts.append((r * math.sin(a), r * math.cos(a)))
    park_ring = local_ring(park, park_pts)

    def point(p: tuple[float, float]) -> dict[str, Any]:
        return {"type": "Point", "coordinates": [round(p[1], 7), round(p[0], 7)]}

    return Template((
        ("home", "home", "Victim's home", point(HOME), 300.0),
        ("school", "school", "Child's school", point(school), 150.0),
        ("relative", "other", "Victim's mother's home", point(relative), 200.0),
        ("work", "work", "Victim's workplace", {"type": "Polygon", "coordinates": [work_ring]}, None),
        ("park", "other", "Riverside park", {"type": "Polygon", "coordinates": [park_ring]}, None),
    ))


def shifted(geometry: dict[str, Any], dlat: float, dlon: float) -> dict[str, Any]:
    def move(c: Any) -> Any:
        if isinstance(c[0], (int, float)):
            return [round(c[0] + dlon, 7), round(c[1] + dlat, 7)]
        return [move(part) for part in c]

    return {"type": geometry["type"], "coordinates": move(geometry["coordinates"])}


def order_body(template: Template, i: int, dlat: float, dlon: float) -> dict[str, Any]:
    features = []
    for zone_id, kind, name, geometry, radius in template.zones:
        props: dict[str, Any] = {"zone_id": zone_id, "kind": kind, "name": name}
        if radius is not None:
            props["radius_m"] = radius
        features.append({"type": "Feature", "geometry": shifted(geometry, dlat, dlon), "properties": props})
    return {
        "order_id": f"PSO-GEO-{i:05d}", "type": "ordinary", "court": COURT_ID,
        "issued_at": "2026-11-20T09:00:00Z", "expires_at": "2027-11-20T09:00:00Z",
        "respondent": {"person_id": f"R-{i:05d}", "device_id": f"trk-{i:05d}", "report_interval_s": RESPONDENT_INTERVAL_S},
        "victim": {"person_id": f"V-{i:05d}", "device_id": f"phone-{i:05d}", "report_interval_s": VICTIM_INTERVAL_S},
        "min_distance_m": MIN_DISTANCE_M, "pre_alert_m": RING_M, "datum": "wgs84",
        "zones": {"type": "FeatureCollection", "features": features},
    }


def order_shifts(n: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed + 1)
    return [(rng.uniform(*ORDER_SHIFT[0]), rng.uniform(*ORDER_SHIFT[1])) for _ in range(n)]


def agencies() -> Directory:
    lat0, lat1, lon0, lon1 = POLICE_AREA
    features = []
    for r in range(2):
        for c in range(2):
            a, b = lat0 + (lat1 - lat0) * r / 2, lat0 + (lat1 - lat0) * (r + 1) / 2
            w, e = lon0 + (lon1 - lon0) * c / 2, lon0 + (lon1 - lon0) * (c + 1) / 2
            features.append({"type": "Feature",
                             "geometry": {"type": "Polygon", "coordinates": [[[w, a], [e, a], [e, b], [w, b], [w, a]]]},
                             "properties": {"agency_id": f"police-r{r}c{c}", "name": f"Police {r},{c}", "kind": "police"}})
    features.append({"type": "Feature", "geometry": None,
                     "properties": {"agency_id": COURT_ID, "name": "Xinjin court", "kind": "court"}})
    return Directory(parse_agencies({"type": "FeatureCollection", "features": features}))


def new_monitor() -> Monitor:
    counter = iter(range(1, 1 << 62))
    return Monitor(FrameCache(), agencies(), lambda: f"alert-{next(counter)}")


# -- places relative to the template's compiled zones ------------------------------------------------------
@dataclass
class Compiled:
    frame: LocalFrame
    zones: list[CompiledZone]
    anchors: list[tuple[float, float]]  # lat, lon of each zone's centre
    reach_m: list[float]  # each zone's farthest boundary point from its anchor, metres
    rules: Rules = field(default_factory=lambda: Rules(exit_margin_m=DEFAULT_EXIT_MARGIN_M, max_speed_mps=MAX_SPEED_MPS))

    def distances(self, lat: float, lon: float) -> list[float]:
        p = self.frame.position(lat, lon)
        return [z.signed_distance_m(p) for z in self.zones]


def compile_template(template: Template) -> Compiled:
    frame = FrameCache().frame_for(*HOME)
    zones, anchors, reach = [], [], []
    for zone_id, kind, name, geometry, radius in template.zones:
        zones.append(compile_zone(zone_id, kind, name, geometry, radius, frame))
        if radius is not None:
            lon, lat = geometry["coordinates"]
            anchors.append((lat, lon))
            reach.append(radius)
        else:
            ring = geometry["coordinates"][0][:-1]
            lat = sum(p[1] for p in ring) / len(ring)
            lon = sum(p[0] for p in ring) / len(ring)
            anchors.append((lat, lon))
            reach.append(max(float(GEOD.inv(lon, lat, p[0], p[1])[2]) for p in ring))
    return Compiled(frame, zones, anchors, reach)


def place(c: Compiled, rng: random.Random, where: str, k: int, lo: float, hi: float) -> tuple[float, float, list[float]]:
    """A point whose signed distance to zone ``k`` is in [lo, hi] (``where`` near: and outside every zone)."""
    for _ in range(100_000):
        lat, lon = dest(*c.anchors[k], rng.uniform(0.0, 360.0), rng.uniform(0.0, c.reach_m[k] + max(hi, 0.0) + 20.0))
        ds = c.distances(lat, lon)
        if lo <= ds[k] <= hi and (where != "near" or min(ds) >= lo):
            return lat, lon, ds
    raise RuntimeError(f"could not place a point {where} zone {k}")


def far_point(c: Compiled, rng: random.Random) -> tuple[float, float, list[float]]:
    for _ in range(100_000):
        lat, lon = dest(*HOME, rng.uniform(0.0, 360.0), rng.uniform(5_000.0, 23_000.0))
        ds = c.distances(lat, lon)
        if 5_000.0 <= min(ds) <= 20_000.0:
            return lat, lon, ds
    raise RuntimeError("could not place a far point")


# -- 1. engine only ----------------------------------------------------------------------------------------
@dataclass
class Case:
    fix: Fix
    prev_fix: Fix
    previous: dict[str, ZoneState]
    victim: Fix
    moving_before: ZoneState
    prev_distance_m: float
    zone_kind: str  # for near/inside: circle | polygon (of the zone it is near or in)


def engine_cases(c: Compiled, category: str, n: int, seed: int) -> list[Case]:
    rng = random.Random(f"{seed}-{category}")
    cases = []
    for i in range(n):
        acc = rng.choice(GPS_ACCURACY_M)
        k = i % len(c.zones)
        if category == "far":
            lat, lon, _ = far_point(c, rng)
            speed = rng.uniform(0.0, 15.0)
        elif category == "near":
            lat, lon, _ = place(c, rng, "near", k, acc + 5.0, RING_M)
            speed = rng.uniform(0.0, 2.0)
        else:
            lat, lon, _ = place(c, rng, "inside", k, -1e9, -acc - 5.0)
            speed = rng.uniform(0.0, 2.0)
        heading = rng.uniform(0.0, 360.0)
        ts = T0 + timedelta(seconds=60 * i)
        fix = Fix(lat, lon, acc, ts, speed, heading)
        plat, plon = dest(lat, lon, heading + 180.0, speed * RESPONDENT_INTERVAL_S)
        prev_fix = Fix(plat, plon, rng.choice(GPS_ACCURACY_M), ts - timedelta(seconds=RESPONDENT_INTERVAL_S),
                       speed, heading)
        vlat, vlon = dest(*HOME, rng.uniform(0.0, 360.0), rng.uniform(0.0, 40.0))
        victim = Fix(vlat, vlon, 10.0, ts - timedelta(seconds=20))
        steady = evaluate(fix, c.frame, c.zones, {}, c.rules, RING_M, prev_fix)
        prev_distance = float(GEOD.inv(plon, plat, vlon, vlat)[2])
        before, _, _ = evaluate_moving(MOVING_ZONE_ID, fix, victim, MIN_DISTANCE_M, OUTSIDE, c.rules, RING_M,
                                       prev_distance, RESPONDENT_INTERVAL_S)
        kind = "polygon" if type(c.zones[k]).__name__ == "PolygonZone" else "circle"
        cases.append(Case(fix, prev_fix, steady.states, victim, before, prev_distance, kind))
    return cases


def time_engine(c: Compiled, cases: list[Case], seconds: float, durations: array | None = None,
                kinds: list[str] | None = None) -> None:
    """Call the engine for ``seconds``, cycling through ``cases``; append each call's time (ns) and the
    case's zone kind, unless ``durations`` is None (warm-up)."""
    clock = time.perf_counter_ns
    frame, zones, rules = c.frame, c.zones, c.rules
    ev, evm = evaluate, evaluate_moving
    n = len(cases)
    deadline = clock() + int(seconds * 1e9)
    i = 0
    while True:
        k = cases[i % n]
        t0 = clock()
        ev(k.fix, frame, zones, k.previous, rules, RING_M, k.prev_fix)
        evm(MOVING_ZONE_ID, k.fix, k.victim, MIN_DISTANCE_M, k.moving_before, rules, RING_M, k.prev_distance_m,
            RESPONDENT_INTERVAL_S)
        t1 = clock()
        if durations is not None:
            durations.append(t1 - t0)
            kinds.append(k.zone_kind)  # type: ignore[union-attr]
        i += 1
        if i % 64 == 0 and t1 > deadline:
            return


def run_engine(c: Compiled, fixes: int, seed: int, seconds: float, warmup_s: float, rounds: int) -> dict[str, Any]:
    """The three cases interleaved: ``rounds`` rounds of ``seconds / rounds`` each, so a slow spell of the
    machine (a shared or virtual one) weighs on every case alike; the per-round medians show the spread."""
    categories = ("far", "near", "inside")
    cases = {cat: engine_cases(c, cat, fixes, seed) for cat in categories}
    for cat in categories:
        time_engine(c, cases[cat], warmup_s)
    durations = {cat: array("q") for cat in categories}
    kinds: dict[str, list[str]] = {cat: [] for cat in categories}
    round_p50: dict[str, list[float]] = {cat: [] for cat in categories}
    watch = CpuWatch()
    for _ in range(rounds):
        for cat in categories:
            before = len(durations[cat])
            time_engine(c, cases[cat], seconds / rounds, durations[cat], kinds[cat])
            round_p50[cat].append(round(float(np.median(np.asarray(durations[cat][before:]))) / 1000, 1))
    out: dict[str, Any] = {"cpu": watch.stop(), "rounds": rounds}
    for cat in categories:
        out[cat] = {**summary(durations[cat]), "round_p50_us": round_p50[cat]}
        if cat != "far":
            for kind in ("circle", "polygon"):
                out[f"{cat}_{kind}"] = summary([d for d, k in zip(durations[cat], kinds[cat]) if k == kind])
    out["_cases"] = cases
    return out


def summary(durations_ns: Any) -> dict[str, Any]:
    a = np.asarray(durations_ns, dtype=np.float64) / 1000.0
    if a.size == 0:
        return {"n": 0}
    mean = float(a.mean())
    p50, p90, p99, p999 = (float(v) for v in np.percentile(a, [50, 90, 99, 99.9]))
    return {"n": int(a.size), "mean_us": round(mean, 2), "p50_us": round(p50, 2), "p90_us": round(p90, 2),
            "p99_us": round(p99, 2), "p999_us": round(p999, 2), "max_us": round(float(a.max()), 1),
            "per_s": round(1e6 / mean)}


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    best = math.inf
    for _ in range(5):
        t0 = clock()
        for _ in range(10_000):
            clock()
        best = min(best, (clock() - t0) / 10_000)
    return round(best, 1)


# -- 2. batched through the Monitor --------------------------------------------------------------------------
@dataclass
class Mover:
    """A device moving on a small circle: where it is at time t (seconds after T0)."""

    device_id: str
    lat: float
    lon: float
    radius_m: float
    period_s: float
    phase: float
    per_lat: float  # metres per degree
    per_lon: float
    acc_m: float | None  # None: cycle through GPS_ACCURACY_M
    heading: bool = True
    seq: int = 0

    def report(self, t: float) -> LocationReport:
        self.seq += 1
        w = 2 * math.pi / self.period_s
        a = self.phase + w * t
        east, north = self.radius_m * math.cos(a), self.radius_m * math.sin(a)
        ts = T0 + timedelta(seconds=t)
        acc = self.acc_m if self.acc_m is not None else GPS_ACCURACY_M[self.seq % len(GPS_ACCURACY_M)]
        spd = hdg = None
        if self.heading:
            spd = round(self.radius_m * w, 2)
            hdg = round(math.degrees(math.atan2(-math.sin(a), math.cos(a))) % 360.0, 1)
        return LocationReport(self.device_id, self.seq, ts, self.lat + north / self.per_lat,
                              self.lon + east / self.per_lon, acc, ts + timedelta(milliseconds=800), b"{}",
                              spd, hdg, None, "gps", ())


@dataclass
class Fleet:
    specs: list[OrderSpec]
    respondents: list[Mover]
    victims: list[Mover]
    category: list[str]  # per order: far | near | inside
    schedule: list[tuple[float, int, int]]  # (seconds into a 60 s round, 0 respondent / 1 victim, order index)


def make_fleet(template: Template, c: Compiled, n: int, seed: int) -> Fleet:
    rng = random.Random(seed + 2)
    shifts = order_shifts(n, seed)
    specs = [parse_order(order_body(template, i, *shifts[i])) for i in range(n)]
    n_special = max(2, round(n * 0.01))
    special = rng.sample(range(n), n_special)
    category = ["far"] * n
    for j, i in enumerate(special):
        category[i] = "near" if j < n_special // 2 else "inside"
    respondents, victims = [], []
    for i in range(n):
        dlat, dlon = shifts[i]
        k = i % len(c.zones)
        if category[i] == "far":
            lat, lon = dest(*HOME, rng.uniform(0.0, 360.0), rng.uniform(*FAR_FROM_HOME_M))
            radius, period = 150.0, 600.0  # wanders on a 150 m circle: 1.6 m/s
        elif category[i] == "near":
            lat, lon, _ = place(c, rng, "near", k, 150.0, 220.0)  # 10 m jitter, <= 25 m accuracy: in the ring
            radius, period = 10.0, 300.0
        else:
            lat, lon, _ = place(c, rng, "inside", k, -1e9, -40.0)
            radius, period = 10.0, 300.0
        lat, lon = lat + dlat, lon + dlon
        respondents.append(Mover(f"trk-{i:05d}", lat, lon, radius, period, rng.uniform(0, 2 * math.pi),
                                 *metres_per_degree(lat), None))
        vlat, vlon = HOME[0] + dlat, HOME[1] + dlon
        victims.append(Mover(f"phone-{i:05d}", vlat, vlon, 20.0, 900.0, rng.uniform(0, 2 * math.pi),
                             *metres_per_degree(vlat), 10.0, heading=False))
    schedule = []
    for i in range(n):
        first = rng.uniform(0.0, RESPONDENT_INTERVAL_S)
        schedule += [(first, 0, i), (first + RESPONDENT_INTERVAL_S, 0, i), (rng.uniform(0.0, VICTIM_INTERVAL_S), 1, i)]
    schedule.sort()
    return Fleet(specs, respondents, victims, category, schedule)


class CountingEvaluate:
    """Stands in for the monitor module's ``evaluate``: counts the reports that reached the exact check."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return evaluate(*args, **kwargs)


def run_batched(fleet: Fleet, seconds: float, warmup_rounds: int, profile: bool) -> dict[str, Any]:
    monitor = new_monitor()
    t_load = time.perf_counter()
    for spec in fleet.specs:
        monitor.load_order(spec, T0)
    load_s = time.perf_counter() - t_load
    clock = time.perf_counter_ns
    counter = CountingEvaluate()
    original = monitor_module.evaluate
    monitor_module.evaluate = counter  # type: ignore[assignment]
    by_class: dict[str, array] = {"far": array("q"), "near": array("q"), "inside": array("q"), "victim": array("q")}
    totals = {"reports": 0, "respondent_reports": 0, "events": 0, "commands": 0, "rounds": 0, "wall_s": 0.0,
              "ns": 0}
    round_rates: list[float] = []
    profiler = None
    try:
        rnd = 0
        timed_from = warmup_rounds
        deadline = None
        while True:
            timed = rnd >= timed_from
            if timed and deadline is None:
                counter.calls = 0
                deadline = time.perf_counter() + seconds
                wall0 = time.perf_counter()
                if profile:
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
            sum_ns_before = totals["ns"]
            _run_round(monitor, fleet, rnd * 60.0, clock, by_class if timed else None, totals if timed else None)
            rnd += 1
            if timed:
                totals["rounds"] += 1
                round_rates.append(len(fleet.schedule) / (totals["ns"] - sum_ns_before) * 1e9)
                if time.perf_counter() > deadline:  # type: ignore[operator]
                    break
        totals["wall_s"] = round(time.perf_counter() - wall0, 2)
    finally:
        if profiler is not None:
            profiler.disable()
        monitor_module.evaluate = original  # type: ignore[assignment]
    everything, respondent = _joined(by_class)
    skipped = totals["respondent_reports"] - counter.calls
    res = {
        "orders": len(fleet.specs), "frames": len(monitor.frames), "load_s": round(load_s, 2),
        "warmup_rounds": warmup_rounds, **totals,
        "simulated_minutes": totals["rounds"],
        "round_reports_per_s": {"min": round(min(round_rates)), "median": round(float(np.median(round_rates))),
                                "max": round(max(round_rates))},
        "exact_checks": counter.calls, "reach_skipped": skipped,
        "reach_skipped_share": round(skipped / totals["respondent_reports"], 5) if totals["respondent_reports"] else None,
        "all": summary(everything), "respondent": summary(respondent),
        **{name: summary(a) for name, a in by_class.items()},
    }
    if profiler is not None:
        res["profile"] = profile_top(profiler)
    return res


def _joined(by_class: dict[str, array]) -> tuple[array, array]:
    """Every report's time, and every tracker report's."""
    everything = array("q")
    for a in by_class.values():
        everything.extend(a)
    respondent = array("q")
    for name in ("far", "near", "inside"):
        respondent.extend(by_class[name])
    return everything, respondent


def _run_round(monitor: Monitor, fleet: Fleet, base: float, clock: Any, by_class: dict[str, array] | None,
               totals: dict[str, Any] | None) -> None:
    """One simulated minute from ``base`` seconds: the fleet's schedule in batches of BATCH."""
    batch: list[tuple[LocationReport, str]] = []
    for offset, role, i in fleet.schedule:
        if role == 0:
            batch.append((fleet.respondents[i].report(base + offset), fleet.category[i]))
        else:
            batch.append((fleet.victims[i].report(base + offset), "victim"))
        if len(batch) == BATCH:
            _run_batch(monitor, batch, clock, by_class, totals)
            batch = []
    if batch:
        _run_batch(monitor, batch, clock, by_class, totals)


def _run_batch(monitor: Monitor, batch: list[tuple[LocationReport, str]], clock: Any,
               by_class: dict[str, array] | None, totals: dict[str, Any] | None) -> None:
    changes = Changes()
    spent = 0
    now = batch[-1][0].received_at
    on_location = monitor.on_location
    for report, cls in batch:
        t0 = clock()
        on_location(report, now, changes)
        t1 = clock()
        if by_class is not None:
            by_class[cls].append(t1 - t0)
            spent += t1 - t0
    if totals is not None:
        totals["reports"] += len(batch)
        totals["ns"] += spent
        totals["respondent_reports"] += sum(1 for _, cls in batch if cls != "victim")
        totals["events"] += len(changes.events)
        totals["commands"] += len(changes.commands)


def profile_top(profiler: Any, n: int = 12) -> list[dict[str, Any]]:
    import pstats

    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.replace(str(ROOT) + "/", "")
        if "site-packages/" in where:
            where = where.split("site-packages/", 1)[1]
        rows.append({"function": f"{where}:{line}({name})", "calls": calls,
                     "tottime_s": round(tottime, 3), "cumtime_s": round(cumtime, 3)})
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:n]


def profile_engine(c: Compiled, cases: list[Case], seconds: float) -> list[dict[str, Any]]:
    import cProfile

    profiler = cProfile.Profile()
    deadline = time.perf_counter() + seconds
    i = 0
    profiler.enable()
    while time.perf_counter() < deadline:
        k = cases[i % len(cases)]
        evaluate(k.fix, c.frame, c.zones, k.previous, c.rules, RING_M, k.prev_fix)
        evaluate_moving(MOVING_ZONE_ID, k.fix, k.victim, MIN_DISTANCE_M, k.moving_before, c.rules, RING_M,
                        k.prev_distance_m, RESPONDENT_INTERVAL_S)
        i += 1
    profiler.disable()
    return profile_top(profiler)


# -- 3. memory (in a fresh child process) -------------------------------------------------------------------
def memory_child(mode: str, n: int, seed: int) -> dict[str, Any]:
    import psutil

    proc = psutil.Process()
    template = make_template(seed)
    shifts = order_shifts(n, seed)
    gc.collect()
    if mode == "tracemalloc":
        import tracemalloc

        tracemalloc.start()
    rss0 = proc.memory_info().rss
    bodies = [order_body(template, i, *shifts[i]) for i in range(n)]
    specs = [parse_order(b) for b in bodies]
    del bodies  # each spec keeps its body
    gc.collect()
    rss1 = proc.memory_info().rss
    if mode == "tracemalloc":
        spec_current, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
    monitor = new_monitor()
    t0 = time.perf_counter()
    for spec in specs:
        monitor.load_order(spec, T0)
    load_s = time.perf_counter() - t0
    gc.collect()
    rss2 = proc.memory_info().rss
    out: dict[str, Any] = {"mode": mode, "orders": n, "frames": len(monitor.frames), "load_s": round(load_s, 2),
                           "zones": sum(len(o.zones) for o in monitor.orders.values())}
    if mode == "tracemalloc":
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.update(specs_traced_mib=round(spec_current / 2**20, 1),
                   loaded_traced_mib=round((current - spec_current) / 2**20, 1),
                   load_peak_traced_mib=round((peak - spec_current) / 2**20, 1),
                   total_traced_peak_mib=round(peak / 2**20, 1))
    else:
        out.update(rss_before_mib=round(rss0 / 2**20, 1), specs_rss_mib=round((rss1 - rss0) / 2**20, 1),
                   loaded_rss_mib=round((rss2 - rss1) / 2**20, 1), rss_after_mib=round(rss2 / 2**20, 1),
                   loaded_kib_per_order=round((rss2 - rss1) / 1024 / n, 1),
                   total_kib_per_order=round((rss2 - rss0) / 1024 / n, 1))
    return out


def run_memory(n: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("rss", "tracemalloc"):
        cp = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory-child", mode,
                             "--memory-orders", str(n), "--seed", str(seed)],
                            check=False, capture_output=True, text=True, timeout=600, cwd=ROOT)
        if cp.returncode != 0:
            raise RuntimeError(f"memory child ({mode}) failed: {cp.stderr.strip()[-2000:]}")
        out[mode] = json.loads(cp.stdout.strip().splitlines()[-1])
    return out


# -- machine, report, main -----------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    import psutil
    import pyproj
    import shapely

    model = cpu_model()
    freq = None
    try:
        f = psutil.cpu_freq()
        freq = round(f.max or f.current) if f else None
    except (OSError, AttributeError, NotImplementedError):
        pass
    return {"cpu_model": model, "cpu_mhz": freq, "cores": os.cpu_count(),
            "physical_cores": psutil.cpu_count(logical=False),
            "ram_gib": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "kernel": platform.release(),
            "shapely": shapely.__version__, "geos": shapely.geos_version_string, "pyproj": pyproj.__version__,
            "proj": pyproj.proj_version_str, "numpy": np.__version__, "load_avg": [round(x, 2) for x in os.getloadavg()]}


def fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        v = f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"
    elif isinstance(v, int):
        v = f"{v:,}"
    return f"{v}{unit}"


def lat_cell(s: dict[str, Any]) -> str:
    if not s.get("n"):
        return "-"
    return f"p50 {s['p50_us']:.1f}  p90 {s['p90_us']:.1f}  p99 {s['p99_us']:.1f}  max {s['max_us']:,.0f} µs"


def print_report(res: dict[str, Any]) -> None:
    from rich.console import Console

    out = Console(width=170)
    out.print(head_table(res))
    out.print(engine_table(res["engine"]))
    out.print(batched_table(res["batched"]))
    mem = res.get("memory")
    if mem:
        out.print(memory_table(mem))
    for key, title in (("engine_near", "cProfile: engine, near fixes (by own time)"),
                       ("batched", "cProfile: batched stream (by own time)")):
        rows = res.get("profile", {}).get(key)
        if not rows:
            continue
        out.print(profile_table(title, rows))


def head_table(res: dict[str, Any]) -> Any:
    from rich.table import Table

    m, cfg = res["machine"], res["config"]
    head = Table(title="stayaway geofence benchmark", show_header=False)
    head.add_column("", style="bold")
    head.add_column("")
    head.add_row("machine", f"{m['cpu_model']}, {m['cores']} cores ({m['physical_cores']} physical), {m['ram_gib']} GiB; "
                            f"{m['implementation']} {m['python']}; shapely {m['shapely']} (GEOS {m['geos']}); "
                            f"pyproj {m['pyproj']} (PROJ {m['proj']}); numpy {m['numpy']}; load avg {m['load_avg'][0]}")
    head.add_row("order", "Xinjin, Chengdu: 3 circles (home 300 m, school 150 m, relative 200 m), 2 polygons "
                          "(workplace 6 vertices, park 40 vertices), pre_alert_m 300, moving zone 500 m (victim reports)")
    head.add_row("config", f"{cfg['seconds']:g} s per timed section ({cfg['rounds']} rounds of the engine cases), "
                           f"seed {cfg['seed']}, "
                           f"timer overhead {cfg['timer_overhead_ns']} ns per perf_counter_ns() call")
    return head


def engine_table(e: dict[str, Any]) -> Any:
    from rich.table import Table

    eng = Table(title="1. engine only: evaluate(5 fixed zones, with previous fix) + evaluate_moving, per report "
                      f"({e['rounds']} interleaved rounds; other processes' CPU meanwhile "
                      f"{e['cpu']['others_cpu_pct']} % of one core, steal {e['cpu']['steal_pct']} %)")
    for col in ("case", "calls timed", "reports/s", "zone checks/s (x6)", "mean µs", "latency per report",
                "p50 per round, µs"):
        eng.add_column(col, justify="right" if col != "latency per report" else "left")
    for name, label in (("far", "(a) far: 5-20 km from every zone"), ("near", "(b) near: within the 300 m ring"),
                        ("near_circle", "    near a circle"), ("near_polygon", "    near a polygon"),
                        ("inside", "(c) inside a zone"), ("inside_circle", "    inside a circle"),
                        ("inside_polygon", "    inside a polygon")):
        s = e[name]
        eng.add_row(label, fmt(s["n"]), fmt(s["per_s"]), fmt(s["per_s"] * ZONE_CHECKS_PER_REPORT), fmt(s["mean_us"]),
                    lat_cell(s), " ".join(f"{v:g}" for v in s.get("round_p50_us", [])))
    return eng


def batched_table(b: dict[str, Any]) -> Any:
    from rich.table import Table

    bt = Table(title=f"2. batched: Monitor.on_location, {b['orders']:,} orders, batches of {BATCH} "
                     f"({b['simulated_minutes']} simulated minutes, {b['wall_s']:g} s wall)")
    for col in ("reports", "count", "reports/s", "mean µs", "latency per report"):
        bt.add_column(col, justify="right" if col != "latency per report" else "left")
    for name, label in (("all", "all reports"), ("respondent", "tracker reports (zones + moving zone)"),
                        ("far", "  tracker far (99 %)"), ("near", "  tracker near a zone (0.5 %)"),
                        ("inside", "  tracker inside a zone (0.5 %)"), ("victim", "victim phone reports (moving zone)")):
        s = b[name]
        bt.add_row(label, fmt(s["n"]), fmt(s.get("per_s")), fmt(s.get("mean_us")), lat_cell(s))
    bt.add_section()
    bt.add_row("tracker reports that skipped the exact check (Reach box)",
               f"{b['reach_skipped']:,} of {b['respondent_reports']:,}", f"{b['reach_skipped_share'] * 100:.2f} %", "",
               f"exact checks run: {b['exact_checks']:,}; alert events {b['events']:,}, device commands {b['commands']:,}")
    rr = b["round_reports_per_s"]
    bt.add_row("reports/s per simulated minute (min / median / max)", "",
               f"{rr['min']:,} / {rr['median']:,} / {rr['max']:,}", "", "")
    bt.add_row("loading the orders", fmt(b["orders"]), "", "", f"{b['load_s']:g} s ({b['frames']} frames)")
    bt.add_row("other processes' CPU meanwhile (% of one core)", "", fmt(b.get("others_cpu_pct"), " %"), "",
               f"steal {fmt(b.get('steal_pct'), ' %')}")
    return bt


def memory_table(mem: dict[str, Any]) -> Any:
    from rich.table import Table

    r, t = mem["rss"], mem["tracemalloc"]
    mt = Table(title=f"3. memory: {r['orders']:,} orders ({r['zones']:,} zones) loaded into a Monitor, fresh process each")
    mt.add_column("measure", style="bold")
    mt.add_column("value", justify="right")
    mt.add_row("RSS delta: parsed specs (with their GeoJSON bodies)", fmt(r["specs_rss_mib"], " MiB"))
    mt.add_row("RSS delta: Monitor.load_order (compiled zones, Reach, frames)",
               f"{fmt(r['loaded_rss_mib'], ' MiB')}  ({r['loaded_kib_per_order']} KiB/order)")
    mt.add_row("RSS delta: both", f"{fmt(round(r['specs_rss_mib'] + r['loaded_rss_mib'], 1), ' MiB')}  "
                                  f"({r['total_kib_per_order']} KiB/order); process RSS {fmt(r['rss_after_mib'], ' MiB')}")
    mt.add_row("tracemalloc (Python heap only): specs / loaded / load peak",
               f"{t['specs_traced_mib']} / {t['loaded_traced_mib']} / {t['load_peak_traced_mib']} MiB")
    mt.add_row("load time (no tracemalloc)", f"{r['load_s']:g} s ({r['load_s'] / r['orders'] * 1000:.2f} ms/order)")
    return mt


def profile_table(title: str, rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    pt = Table(title=title)
    for col in ("function", "calls", "tottime s", "cumtime s"):
        pt.add_column(col, justify="left" if col == "function" else "right")
    for row in rows:
        pt.add_row(row["function"], fmt(row["calls"]), f"{row['tottime_s']:.3f}", f"{row['cumtime_s']:.3f}")
    return pt


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="timed seconds of each section (4 sections)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up of each engine case")
    p.add_argument("--rounds", type=int, default=5, help="engine cases run interleaved, in this many rounds")
    p.add_argument("--orders", type=int, default=1000, help="orders in the batched stream")
    p.add_argument("--memory-orders", type=int, default=5000, help="orders loaded for the memory figures (0: skip)")
    p.add_argument("--fixes", type=int, default=500, help="distinct fixes per engine case (cycled)")
    p.add_argument("--seed", type=int, default=20261121)
    p.add_argument("--profile", action="store_true", help="also cProfile the near engine case and the batched stream")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--memory-child", choices=("rss", "tracemalloc"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if not (a.seconds > 0 and a.warmup >= 0 and 1 <= a.rounds <= 100 and 100 <= a.orders <= 99_999 and 0 <= a.memory_orders <= 99_999
            and a.fixes >= 5):
        p.error("out of range: need seconds > 0, warmup >= 0, 100 <= orders <= 99999, 0 <= memory-orders <= 99999, "
                "fixes >= 5")
    return a


def run(a: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"config": {"seconds": a.seconds, "warmup_s": a.warmup, "rounds": a.rounds, "orders": a.orders,
                                      "memory_orders": a.memory_orders, "fixes": a.fixes, "seed": a.seed,
                                      "timer_overhead_ns": timer_overhead_ns()},
                           "machine": machine_info(), "started": datetime.now(UTC).isoformat(timespec="seconds")}
    template = make_template(a.seed)
    compiled = compile_template(template)
    profiles: dict[str, Any] = {}
    engine = run_engine(compiled, a.fixes, a.seed, a.seconds, a.warmup, a.rounds)
    near_cases = engine.pop("_cases")["near"]
    if a.profile:
        profiles["engine_near"] = profile_engine(compiled, near_cases, min(a.seconds, 3.0))
    for category in ("far", "near", "inside"):
        print(f"engine {category}: {engine[category]['per_s']:,} reports/s, p50 {engine[category]['p50_us']} µs",
              file=sys.stderr)
    res["engine"] = engine
    fleet = make_fleet(template, compiled, a.orders, a.seed)
    watch = CpuWatch()
    res["batched"] = run_batched(fleet, a.seconds, warmup_rounds=2, profile=False)
    res["batched"].update(watch.stop())
    print(f"batched: {res['batched']['all']['per_s']:,} reports/s", file=sys.stderr)
    if a.profile:
        fleet = make_fleet(template, compiled, a.orders, a.seed)
        profiles["batched"] = run_batched(fleet, min(a.seconds, 3.0), warmup_rounds=2, profile=True)["profile"]
    if profiles:
        res["profile"] = profiles
    if a.memory_orders:
        res["memory"] = run_memory(a.memory_orders, a.seed)
    return res


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    if a.memory_child:
        print(json.dumps(memory_child(a.memory_child, a.memory_orders, a.seed)))
        return 0
    t0 = time.perf_counter()
    try:
        res = run(a)
    except Exception as exc:  # noqa: BLE001 - say what failed, exit 2
        print(f"benchmark failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        if a.json:
            a.json.write_text(json.dumps({"error": f"{exc.__class__.__name__}: {exc}"}, indent=2))
        return 2
    res["run_s"] = round(time.perf_counter() - t0, 1)
    print_report(res)
    print(f"run took {res['run_s']:g} s", file=sys.stderr)
    if a.json:
        a.json.write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real tracks replayed through the real :class:`~service.domain.monitoring.Monitor`, against ground truth
computed here, independently of the ``geofence`` package.

No broker, no database: every track point becomes one ``LocationReport`` (seq counting up per device,
``received_at`` = its time + 1 s, ``acc`` from the point or 10 m when unknown, ``src`` from the point)
and goes straight to ``Monitor.on_location``. The orders are the contract's example (PROTOCOL.md
section 4) with zones built from real geometry (../shared/data, see its README for sources and licences).

Ground truth follows the rules in ``geofence/engine.py``'s docstring with different code: distances from
shapely in the zone's UTM projection (pyproj, corrected by the projection's scale factor there) for
polygons, and geopy's geodesic distances for circles and between the parties. Per zone and fix, with
``d`` the signed distance to the edge (negative inside) and ``u`` the fix's accuracy:

* a visit starts at a fix *confirmed* inside (``-d >= u``), or at the third *possible* fix in a row
  (``d <= u``, not confirmed);
* it ends at the first fix more than the exit margin (50 m) outside whose disc is wholly outside;
* two consecutive good fixes both outside whose straight segment passes deeper into the zone than the
  larger accuracy is a drive-through: a visit that starts and ends at the second fix;
* a *poor* fix (``src`` cell, or accuracy over 500 m) may end a visit but never starts one nor counts
  towards one (nor breaks a run of possible ones): a cell fix never raises a breach alone
  (``monitor.is_poor``, the ``cell_only`` scenario). The engine lets three poor "possible" fixes in a
  row start one: ``test_google_cell_fixes_never_raise_a_breach_alone`` fails on that.

The moving zone is the same with ``d`` = the geodesic distance between the parties minus the order's
``min_distance_m`` and ``u`` = the sum of both accuracies, checked on each report while both parties' latest
fixes are fresh (3 x their reporting interval + 10 s). Only episodes of the kind under test are compared: a
"possible" check also raises a ``pre_alert`` even with ``pre_alert_m`` unset (by design, see
``tests/unit/test_monitor_rules.py``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import shapely
from geopy.distance import geodesic
from pyproj import Proj, Transformer
from shapely.geometry import shape

from alerts import EventType, Kind
from geofence import FrameCache
from service.domain.directory import Directory
from service.domain.monitoring import Changes, Monitor, RoutedEvent
from service.domain.orders import parse_order
from service.wire import LocationReport, decode
from simulators.replay import report as wire_body
from simulators.tracks import Track, TrackPoint, read_track
from tests.unit.builders import example_order

RESPONDENT, VICTIM, COURT = "trk-001", "phone-001", "court-xinjin"
DEFAULT_ACC_M = 10.0
EXIT_MARGIN_M = 50.0  # the order leaves exit_margin_m unset: the default
IN_A_ROW = 3  # possible fixes in a row that make a breach (the default)
MAX_CROSS_GAP_S = 600.0  # the engine's drive-through limits (geofence.engine.Rules defaults)
MAX_SPEED_MPS = 70.0
POOR_ACC_M = 500.0

GEOLIFE = Path("trajectories") / "geolife" / "raw"
PHONE = Path("trajectories") / "phone_tracks"


# --- orders and replay ------------------------------------------------------------------------------------------

def circle(zone_id: str, lat: float, lon: float, radius_m: float) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"zone_id": zone_id, "kind": "other", "name": zone_id, "radius_m": radius_m}}


def order_body(zones: Sequence[dict[str, Any]], *, min_distance_m: float | None = None,
               pre_alert_m: float | None = None, respondent_interval_s: int = 30,
               victim_interval_s: int = 60) -> dict[str, Any]:
    """The contract's example order with these zones, in force over all the data's years (2008-2020)."""
    body = example_order()
    body.update(issued_at="2000-01-01T00:00:00Z", expires_at="2099-01-01T00:00:00Z",
                min_distance_m=min_distance_m, pre_alert_m=pre_alert_m,
                zones={"type": "FeatureCollection", "features": list(zones)})
    body["respondent"]["report_interval_s"] = respondent_interval_s
    body["victim"]["report_interval_s"] = victim_interval_s
    return body


def make_monitor(body: dict[str, Any], now: datetime) -> Monitor:
    ids = (f"alert-{n}" for n in itertools.count(1))
    monitor = Monitor(FrameCache(), Directory([]), lambda: next(ids))  # court-only routing
    monitor.load_order(parse_order(body), now)
    return monitor


def acc_of(p: TrackPoint) -> float:
    return p.acc_m if p.acc_m is not None and p.acc_m > 0 else DEFAULT_ACC_M


def to_report(device_id: str, seq: int, p: TrackPoint) -> LocationReport:
    return LocationReport(device_id, seq, p.ts, p.lat, p.lon, acc_of(p), p.ts + timedelta(seconds=1), b"{}",
                          spd_mps=p.speed_mps, hdg_deg=p.heading_deg, src=p.src)


@dataclass
class Replay:
    """What the monitor said about a stream of reports."""

    reports: list[LocationReport] = field(default_factory=list)
    fresh: list[bool] = field(default_factory=list)
    events: list[RoutedEvent] = field(default_factory=list)
    flags: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    raised_by: dict[str, LocationReport] = field(default_factory=dict)  # alert id -> the report that raised it

    def stored_flags(self, r: LocationReport) -> tuple[str, ...]:
        """The flags stored with the report (service.pipeline: the monitor's when it found any)."""
        return self.flags.get((r.device_id, r.seq), r.flags)


def replay(monitor: Monitor, reports: Iterable[LocationReport]) -> Replay:
    out = Replay()
    for r in reports:
        changes = Changes()
        out.fresh.append(monitor.on_location(r, r.received_at, changes))
        out.reports.append(r)
        out.events.extend(changes.events)
        out.flags.update(changes.flags)
        for ev in changes.events:
            if ev.event.event is EventType.RAISED:
                out.raised_by[ev.event.alert.alert_id] = r
    return out


def replay_track(monitor: Monitor, points: Iterable[TrackPoint], device_id: str = RESPONDENT) -> Replay:
    return replay(monitor, (to_report(device_id, seq, p) for seq, p in enumerate(points, start=1)))


@dataclass(frozen=True)
class Episode:
    alert_id: str
    start: datetime
    end: datetime | None
    retroactive: bool = False


def episodes(events: Iterable[RoutedEvent], kind: Kind, zone_id: str | None = None) -> list[Episode]:
    """The episodes of one alert kind (and zone), in the order they were raised: raised ... condition ended."""
    starts: dict[str, Episode] = {}
    for ev in events:
        alert, e = ev.event.alert, ev.event
        if alert.kind != kind or alert.zone_id != zone_id:
            continue
        if e.event is EventType.RAISED:
            assert alert.alert_id not in starts, f"{alert.alert_id} raised twice"
            starts[alert.alert_id] = Episode(alert.alert_id, alert.occurred_at, None, alert.retroactive)
        elif e.details.get("condition") == "ended":
            ep = starts[alert.alert_id]
            assert ep.end is None, f"{alert.alert_id} ended twice"
            starts[alert.alert_id] = Episode(ep.alert_id, ep.start, e.details["ended_at"], ep.retroactive)
    return list(starts.values())


def spans(eps: Iterable[Episode]) -> list[tuple[datetime, datetime | None]]:
    return [(e.start, e.end) for e in eps]


# --- ground truth -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    ts: datetime
    d: float  # metres from the zone's edge, negative inside
    u: float  # uncertainty radius
    poor: bool = False


def visits(checks: Sequence[Check], crossed: Callable[[int], bool] | None = None,
           margin_m: float = EXIT_MARGIN_M) -> list[tuple[datetime, datetime | None]]:
    """Visits (start, end or None while still inside) by the rules in the module docstring."""
    out: list[list[datetime | None]] = []
    inside, run = False, 0
    for i, c in enumerate(checks):
        if inside:
            if c.d > margin_m and c.d > c.u:
                out[-1][1] = c.ts
                inside = False
            continue
        if c.poor:  # counts neither way towards a visit (a cell fix never raises a breach alone)
            continue
        confirmed = -c.d >= c.u
        run = run + 1 if (not confirmed and c.d <= c.u) else 0
        if confirmed or run >= IN_A_ROW:
            out.append([c.ts, None])
            inside, run = True, 0
        elif crossed is not None and crossed(i):
            out.append([c.ts, c.ts])
    return [(s, e) for s, e in out]  # type: ignore[misc]


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(geodesic(a, b).meters)


class UtmArea:
    """A WGS-84 polygon in its UTM zone; distances corrected by the projection's scale factor there."""

    def __init__(self, geometry: dict[str, Any]) -> None:
        geo = shape(geometry)
        c = geo.centroid
        epsg = (32600 if c.y >= 0 else 32700) + int((c.x + 180.0) // 6.0) + 1
        self.epsg = epsg
        self._fwd = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
        self.k = float(Proj(f"EPSG:{epsg}").get_factors(c.x, c.y).meridional_scale)  # map metres per metre
        self.area = shapely.transform(geo, lambda xy: np.column_stack(self._fwd.transform(xy[:, 0], xy[:, 1])))
        self.edge = self.area.boundary
        shapely.prepare(self.area)
        self._cores: dict[float, Any] = {}

    def xy(self, points: Sequence[TrackPoint]) -> np.ndarray:
        x, y = self._fwd.transform(np.array([p.lon for p in points]), np.array([p.lat for p in points]))
        return np.column_stack([x, y])

    def signed_m(self, xy: np.ndarray) -> np.ndarray:
        pts = shapely.points(xy)
        d = shapely.distance(self.edge, pts) / self.k
        return np.where(shapely.contains(self.area, pts), -d, d)

    def core(self, depth_m: float) -> Any:
        """The points at least ``depth_m`` inside."""
        if depth_m not in self._cores:
            self._cores[depth_m] = self.area.buffer(-depth_m * self.k)
            shapely.prepare(self._cores[depth_m])
        return self._cores[depth_m]


def polygon_truth(area: UtmArea, points: Sequence[TrackPoint]) -> list[tuple[datetime, datetime | None]]:
    xy = area.xy(points)
    d = area.signed_m(xy)
    checks = [Check(p.ts, float(di), acc_of(p), is_poor(p)) for p, di in zip(points, d, strict=True)]

    def crossed(i: int) -> bool:  # a drive-through between points[i - 1] and points[i]
        dt = crossing_gap_s(points, i)
        if dt is None:
            return False
        a, b = points[i - 1], points[i]
        if math.dist(xy[i - 1], xy[i]) / area.k / dt > MAX_SPEED_MPS:
            return False
        return bool(shapely.intersects(area.core(max(acc_of(a), acc_of(b))), shapely.LineString(xy[i - 1:i + 1])))

    return visits(checks, crossed)


def crossing_gap_s(points: Sequence[TrackPoint], i: int) -> float | None:
    """The seconds between points[i - 1] and points[i] when the pair may show a drive-through (both good
    fixes, a gap the rule accepts), else None."""
    if i == 0:
        return None
    a, b = points[i - 1], points[i]
    dt = (b.ts - a.ts).total_seconds()
    if is_poor(a) or is_poor(b) or not 0 < dt <= MAX_CROSS_GAP_S:
        return None
    return dt


def is_poor(p: TrackPoint) -> bool:
    return acc_of(p) > POOR_ACC_M or p.src == "cell"


def circle_checks(points: Sequence[TrackPoint], lat: float, lon: float, radius_m: float) -> list[Check]:
    return [Check(p.ts, metres((lat, lon), (p.lat, p.lon)) - radius_m, acc_of(p), is_poor(p)) for p in points]


def circle_crossed(points: Sequence[TrackPoint], lat: float, lon: float, radius_m: float) -> Callable[[int], bool]:
    """Drive-through of a circle: the segment's closest approach to the centre (on the local tangent plane,
    fine within a few km) is deeper than the larger accuracy."""
    m_lat = metres((lat - 0.005, lon), (lat + 0.005, lon)) / 0.01  # metres per degree here
    m_lon = metres((lat, lon - 0.005), (lat, lon + 0.005)) / 0.01
    xy = [((p.lon - lon) * m_lon, (p.lat - lat) * m_lat) for p in points]

    def crossed(i: int) -> bool:
        dt = crossing_gap_s(points, i)
        if dt is None:
            return False
        a, b = points[i - 1], points[i]
        (ax, ay), (bx, by) = xy[i - 1], xy[i]
        dx, dy = bx - ax, by - ay
        if math.hypot(dx, dy) / dt > MAX_SPEED_MPS:
            return False
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / (dx * dx + dy * dy)))
        return math.hypot(ax + t * dx, ay + t * dy) - radius_m <= -max(acc_of(a), acc_of(b))
    return crossed


def sorted_by_time(points: Iterable[TrackPoint]) -> list[TrackPoint]:
    return sorted(points, key=lambda p: p.ts)


# --- 1. GeoLife walks around Tsinghua ---------------------------------------------------------------------------

def tsinghua_zone(shared_data: Path) -> dict[str, Any]:
    fc = json.loads((shared_data / "boundaries" / "tsinghua_campus_wgs84.geojson").read_text())
    return {"type": "Feature", "geometry": fc["features"][0]["geometry"],
            "properties": {"zone_id": "campus", "kind": "school", "name": "Tsinghua campus"}}


def geolife_files(shared_data: Path) -> list[Path]:
    return sorted((shared_data / GEOLIFE).glob("*/Trajectory/*.plt"))


def test_tsinghua_breach_episodes_match_the_campus_visits(shared_data: Path) -> None:
    zone = tsinghua_zone(shared_data)
    area = UtmArea(zone["geometry"])
    assert area.epsg == 32650  # Beijing is in UTM zone 50N
    found = truth = through = 0
    files_in_and_out = []
    for path in geolife_files(shared_data):
        track = read_track(path)
        points = track.points
        assert points and not track.backward_steps()
        expected = polygon_truth(area, points)
        monitor = make_monitor(order_body([zone]), points[0].ts)
        run = replay_track(monitor, points)
        assert all(run.fresh), path.name
        got = episodes(run.events, Kind.ZONE_BREACH, "campus")
        where = str(path.relative_to(shared_data / GEOLIFE))
        assert spans(got) == expected, where
        assert not any(e.retroactive for e in got)
        assert all(ev.recipients == (COURT,) for ev in run.events)  # court-only routing: no police agencies
        found += len(got)
        truth += len(expected)
        through += sum(1 for s, e in expected if s == e)
        if any(e is not None and s != e for s, e in expected):
            files_in_and_out.append(where)
    print(f"Tsinghua: {found} breach episodes found, {truth} visits in ground truth ({through} drive-throughs), "
          f"{len(files_in_and_out)} files enter and leave the campus")
    assert found == truth
    assert (truth, through, len(files_in_and_out)) == (70, 0, 21)  # 38 files, 40,890 points


# --- 2. a circle on a GeoLife track -----------------------------------------------------------------------------

@pytest.mark.parametrize(("plt", "index", "passes", "drive_throughs"), [
    ("001/Trajectory/20081023234104.plt", 525, 6, 0),  # a spot user 001 passes six times in a day
    ("003/Trajectory/20081028040501.plt", 700, 9, 1),  # user 003 nine times, once across a 320 s gap (drive-through)
])
def test_a_circle_on_a_geolife_track_gives_one_episode_per_pass(
        shared_data: Path, plt: str, index: int, passes: int, drive_throughs: int) -> None:
    points = read_track(shared_data / GEOLIFE / plt).points
    spot = points[index]
    radius = 200.0
    expected = visits(circle_checks(points, spot.lat, spot.lon, radius),
                      circle_crossed(points, spot.lat, spot.lon, radius))
    run = replay_track(make_monitor(order_body([circle("spot", spot.lat, spot.lon, radius)]), points[0].ts), points)
    got = episodes(run.events, Kind.ZONE_BREACH, "spot")
    print(f"{plt} point {index}: {len(got)} episodes found, {len(expected)} passes in ground truth")
    assert spans(got) == expected
    assert (len(expected), sum(1 for s, e in expected if s == e)) == (passes, drive_throughs)
    assert any(e.start <= spot.ts and (e.end is None or spot.ts < e.end) for e in got)  # the spot's own pass


# --- 3. POSMO: rows out of time order ---------------------------------------------------------------------------

def posmo(shared_data: Path) -> Track:
    return read_track(shared_data / PHONE / "posmo_trajectory.csv")


def test_posmo_rows_out_of_time_order_are_flagged_and_still_checked_live(shared_data: Path) -> None:
    """The phone logged five rows a fraction of a second before the row sent ahead of them. Each is flagged
    ``out_of_order``; received within a second of its time, it is recent, so it is checked live in arrival
    order (receive time is order: a device's claim of a later time never demotes a recent report)."""
    track = posmo(shared_data)
    points = track.points
    here = points[len(points) // 2]
    run = replay_track(make_monitor(order_body([circle("spot", here.lat, here.lon, 300.0)]), points[0].ts), points)
    newest = list(itertools.accumulate((p.ts for p in points), max))
    behind = [i for i, p in enumerate(points) if i > 0 and p.ts < newest[i - 1]]
    print(f"POSMO: {len(points)} rows, {len(behind)} older than one already sent (file rows {behind})")
    assert behind == track.backward_steps() == [59, 153, 629, 697, 1298]
    assert all(0 < (newest[i - 1] - points[i].ts).total_seconds() < 1 for i in behind)
    assert run.fresh == [True] * len(points)
    for i, r in enumerate(run.reports):
        assert ("out_of_order" in run.stored_flags(r)) is (i in behind), i
        assert "late" not in run.stored_flags(r)  # received 1 s after it was taken: not delayed


def test_posmo_each_visit_raises_one_alert(shared_data: Path) -> None:
    """300 m circles centred where the phone was at each of its five out-of-order rows (the late row is deep
    inside): fed in file order, each visit of the time-sorted track must raise exactly one alert."""
    track = posmo(shared_data)
    points, ordered = track.points, sorted_by_time(track.points)
    late = track.backward_steps()
    radius = 300.0
    zones = [circle(f"row-{i}", points[i].lat, points[i].lon, radius) for i in late]
    run = replay_track(make_monitor(order_body(zones), points[0].ts), points)
    problems, total_visits, total_alerts = [], 0, 0
    jump_held: list[str] = []
    for i in late:
        zid, c = f"row-{i}", points[i]
        expected = visits(circle_checks(ordered, c.lat, c.lon, radius), circle_crossed(ordered, c.lat, c.lon, radius))
        got = episodes(run.events, Kind.ZONE_BREACH, zid)
        total_visits, total_alerts = total_visits + len(expected), total_alerts + len(got)
        live = [e for e in got if not e.retroactive]
        # the live episodes skip the late rows: same visits, each starting at most the late row's lag later
        assert len(live) == len(expected), zid
        for e, (start, end) in zip(live, expected, strict=True):
            assert start <= e.start <= start + timedelta(seconds=1), zid
            if e.end != end:  # an impossible jump may not end an episode (a glitch, or a clone): the next fix does
                [at_end] = [r for r in run.reports if r.ts == end]
                assert "impossible_jump" in run.stored_flags(at_end) and e.end is not None and e.end > end, zid
                jump_held.append(zid)
        for start, end in expected:
            alerts = [e.alert_id for e in got if start <= e.start and (end is None or e.start <= end)]
            if len(alerts) != 1:
                problems.append(f"{zid}: visit {start.time()}-{end.time() if end else '...'} raised {alerts}")
        assert all(any(s <= e.start and (t is None or e.start <= t) for s, t in expected) for e in got), zid
    print(f"POSMO: {total_alerts} breach alerts raised for {total_visits} visits in ground truth; {problems}; "
          f"episodes ended one fix late because the fix at their end was an impossible jump: {jump_held}")
    assert problems == []


# --- 4. Google history: cell fixes ------------------------------------------------------------------------------

TOWER = (47.3776657, 8.5488743)  # where 98 of the cell fixes sit, most of them 697 m (a cell tower, 16:13-19:12)


def google(shared_data: Path) -> list[TrackPoint]:
    track = read_track(shared_data / PHONE / "google_trajectory.csv")
    assert len(track.backward_steps()) == len(track.points) - 1  # descending in the file
    return sorted_by_time(track.points)


def google_run(shared_data: Path) -> tuple[list[TrackPoint], Replay]:
    points = google(shared_data)
    run = replay_track(make_monitor(order_body([circle("tower", *TOWER, 300.0)]), points[0].ts), points)
    return points, run


def test_google_cell_fixes_are_stored_as_poor_accuracy(shared_data: Path) -> None:
    points, run = google_run(shared_data)
    cell = [p.src == "cell" for p in points]
    assert [p.acc_m is not None and p.acc_m >= 500 for p in points] == cell
    assert sum(cell) == 199 and max(p.acc_m or 0 for p in points) == 1001
    assert all(run.fresh)
    assert [("poor_accuracy" in run.stored_flags(r)) for r in run.reports] == cell
    inside = sum(1 for p in points if p.src == "cell" and metres(TOWER, (p.lat, p.lon)) <= 300.0)
    print(f"Google: {sum(cell)} cell fixes of {len(points)}, {inside} of them nominally inside the 300 m zone")
    assert inside >= 100


def test_google_cell_fixes_never_raise_a_breach_alone(shared_data: Path) -> None:
    points, run = google_run(shared_data)
    expected = visits(circle_checks(points, *TOWER, 300.0), circle_crossed(points, *TOWER, 300.0))
    got = episodes(run.events, Kind.ZONE_BREACH, "tower")
    by_cell = [(e.start.time().isoformat(), run.raised_by[e.alert_id].acc_m) for e in got
               if run.raised_by[e.alert_id].src == "cell"]
    print(f"Google: {len(got)} breach episodes found, {len(expected)} visits in ground truth (GPS fixes only), "
          f"{len(by_cell)} raised by a cell fix: {by_cell}")
    assert by_cell == []
    assert spans(got) == expected


# --- 5. moving zone: two GeoLife users who meet -----------------------------------------------------------------

RESP_INTERVAL_S, VICTIM_INTERVAL_S = 30, 60


def fresh_s(interval_s: int) -> float:
    return 3.0 * interval_s + 10.0


def moving_truth(stream: Sequence[tuple[str, TrackPoint]], loaded_at: datetime, min_distance_m: float
                 ) -> tuple[list[tuple[datetime, datetime | None]], list[tuple[datetime, datetime | None]]]:
    """Proximity visits and victim-signal-lost episodes, re-derived: each report (either party, in time
    order) compares the respondent's latest fix with the victim's latest fix when both are fresh."""
    resp: TrackPoint | None = None
    victim: TrackPoint | None = None
    checks: list[Check] = []
    lost: list[list[datetime | None]] = []
    for device, p in stream:
        if device == RESPONDENT:
            resp = p
        else:
            victim = p
        if resp is None:
            continue
        at = max(resp.ts, victim.ts) if victim is not None else resp.ts
        her_age = (at - (victim.ts if victim is not None else loaded_at)).total_seconds()
        if her_age > fresh_s(VICTIM_INTERVAL_S):
            if not lost or lost[-1][1] is not None:
                lost.append([resp.ts, None])
            continue
        if victim is None:
            continue
        if lost and lost[-1][1] is None:
            lost[-1][1] = victim.ts
        if (at - resp.ts).total_seconds() > fresh_s(RESP_INTERVAL_S):
            continue
        apart = metres((resp.lat, resp.lon), (victim.lat, victim.lon))
        checks.append(Check(at, apart - min_distance_m, acc_of(resp) + acc_of(victim)))
    return visits(checks), [(s, e) for s, e in lost]  # type: ignore[misc]


MOVING_CASES = {
    # users 004 (respondent) and 003 (victim) on 2008-10-26: up to 8 km apart, meeting at the end of the day
    "004 meets 003": ("004/Trajectory/20081026064837.plt", "003/Trajectory/20081026043935.plt", 0, 500.0),
    # the two walk together on 2008-10-23 evening, then part
    "004 walks with 003": ("004/Trajectory/20081023175852.plt", "003/Trajectory/20081023175854.plt", 0, 200.0),
    # user 003's day, followed by "herself" 5 minutes later
    "003 followed 5 min later": ("003/Trajectory/20081029040232.plt", "003/Trajectory/20081029040232.plt", 300, 200.0),
}


def moving_stream(shared_data: Path, case: str) -> list[tuple[str, TrackPoint]]:
    """Both parties' fixes in time order (his first on a tie): the order both devices' reports arrive in."""
    resp_plt, victim_plt, shift_s, _ = MOVING_CASES[case]
    shift = timedelta(seconds=shift_s)
    respondent = [dataclasses.replace(p, ts=p.ts + shift) for p in read_track(shared_data / GEOLIFE / resp_plt).points]
    victim = read_track(shared_data / GEOLIFE / victim_plt).points
    return sorted([(RESPONDENT, p) for p in respondent] + [(VICTIM, p) for p in victim],
                  key=lambda dp: (dp[1].ts, dp[0] != RESPONDENT))


def moving_run(stream: Sequence[tuple[str, TrackPoint]], min_distance_m: float) -> Replay:
    seqs = {RESPONDENT: itertools.count(1), VICTIM: itertools.count(1)}
    body = order_body([], min_distance_m=min_distance_m, respondent_interval_s=RESP_INTERVAL_S,
                      victim_interval_s=VICTIM_INTERVAL_S)
    run = replay(make_monitor(body, stream[0][1].ts), [to_report(d, next(seqs[d]), p) for d, p in stream])
    assert all(run.fresh)
    return run


@pytest.mark.parametrize(("case", "n_near", "n_lost"), [
    ("004 meets 003", 1, 1), ("004 walks with 003", 1, 0), ("003 followed 5 min later", 13, 13)])
def test_moving_zone_proximity_episodes_match_ground_truth(shared_data: Path, case: str, n_near: int,
                                                           n_lost: int) -> None:
    min_distance = MOVING_CASES[case][3]
    stream = moving_stream(shared_data, case)
    run = moving_run(stream, min_distance)
    near, lost = moving_truth(stream, stream[0][1].ts, min_distance)
    got_near = episodes(run.events, Kind.PROXIMITY)
    got_lost = episodes(run.events, Kind.VICTIM_SIGNAL_LOST)
    print(f"Moving zone, {case} ({min_distance:.0f} m): {len(got_near)} proximity episodes found, {len(near)} in "
          f"ground truth; {len(got_lost)} victim_signal_lost found, {len(lost)} in ground truth")
    assert spans(got_near) == near
    assert spans(got_lost) == lost
    assert (len(near), len(lost)) == (n_near, n_lost)
    # proximity events carry her fix (for police and the court), no other kind does
    assert all((ev.victim_fix is not None) is (ev.event.alert.kind is Kind.PROXIMITY) for ev in run.events)
    # no warning ring in this order, but a "possible" check (discs straddling min_distance_m) is a pre-alert by
    # design (geofence.engine: "while the fix is possibly inside or within ring_m")
    assert {ev.event.alert.kind for ev in run.events} <= {Kind.PROXIMITY, Kind.VICTIM_SIGNAL_LOST, Kind.PRE_ALERT}


@pytest.mark.parametrize("case", ["004 meets 003", "003 followed 5 min later"])
def test_victim_signal_lost_on_her_real_gaps(shared_data: Path, case: str) -> None:
    """Each gap in her track longer than 3 x 60 s + 10 s during which he reports gives one lost episode:
    from his first report past her limit to her next fix (open when her track ends before his)."""
    stream = moving_stream(shared_data, case)
    his = [p.ts for d, p in stream if d == RESPONDENT]
    hers = [p.ts for d, p in stream if d == VICTIM]
    limit = timedelta(seconds=fresh_s(VICTIM_INTERVAL_S))
    gaps: list[tuple[datetime, datetime | None]] = []
    for a, b in [*itertools.pairwise(hers), (hers[-1], None)]:
        during = [t for t in his if a + limit < t and (b is None or t < b)]
        if during:
            gaps.append((during[0], b))
    got = episodes(moving_run(stream, MOVING_CASES[case][3]).events, Kind.VICTIM_SIGNAL_LOST)
    print(f"{case}: her gaps over {limit.total_seconds():.0f} s while he reports: {len(gaps)}; "
          f"victim_signal_lost episodes: {len(got)}")
    assert spans(got) == gaps and gaps


# --- 6. GPX with a broken clock ---------------------------------------------------------------------------------

MOJSTROVKA_RECEIVED = datetime(2010, 12, 14, 6, 17, 4, tzinfo=UTC)  # the file's own <metadata> time


@pytest.mark.parametrize("name", ["Mojstrovka.gpx", "around-visnjan-with-car.gpx", "korita-zbevnica.gpx",
                                  "cerknicko-jezero.gpx"])
def test_gpx_tracks_through_the_decoder_and_monitor(shared_data: Path, name: str) -> None:
    """What the GPX reader gives, sent as wire reports (PROTOCOL.md section 1) and decoded by the backend.
    The Mojstrovka logger's clock says 1901-12-13T20:45:52Z (INT32_MIN) for every point; the backend
    receives them 10 s apart from the file's metadata time on. The others' clocks are good."""
    track = read_track(shared_data / "trajectories" / "gpx" / name)
    broken = track.clock_problem() is not None
    assert broken is (name == "Mojstrovka.gpx")
    points = track.points
    mid = points[len(points) // 2]
    monitor = make_monitor(order_body([circle("spot", mid.lat, mid.lon, 150.0)]),
                           MOJSTROVKA_RECEIVED if broken else points[0].ts)
    reports = []
    for seq, p in enumerate(points, start=1):
        received = MOJSTROVKA_RECEIVED + timedelta(seconds=10 * seq) if broken else p.ts + timedelta(seconds=1)
        decoded = decode(f"stayaway/v1/devices/{RESPONDENT}/location", orjson.dumps(wire_body(p, seq, p.ts)), received)
        assert not decoded.rejections
        [r] = decoded.reports
        assert isinstance(r, LocationReport)
        reports.append(r)
    run = replay(monitor, reports)
    assert all(run.fresh)  # one broken time for all: none of them is "late"
    clock_flags = [set(run.stored_flags(r)) & {"ts_implausible", "ts_future"} for r in run.reports]
    assert clock_flags == [{"ts_implausible"} if broken else set()] * len(reports)
    assert not any({"late", "out_of_order"} & set(run.stored_flags(r)) for r in run.reports)
    # placed at its receive time, so the breach episodes are those of the track replayed at that time
    placed = [TrackPoint(r.received_at if broken else r.ts, r.lat, r.lon, r.acc_m, src=r.src) for r in reports]
    expected = visits(circle_checks(placed, mid.lat, mid.lon, 150.0), circle_crossed(placed, mid.lat, mid.lon, 150.0))
    got = episodes(run.events, Kind.ZONE_BREACH, "spot")
    print(f"{name}: {len(points)} points ({len(track.skipped)} skipped by the reader), clock "
          f"{'broken' if broken else 'good'}; {len(got)} breach episodes, {len(expected)} in ground truth")
    assert spans(got) == expected and expected
    assert all(ev.event.alert.occurred_at.year >= 2010 for ev in run.events)

"""geofence: scripted walks with exact transition sequences, zone geometry, distances, frames."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import cache

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geofence import (
    CircleZone,
    Fix,
    FrameCache,
    LocalFrame,
    PolygonZone,
    Rules,
    ZoneGeometryError,
    compile_zone,
    evaluate,
)
from tests.unit.builders import (
    HOME_LAT,
    HOME_LON,
    HOME_RADIUS_M,
    T0,
    WGS84,
    WORK_RING,
    north_of_home,
    offset,
    polygon,
    seconds,
)

RULES = Rules(exit_margin_m=50.0)
WORK_LAT = 30.4415  # halfway up the workplace polygon (30.440 to 30.443)


@cache
def home_frame() -> LocalFrame:
    return FrameCache().frame_for(HOME_LAT, HOME_LON)


def home_circle() -> CircleZone:
    geometry = {"type": "Point", "coordinates": [HOME_LON, HOME_LAT]}
    return compile_zone("home", "home", "Victim's home", geometry, HOME_RADIUS_M, home_frame())


def walk(zones: Sequence, points: Iterable[tuple[float, float]], rules: Rules = RULES,
         kinds: tuple[str, ...] = ("enter", "exit", "crossed"), acc_m: float = 5.0, ring_m: float = 0.0,
         gap_s: float = 10.0) -> list[tuple[str, str]]:
    """Feed fixes one after the other, ``gap_s`` apart; return every (zone_id, kind) transition of
    ``kinds`` in order (breach episodes by default; add "warn"/"unwarn" for the pre-alert ring)."""
    state: dict = {}
    seen: list[tuple[str, str]] = []
    previous = None
    for i, (lat, lon) in enumerate(points):
        fix = Fix(lat, lon, acc_m, T0 + seconds(gap_s * i))
        result = evaluate(fix, home_frame(), zones, state, rules, ring_m, previous)
        seen += [(t.zone_id, t.kind) for t in result.transitions if t.kind in kinds]
        state, previous = result.states, fix
    return seen


def east_along(lat: float, lons: Iterable[float]) -> list[tuple[float, float]]:
    return [(lat, lon) for lon in lons]


def steps(start: float, stop: float, step: float) -> list[float]:
    n = round((stop - start) / step)
    return [start + i * step for i in range(n + 1)]


# -- scripted walks ------------------------------------------------------------------

def test_walk_straight_through_the_circle_enters_once_and_exits_once():
    points = [north_of_home(d) for d in range(1000, -1001, -50)]  # 1 km north to 1 km south
    assert walk([home_circle()], points) == [("home", "enter"), ("home", "exit")]


def test_transitions_carry_the_fix_time_and_signed_distance():
    zone, state = home_circle(), {}
    first = evaluate(Fix(*north_of_home(200), 5.0, T0), home_frame(), [zone], state, RULES)
    [t] = first.transitions
    assert (t.zone_id, t.kind, t.at) == ("home", "enter", T0)
    assert t.distance_m == pytest.approx(-100.0, abs=0.05)
    assert first.states["home"].inside and first.states["home"].since == T0


def test_jitter_on_the_edge_gives_one_enter_and_no_exit():
    inside, outside = north_of_home(HOME_RADIUS_M - 10), north_of_home(HOME_RADIUS_M + 10)
    assert walk([home_circle()], [inside, outside] * 20) == [("home", "enter")]


def test_after_jitter_moving_beyond_the_exit_margin_exits():
    jitter = [north_of_home(HOME_RADIUS_M - 10), north_of_home(HOME_RADIUS_M + 10)] * 20
    beyond = north_of_home(HOME_RADIUS_M + 60)
    assert walk([home_circle()], [*jitter, beyond]) == [("home", "enter"), ("home", "exit")]


def test_within_the_exit_margin_stays_inside():
    points = [north_of_home(0), north_of_home(HOME_RADIUS_M + 45)]
    assert walk([home_circle()], points) == [("home", "enter")]


def workplace() -> PolygonZone:
    return compile_zone("work", "work", "Victim's workplace", polygon(WORK_RING), None, home_frame())


def test_polygon_walk_from_west_to_east():
    points = east_along(WORK_LAT, steps(103.876, 103.888, 0.0005))  # 0.0005 deg of lon is ~48 m here
    assert walk([workplace()], points) == [("work", "enter"), ("work", "exit")]


def test_polygon_exit_needs_the_margin():
    # 0.0004 deg east of the east edge is ~38 m: inside the 50 m margin, so the episode goes on.
    points = east_along(WORK_LAT, [103.882, 103.8844])
    assert walk([workplace()], points) == [("work", "enter")]


def test_two_zones_are_tracked_independently():
    # The workplace is ~2.3 km from home: one fix leaves home and enters work.
    points = [north_of_home(1000), (HOME_LAT, HOME_LON), (WORK_LAT, 103.882), north_of_home(1000)]
    assert walk([home_circle(), workplace()], points) == [
        ("home", "enter"), ("home", "exit"), ("work", "enter"), ("work", "exit")]


def test_multipolygon_zone_is_one_zone_with_two_parts():
    west = [[103.900, 30.450], [103.902, 30.450], [103.902, 30.452], [103.900, 30.452], [103.900, 30.450]]
    east = [[103.906, 30.450], [103.908, 30.450], [103.908, 30.452], [103.906, 30.452], [103.906, 30.450]]
    geometry = {"type": "MultiPolygon", "coordinates": [[west], [east]]}
    zone = compile_zone("parks", "other", "Parks", geometry, None, home_frame())
    points = east_along(30.451, steps(103.898, 103.910, 0.0005))  # the 0.004 deg gap is ~380 m
    assert walk([zone], points) == [("parks", "enter"), ("parks", "exit"), ("parks", "enter"), ("parks", "exit")]


def test_self_intersecting_bow_tie_is_repaired_and_still_works():
    # Edges (0,0)-(1,1)-(1,0)-(0,1)-(0,0): a left and a right triangle meeting at the centre.
    x0, y0, s = 103.900, 30.450, 0.004
    ring = [[x0, y0], [x0 + s, y0 + s], [x0 + s, y0], [x0, y0 + s], [x0, y0]]
    assert not shapely.geometry.shape(polygon(ring)).is_valid
    zone = compile_zone("bow", "other", "Bow tie", polygon(ring), None, home_frame())
    assert zone.area.is_valid
    square = compile_zone("sq", "other", "Square", polygon([ring[0], ring[2], ring[1], ring[3], ring[0]]), None,
                          home_frame())
    assert zone.area.area == pytest.approx(square.area.area / 2, rel=0.01)  # unrepaired, the two halves cancel

    def depth(fx: float, fy: float) -> float:
        return zone.signed_distance_m(home_frame().position(y0 + fy * s, x0 + fx * s), math.inf)

    assert depth(0.15, 0.5) < 0 and depth(0.85, 0.5) < 0  # in the left and the right triangle
    assert depth(0.5, 0.1) > 0 and depth(0.5, 0.9) > 0  # below and above the crossing: not covered
    points = [(y0 + 0.5 * s, x0 - 0.5 * s), (y0 + 0.5 * s, x0 + 0.15 * s), (y0 - 2 * s, x0 + 0.5 * s)]
    assert walk([zone], points) == [("bow", "enter"), ("bow", "exit")]


@pytest.mark.parametrize("radius_m", [None, 0, -5])
def test_point_zone_without_a_positive_radius_is_refused(radius_m):
    with pytest.raises(ZoneGeometryError):
        compile_zone("home", "home", "Home", {"type": "Point", "coordinates": [HOME_LON, HOME_LAT]}, radius_m,
                     home_frame())


@pytest.mark.parametrize("geometry", [
    {"type": "LineString", "coordinates": [[103.9, 30.45], [103.91, 30.45]]},
    {"type": "Polygon", "coordinates": []},
    {"type": "Polygon", "coordinates": [[[103.9, 30.45], [103.9, 30.45], [103.9, 30.45], [103.9, 30.45]]]},
    # collinear on the frame's central meridian (a parallel would curve in the frame and keep some area)
    {"type": "Polygon", "coordinates": [[[103.875, 30.40], [103.875, 30.41], [103.875, 30.42], [103.875, 30.40]]]},
])
def test_unusable_geometry_is_refused(geometry):
    with pytest.raises(ZoneGeometryError):
        compile_zone("z", "other", "Z", geometry, None, home_frame())


# -- distances -----------------------------------------------------------------------

@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(azimuth_deg=st.floats(-180.0, 180.0), distance_m=st.floats(0.0, 50_000.0))
def test_circle_signed_distance_agrees_with_the_geodesic(azimuth_deg, distance_m):
    """Within 0.1 m up to 50 km, against geopy's independent implementation of Karney's geodesic."""
    from geopy.distance import geodesic

    lat, lon = offset(HOME_LAT, HOME_LON, azimuth_deg, distance_m)
    reference_m = geodesic((HOME_LAT, HOME_LON), (lat, lon), ellipsoid="WGS-84").meters
    got = home_circle().signed_distance_m(home_frame().position(lat, lon))
    assert got == pytest.approx(reference_m - HOME_RADIUS_M, abs=0.1)


def test_polygon_far_point_returns_a_lower_bound_above_the_exact_threshold():
    zone, exact_within_m = workplace(), 50.0
    lat, lon = offset(WORK_LAT, 103.884, 90.0, 5_000.0)  # 5 km due east of the east edge
    p = home_frame().position(lat, lon)
    exact = zone.signed_distance_m(p, exact_within_m=math.inf)
    assert exact == pytest.approx(5_000.0, abs=1.0)
    bound = zone.signed_distance_m(p, exact_within_m=exact_within_m)
    assert exact_within_m < bound <= exact
    assert bound < exact  # the cheap path was taken (the bounding circle is wider than the polygon)


def test_polygon_near_point_is_exact_and_negative_inside():
    zone = workplace()
    p = home_frame().position(WORK_LAT, 103.8844)  # ~38 m east of the east edge
    exact = zone.signed_distance_m(p, exact_within_m=math.inf)
    assert exact == pytest.approx(38.4, abs=1.0)
    assert zone.signed_distance_m(p, exact_within_m=50.0) == exact
    p = home_frame().position(WORK_LAT, 103.883)  # ~96 m west of the east edge, ~166 m from north and south
    assert zone.signed_distance_m(p, exact_within_m=50.0) == pytest.approx(-96.1, abs=1.0)


# -- frames --------------------------------------------------------------------------

def test_frame_cache_shares_one_frame_per_cell():
    frames = FrameCache()
    a = frames.frame_for(30.4310, 103.8615)
    b = frames.frame_for(30.4400, 103.8820)  # same 0.25 degree cell
    c = frames.frame_for(30.5100, 103.8615)  # the cell to the north
    assert a is b
    assert c is not a
    assert len(frames) == 2
    assert (a.origin_lat, a.origin_lon) == (30.375, 103.875)


def test_frame_round_trips_and_measures_from_its_origin():
    frame = home_frame()
    x, y = frame.to_xy(HOME_LAT, HOME_LON)
    assert frame.to_latlon(x, y) == pytest.approx((HOME_LAT, HOME_LON), abs=1e-9)
    _, _, origin_to_home_m = WGS84.inv(frame.origin_lon, frame.origin_lat, HOME_LON, HOME_LAT)
    assert math.hypot(x, y) == pytest.approx(origin_to_home_m, abs=0.001)


def test_a_geometry_error_never_quotes_coordinates() -> None:
    from geofence import FrameCache, ZoneGeometryError, compile_zone

    frame = FrameCache().frame_for(30.4310, 103.8615)
    ring = [[103.8615123, 30.4310456], [103.8625123, "x"], [103.8615123, 30.4310456]]
    try:
        compile_zone("home", "home", "Home", {"type": "Polygon", "coordinates": [ring]}, None, frame)
    except ZoneGeometryError as exc:
        assert "103.86" not in str(exc) and "30.43" not in str(exc)
    else:
        raise AssertionError("a polygon with a non-numeric coordinate must be refused")


def test_many_points_at_once_get_the_same_signed_distances_as_one_at_a_time() -> None:
    """``signed_distances_m`` (the order page's chart) agrees with each zone's own ``signed_distance_m``."""
    import random

    from geofence import FrameCache, compile_zone
    from geofence.zones import signed_distances_m

    frame = FrameCache().frame_for(30.4310, 103.8615)
    square = [[103.870, 30.440], [103.876, 30.440], [103.876, 30.445], [103.870, 30.445], [103.870, 30.440]]
    zones = [compile_zone("home", "home", "Home", {"type": "Point", "coordinates": [103.8615, 30.4310]}, 300, frame),
             compile_zone("work", "work", "Work", {"type": "Polygon", "coordinates": [square]}, None, frame)]
    rng = random.Random(7)
    lats = [rng.uniform(30.42, 30.45) for _ in range(500)]
    lons = [rng.uniform(103.85, 103.88) for _ in range(500)]
    many = signed_distances_m(zones, frame, lats, lons)
    one = [min(z.signed_distance_m(frame.position(a, b)) for z in zones) for a, b in zip(lats, lons, strict=True)]
    assert many.tolist() == pytest.approx(one, abs=1e-6)
    assert (many < 0).any() and (many > 0).any()  # points inside and outside both zones were tried
    assert signed_distances_m([], frame, lats[:3], lons[:3]).tolist() == [float("inf")] * 3

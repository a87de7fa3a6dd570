"""The prefilter box never skips a fix that the exact check would find within the margin of a zone."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from geofence import FrameCache, Reach, compile_zone

MARGIN_M = 50.0


@settings(max_examples=300, derandomize=True, deadline=None)
@given(lat=st.floats(-75, 75), lon=st.floats(-175, 175), radius_m=st.floats(10, 5000),
       bearing=st.floats(0, 360), distance_m=st.floats(0, 20_000))
def test_a_fix_outside_the_box_is_beyond_the_margin_of_a_circle(lat, lon, radius_m, bearing, distance_m) -> None:  # type: ignore[no-untyped-def]
    from pyproj import Geod

    geometry = {"type": "Point", "coordinates": [lon, lat]}
    reach = Reach.around([(geometry, radius_m)], MARGIN_M)
    plon, plat, _ = Geod(ellps="WGS84").fwd(lon, lat, bearing, distance_m)
    if not reach.holds(plat, plon):
        frame = FrameCache().frame_for(lat, lon)
        zone = compile_zone("z", "home", "z", geometry, radius_m, frame)
        assert zone.signed_distance_m(frame.position(plat, plon)) > MARGIN_M
    if distance_m <= radius_m + MARGIN_M:
        assert reach.holds(plat, plon)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(lat=st.floats(-70, 70), lon=st.floats(-170, 170), size=st.floats(0.0005, 0.05),
       dlat=st.floats(-0.1, 0.1), dlon=st.floats(-0.1, 0.1))
def test_a_fix_outside_the_box_is_beyond_the_margin_of_a_polygon(lat, lon, size, dlat, dlon) -> None:  # type: ignore[no-untyped-def]
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    reach = Reach.around([(geometry, None)], MARGIN_M)
    plat, plon = lat + dlat, lon + dlon
    frame = FrameCache().frame_for(lat, lon)
    zone = compile_zone("z", "work", "z", geometry, None, frame)
    d = zone.signed_distance_m(frame.position(plat, plon))
    if not reach.holds(plat, plon):
        assert d > MARGIN_M
    if d <= MARGIN_M:
        assert reach.holds(plat, plon)


def test_near_the_antimeridian_or_a_pole_the_box_covers_everything() -> None:
    east = Reach.around([({"type": "Point", "coordinates": [179.999, 10.0]}, 500.0)], MARGIN_M)
    polar = Reach.around([({"type": "Point", "coordinates": [10.0, 89.5]}, 500.0)], MARGIN_M)
    assert east.holds(-10.0, -179.0) and polar.holds(-89.0, -170.0)
    assert math.isclose(east.lat_min, -90.0) and math.isclose(polar.lon_max, 180.0)

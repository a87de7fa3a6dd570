"""Builders for unit-test data: the contract's example order, agencies, walks.

Every builder returns a fresh object, so a test may mutate what it gets.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from pyproj import Geod

WGS84 = Geod(ellps="WGS84")
T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)

HOME_LAT, HOME_LON, HOME_RADIUS_M = 30.4310, 103.8615, 300.0
WORK_RING = [[103.880, 30.440], [103.884, 30.440], [103.884, 30.443], [103.880, 30.443], [103.880, 30.440]]

# Verbatim from PROTOCOL.md section 4.
_EXAMPLE_ORDER: dict[str, Any] = {
    "order_id": "PSO-2026-0001",
    "type": "ordinary",
    "court": "court-xinjin",
    "issued_at": "2026-11-20T09:00:00Z",
    "expires_at": "2027-11-20T09:00:00Z",
    "respondent": {"person_id": "R-1", "device_id": "trk-001", "report_interval_s": 30},
    "victim": {"person_id": "V-1", "device_id": "phone-001", "report_interval_s": 60},
    "min_distance_m": 500,
    "pre_alert_m": 300,
    "datum": "wgs84",
    "zones": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [103.8615, 30.4310]},
         "properties": {"zone_id": "home", "kind": "home", "name": "Victim's home", "radius_m": 300}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [WORK_RING]},
         "properties": {"zone_id": "work", "kind": "work", "name": "Victim's workplace"}},
    ]},
}

# Two adjacent police squares split at lon 103.87: home (103.8615) is west, the workplace east.
WEST_SQUARE = [[103.80, 30.40], [103.87, 30.40], [103.87, 30.47], [103.80, 30.47], [103.80, 30.40]]
EAST_SQUARE = [[103.87, 30.40], [103.94, 30.40], [103.94, 30.47], [103.87, 30.47], [103.87, 30.40]]


def example_order(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(_EXAMPLE_ORDER)
    body.update(overrides)
    return body


def polygon(ring: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


def agencies_collection() -> dict[str, Any]:
    """Agencies file (contract section 4): two police squares and the example order's court."""
    def feature(agency_id: str, kind: str, geometry: dict[str, Any] | None) -> dict[str, Any]:
        return {"type": "Feature", "geometry": geometry,
                "properties": {"agency_id": agency_id, "name": agency_id.replace("-", " ").title(), "kind": kind}}

    return {"type": "FeatureCollection", "features": [
        feature("police-west", "police", polygon(WEST_SQUARE)),
        feature("police-east", "police", polygon(EAST_SQUARE)),
        feature("court-xinjin", "court", None),
    ]}


def offset(lat: float, lon: float, azimuth_deg: float, distance_m: float) -> tuple[float, float]:
    """The (lat, lon) ``distance_m`` along the geodesic from (lat, lon) at ``azimuth_deg``."""
    lon2, lat2, _ = WGS84.fwd(lon, lat, azimuth_deg, distance_m)
    return lat2, lon2


def north_of_home(distance_m: float) -> tuple[float, float]:
    """Negative distances are south of the home zone's centre."""
    return offset(HOME_LAT, HOME_LON, 0.0 if distance_m >= 0 else 180.0, abs(distance_m))


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)

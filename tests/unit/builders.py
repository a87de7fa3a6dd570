"""Builders for unit-test data: the contract's example order, agencies, walks.

Every builder returns a fresh object, so a test may mutate what it gets.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from pyproj import Geod

from tests.support.builders import ORDER, WORK_POLYGON

WGS84 = Geod(ellps="WGS84")
T0 = datetime(2026, 11, 21, 8, 0, 0, tzinfo=UTC)

HOME_LAT, HOME_LON, HOME_RADIUS_M = 30.4310, 103.8615, 300.0
WORK_RING = WORK_POLYGON

# Verbatim from PROTOCOL.md section 4 (shared with the integration and e2e tests).
_EXAMPLE_ORDER: dict[str, Any] = ORDER


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

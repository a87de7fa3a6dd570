"""A conservative lat/lon box around all of an order's zones, plus a margin.

Most reports are nowhere near any zone. A fix outside the box is farther than
the margin from every zone, so it cannot enter one, and it need not be
projected at all (~5 us saved per report). The box is built with degree sizes
that overstate every distance (1 degree of latitude is at least 110,574 m; a
degree of longitude at least 111,320 m times the cosine of the box's highest
latitude), so it only ever errs towards checking. Near the poles and across
the antimeridian the box covers everything, and a fix whose accuracy or a
segment that reaches across the antimeridian is always checked.

The engine's polygon edges and the drive-through segment are straight in the
local frame, which on the ellipsoid bows towards the pole by up to
``L**2 * tan(lat) / (8 R)`` for a length ``L``; the box grows by that bow (and
a metre of slack), so a zero exit margin is safe too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

M_PER_DEG_LAT = 110_000.0  # < 110,574 m: overstates degrees, so the box only grows
M_PER_DEG_LON_EQ = 111_000.0  # < 111,320 m at the equator
M_PER_DEG_MAX = 111_700.0  # > any degree's length: overstates a segment's length, and so its bow
EARTH_R_MIN_M = 6_335_000.0  # < the smallest radius of curvature of the WGS-84 ellipsoid
SLACK_M = 1.0


def bow_m(length_m: float, lat_deg: float) -> float:
    """How far a straight line of ``length_m`` in a local plane strays poleward of the chord between
    its ends drawn on lat/lon (an overestimate)."""
    return length_m * length_m * math.tan(math.radians(min(abs(lat_deg), 89.0))) / (8.0 * EARTH_R_MIN_M)


@dataclass(frozen=True, slots=True)
class Reach:
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float
    m_per_deg_lon: float = M_PER_DEG_LON_EQ  # a lower bound over the box (at its highest latitude)

    def holds(self, lat: float, lon: float, extra_m: float = 0.0) -> bool:
        """Whether (lat, lon) lies in the box grown by ``extra_m`` (a fix's accuracy radius)."""
        d_lat, d_lon = extra_m / M_PER_DEG_LAT, extra_m / self.m_per_deg_lon
        if not self.lat_min - d_lat <= lat <= self.lat_max + d_lat:
            return False
        if self.lon_min - d_lon < -180.0 or self.lon_max + d_lon > 180.0:
            return True  # the grown box wraps round the antimeridian: check
        return self.lon_min - d_lon <= lon <= self.lon_max + d_lon

    def touches_segment(self, a: tuple[float, float], b: tuple[float, float], extra_m: float = 0.0) -> bool:
        """Whether the straight way between two (lat, lon) fixes may pass through the box (conservative:
        the segment's bounding box meets the grown box)."""
        if abs(a[1] - b[1]) > 180.0:
            return True  # it crosses the antimeridian: check
        top = max(abs(a[0]), abs(b[0]))
        length = math.hypot(a[0] - b[0], (a[1] - b[1]) * math.cos(math.radians(min(top, 89.0)))) * M_PER_DEG_MAX
        extra_m += bow_m(length, top) + SLACK_M
        d_lat, d_lon = extra_m / M_PER_DEG_LAT, extra_m / self.m_per_deg_lon
        if max(a[0], b[0]) < self.lat_min - d_lat or min(a[0], b[0]) > self.lat_max + d_lat:
            return False
        if self.lon_min - d_lon < -180.0 or self.lon_max + d_lon > 180.0:
            return True
        return not (max(a[1], b[1]) < self.lon_min - d_lon or min(a[1], b[1]) > self.lon_max + d_lon)

    @classmethod
    def around(cls, geometries: Iterable[tuple[dict[str, Any], float | None]], margin_m: float) -> Reach:
        """``geometries``: (GeoJSON geometry, radius_m or None) in WGS-84."""
        lats: list[float] = []
        lons: list[float] = []
        highest = 0.0
        for geometry, radius_m in geometries:
            points = list(_positions(geometry["coordinates"]))
            reach_m = (radius_m or 0.0) + margin_m + _edge_bow_m(points) + SLACK_M
            for lon, lat in points:
                lats.append(lat)
                lons.append(lon)
            if not points:
                continue
            top = min(89.0, max(abs(lat) for _, lat in points) + reach_m / M_PER_DEG_LAT)
            if top >= 89.0:
                return _everywhere()
            highest = max(highest, top)
            d_lat = reach_m / M_PER_DEG_LAT
            d_lon = reach_m / (M_PER_DEG_LON_EQ * math.cos(math.radians(top)))
            lats += [min(lat for _, lat in points) - d_lat, max(lat for _, lat in points) + d_lat]
            lons += [min(lon for lon, _ in points) - d_lon, max(lon for lon, _ in points) + d_lon]
        if not lats or min(lons) < -180.0 or max(lons) > 180.0 or max(lons) - min(lons) > 180.0:
            return _everywhere()
        lat_min, lat_max = min(lats), max(lats)
        top = min(89.0, max(abs(lat_min), abs(lat_max), highest))
        return cls(lat_min, lat_max, min(lons), max(lons), M_PER_DEG_LON_EQ * math.cos(math.radians(top)))


def _everywhere() -> Reach:
    return Reach(-90.0, 90.0, -180.0, 180.0)


def _positions(coords: Sequence[Any]) -> Iterable[tuple[float, float]]:
    if coords and isinstance(coords[0], (int, float)):
        yield float(coords[0]), float(coords[1])
        return
    for part in coords:
        yield from _positions(part)


def _edge_bow_m(points: Sequence[tuple[float, float]]) -> float:
    """The largest poleward bow of any edge between consecutive (lon, lat) vertices (0 for a point)."""
    worst = 0.0
    for (lon1, lat1), (lon2, lat2) in zip(points, points[1:], strict=False):
        top = max(abs(lat1), abs(lat2))
        length = math.hypot(lat1 - lat2, (lon1 - lon2) * math.cos(math.radians(min(top, 89.0)))) * M_PER_DEG_MAX
        worst = max(worst, bow_m(length, top))
    return worst

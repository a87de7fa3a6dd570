"""A conservative lat/lon box around all of an order's zones, plus a margin.

Most reports are nowhere near any zone. A fix outside the box is farther than
the margin from every zone, so it cannot enter one, and it need not be
projected at all (~5 us saved per report). The box is built with degree sizes
that overstate every distance (1 degree of latitude is at least 110,574 m; a
degree of longitude at least 111,320 m times the cosine of the box's highest
latitude), so it only ever errs towards checking. Near the poles and across
the antimeridian the box covers everything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

M_PER_DEG_LAT = 110_000.0  # < 110,574 m: overstates degrees, so the box only grows
M_PER_DEG_LON_EQ = 111_000.0  # < 111,320 m at the equator


@dataclass(frozen=True, slots=True)
class Reach:
    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def holds(self, lat: float, lon: float) -> bool:
        return self.lat_min <= lat <= self.lat_max and self.lon_min <= lon <= self.lon_max

    @classmethod
    def around(cls, geometries: Iterable[tuple[dict[str, Any], float | None]], margin_m: float) -> Reach:
        """``geometries``: (GeoJSON geometry, radius_m or None) in WGS-84."""
        lats: list[float] = []
        lons: list[float] = []
        for geometry, radius_m in geometries:
            points = list(_positions(geometry["coordinates"]))
            reach_m = (radius_m or 0.0) + margin_m
            for lon, lat in points:
                lats.append(lat)
                lons.append(lon)
            if not points:
                continue
            top = min(89.0, max(abs(lat) for _, lat in points) + reach_m / M_PER_DEG_LAT)
            if top >= 89.0:
                return _everywhere()
            d_lat = reach_m / M_PER_DEG_LAT
            d_lon = reach_m / (M_PER_DEG_LON_EQ * math.cos(math.radians(top)))
            lats += [min(lat for _, lat in points) - d_lat, max(lat for _, lat in points) + d_lat]
            lons += [min(lon for lon, _ in points) - d_lon, max(lon for lon, _ in points) + d_lon]
        if not lats or min(lons) < -180.0 or max(lons) > 180.0 or max(lons) - min(lons) > 180.0:
            return _everywhere()
        return cls(min(lats), max(lats), min(lons), max(lons))


def _everywhere() -> Reach:
    return Reach(-90.0, 90.0, -180.0, 180.0)


def _positions(coords: Sequence[Any]) -> Iterable[tuple[float, float]]:
    if coords and isinstance(coords[0], (int, float)):
        yield float(coords[0]), float(coords[1])
        return
    for part in coords:
        yield from _positions(part)

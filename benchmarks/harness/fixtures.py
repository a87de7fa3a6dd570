"""What several scenarios share: the police grid and court, order ids, local geometry, RFC 3339 times."""

from __future__ import annotations

import math
import time
from typing import Any

AREA = (30.3, 30.7, 103.7, 104.2)  # lat_min, lat_max, lon_min, lon_max: police squares tile this
POLICE_GRID = 2  # POLICE_GRID x POLICE_GRID squares
COURT_ID = "court-bench"
HOME_RADIUS_M = 300.0


# -- geometry (WGS-84 local radii: within 0.01 % of the service's projection over a few km) --------
_A, _E2 = 6378137.0, 6.69437999014e-3


def metres_per_degree(lat: float) -> tuple[float, float]:
    s = math.sin(math.radians(lat))
    w = 1.0 - _E2 * s * s
    per_lat = math.radians(1.0) * _A * (1.0 - _E2) / w ** 1.5
    per_lon = math.radians(1.0) * _A / math.sqrt(w) * math.cos(math.radians(lat))
    return per_lat, per_lon


def offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    per_lat, per_lon = metres_per_degree(lat)
    return lat + north_m / per_lat, lon + east_m / per_lon


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    per_lat, per_lon = metres_per_degree((lat1 + lat2) / 2)
    return math.hypot((lat2 - lat1) * per_lat, (lon2 - lon1) * per_lon)


# -- agencies and orders ---------------------------------------------------------------------------
def police_squares() -> dict[str, tuple[float, float, float, float]]:
    """agency id -> (lat_min, lat_max, lon_min, lon_max), the squares ``agencies_geojson`` tiles."""
    lat0, lat1, lon0, lon1 = AREA
    n = POLICE_GRID
    return {f"police-r{r}c{c}": (lat0 + (lat1 - lat0) * r / n, lat0 + (lat1 - lat0) * (r + 1) / n,
                                 lon0 + (lon1 - lon0) * c / n, lon0 + (lon1 - lon0) * (c + 1) / n)
            for r in range(n) for c in range(n)}


def agencies_geojson() -> dict[str, Any]:
    lat0, lat1, lon0, lon1 = AREA
    features = []
    for r in range(POLICE_GRID):
        for c in range(POLICE_GRID):
            a = lat0 + (lat1 - lat0) * r / POLICE_GRID
            b = lat0 + (lat1 - lat0) * (r + 1) / POLICE_GRID
            w = lon0 + (lon1 - lon0) * c / POLICE_GRID
            e = lon0 + (lon1 - lon0) * (c + 1) / POLICE_GRID
            features.append({"type": "Feature",
                             "geometry": {"type": "Polygon", "coordinates": [[[w, a], [e, a], [e, b], [w, b], [w, a]]]},
                             "properties": {"agency_id": f"police-r{r}c{c}", "name": f"Bench police square {r},{c}",
                                            "kind": "police"}})
    features.append({"type": "Feature", "geometry": None,
                     "properties": {"agency_id": COURT_ID, "name": "Bench intermediate court", "kind": "court"}})
    return {"type": "FeatureCollection", "features": features}


def order_id(i: int) -> str:
    return f"PSO-BENCH-{i:05d}"


_ts_cache: dict[int, str] = {}


def rfc3339(t: float) -> str:
    """``2026-11-21T08:15:30.250Z`` for a POSIX time (milliseconds truncated)."""
    sec = int(t)
    head = _ts_cache.get(sec)
    if head is None:
        if len(_ts_cache) > 4096:
            _ts_cache.clear()
        head = _ts_cache[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{head}.{int((t - sec) * 1000):03d}Z"

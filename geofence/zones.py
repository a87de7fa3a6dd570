"""Stay-away zones compiled into a local metric frame.

Every zone answers one question: the signed distance in metres from a point
to its boundary, negative inside (the depth), positive outside. The answer is
exact whenever it is within ``exact_within_m`` of the boundary; further away
a cheap bounding-circle lower bound is returned instead, which is all a
threshold comparison needs and keeps far-away reports off shapely's ~20 us
per-call path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.validation import make_valid

from geofence.frame import LocalFrame


class ZoneGeometryError(ValueError):
    """The zone's geometry cannot be used (wrong type, empty, no radius...)."""


class CompiledZone(Protocol):
    zone_id: str
    kind: str
    name: str

    def signed_distance_m(self, x: float, y: float, exact_within_m: float) -> float: ...


@dataclass(frozen=True, slots=True)
class CircleZone:
    zone_id: str
    kind: str
    name: str
    cx: float
    cy: float
    radius_m: float

    def signed_distance_m(self, x: float, y: float, exact_within_m: float = math.inf) -> float:
        return math.hypot(x - self.cx, y - self.cy) - self.radius_m


@dataclass(frozen=True, slots=True)
class PolygonZone:
    zone_id: str
    kind: str
    name: str
    area: Any  # shapely (Multi)Polygon in the frame, prepared
    boundary: Any
    bcx: float  # bounding circle, for the cheap lower bound
    bcy: float
    bradius_m: float

    def signed_distance_m(self, x: float, y: float, exact_within_m: float = math.inf) -> float:
        lower_bound = math.hypot(x - self.bcx, y - self.bcy) - self.bradius_m
        if lower_bound > exact_within_m:
            return lower_bound
        edge = float(shapely.distance(self.boundary, shapely.Point(x, y)))
        return -edge if shapely.intersects_xy(self.area, x, y) else edge


def compile_zone(
    zone_id: str, kind: str, name: str, geometry: dict[str, Any], radius_m: float | None, frame: LocalFrame
) -> CircleZone | PolygonZone:
    """Compile one GeoJSON zone (WGS-84) into ``frame``."""
    gtype = geometry.get("type")
    if gtype == "Point":
        if radius_m is None or not radius_m > 0:
            raise ZoneGeometryError(f"zone {zone_id!r}: a Point zone needs radius_m > 0")
        lon, lat = geometry["coordinates"][:2]
        cx, cy = frame.to_xy(lat, lon)
        return CircleZone(zone_id, kind, name, cx, cy, float(radius_m))
    if gtype not in ("Polygon", "MultiPolygon"):
        raise ZoneGeometryError(f"zone {zone_id!r}: geometry type {gtype!r} is not Point, Polygon or MultiPolygon")
    try:
        geo = shape(geometry)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        # never quote the library's message: GEOS names coordinates ("... at or near point x y")
        raise ZoneGeometryError(f"zone {zone_id!r}: unreadable polygon ({exc.__class__.__name__})") from exc
    if geo.is_empty:
        raise ZoneGeometryError(f"zone {zone_id!r}: empty polygon")
    area = _to_frame(geo, frame)
    if not area.is_valid:
        area = make_valid(area)
    area = shapely.union_all([g for g in shapely.get_parts(area) if g.geom_type in ("Polygon", "MultiPolygon")])
    if area.is_empty or area.area <= 0:
        raise ZoneGeometryError(f"zone {zone_id!r}: polygon has no area")
    shapely.prepare(area)
    coords = shapely.get_coordinates(area)
    minx, miny, maxx, maxy = area.bounds
    bcx, bcy = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    bradius = float(np.max(np.hypot(coords[:, 0] - bcx, coords[:, 1] - bcy)))
    return PolygonZone(zone_id, kind, name, area, area.boundary, bcx, bcy, bradius)


def _to_frame(geo: Any, frame: LocalFrame) -> Any:
    def project(coords: np.ndarray) -> np.ndarray:
        x, y = frame.to_xy_many(coords[:, 1], coords[:, 0])
        return np.column_stack([x, y])

    return shapely.transform(geo, project)

"""Stay-away zones compiled into a local metric frame.

Every zone answers one question: the signed distance in metres from a point
to its boundary, negative inside (the depth), positive outside. The answer is
exact whenever it is within ``exact_within_m`` of the boundary; further away
a cheap bounding-circle lower bound is returned instead, which is all a
threshold comparison needs and keeps far-away reports off shapely's ~20 us
per-call path. Circles are measured on the WGS-84 ellipsoid (``pyproj.Geod``,
~1 us), so a circle's distance is exact at any range; polygons in the local
frame (see ``geofence.frame`` for its error).

A second question serves drive-through detection: the deepest point of a
straight segment between two fixes (:meth:`segment_depth_m`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.validation import make_valid
from pyproj import Geod

from geofence.frame import LocalFrame, Position

GEOD = Geod(ellps="WGS84")
SEGMENT_SAMPLE_M = 2.0  # spacing of the points that measure a segment's depth inside a polygon


class ZoneGeometryError(ValueError):
    """The zone's geometry cannot be used (wrong type, empty, no radius...)."""


class CompiledZone(Protocol):
    zone_id: str
    kind: str
    name: str

    def signed_distance_m(self, p: Position, exact_within_m: float = math.inf) -> float: ...

    def segment_depth_m(self, a: Position, b: Position) -> float: ...


@dataclass(frozen=True, slots=True)
class CircleZone:
    zone_id: str
    kind: str
    name: str
    cx: float
    cy: float
    radius_m: float
    lat: float
    lon: float

    def signed_distance_m(self, p: Position, exact_within_m: float = math.inf) -> float:
        return float(GEOD.inv(self.lon, self.lat, p.lon, p.lat)[2]) - self.radius_m

    def segment_depth_m(self, a: Position, b: Position) -> float:
        """Smallest signed distance of any point of the segment a-b (in the frame)."""
        dx, dy = b.x - a.x, b.y - a.y
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((self.cx - a.x) * dx + (self.cy - a.y) * dy) / length2))
        return math.hypot(a.x + t * dx - self.cx, a.y + t * dy - self.cy) - self.radius_m


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

    def signed_distance_m(self, p: Position, exact_within_m: float = math.inf) -> float:
        x, y = p.x, p.y
        lower_bound = math.hypot(x - self.bcx, y - self.bcy) - self.bradius_m
        if lower_bound > exact_within_m:
            return lower_bound
        edge = float(shapely.distance(self.boundary, shapely.Point(x, y)))
        return -edge if shapely.intersects_xy(self.area, x, y) else edge

    def segment_depth_m(self, a: Position, b: Position) -> float:
        """Smallest signed distance of any point of the segment a-b: minus the deepest point inside."""
        line = shapely.LineString([(a.x, a.y), (b.x, b.y)]) if (a.x, a.y) != (b.x, b.y) else shapely.Point(a.x, a.y)
        if not shapely.intersects(self.area, line):
            return float(shapely.distance(self.area, line))
        inside = shapely.intersection(line, self.area)
        points = []
        for part in shapely.get_parts(inside):
            if part.geom_type == "Point":
                points.append(part)
                continue
            steps = max(2, int(part.length / SEGMENT_SAMPLE_M) + 1)
            points.extend(shapely.line_interpolate_point(part, np.linspace(0.0, part.length, steps)))
        if not points:
            return 0.0
        return -float(np.max(shapely.distance(self.boundary, np.array(points, dtype=object))))


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
        return CircleZone(zone_id, kind, name, cx, cy, float(radius_m), float(lat), float(lon))
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


def signed_distances_m(zones: Sequence[CircleZone | PolygonZone], frame: LocalFrame, lats: Any, lons: Any) -> np.ndarray:
    """For many points at once, the signed distance to the nearest of ``zones`` (negative inside), exactly as
    each zone's ``signed_distance_m`` computes it one point at a time (inf with no zone): for charts."""
    lat = np.asarray(lats, dtype=float)
    lon = np.asarray(lons, dtype=float)
    best = np.full(lat.shape, np.inf)
    xy = None
    for z in zones:
        if isinstance(z, CircleZone):
            d = np.asarray(GEOD.inv(np.full_like(lon, z.lon), np.full_like(lat, z.lat), lon, lat)[2]) - z.radius_m
        else:
            if xy is None:
                xy = frame.to_xy_many(lat, lon)
            edge = shapely.distance(z.boundary, shapely.points(xy[0], xy[1]))
            d = np.where(shapely.intersects_xy(z.area, xy[0], xy[1]), -edge, edge)
        best = np.minimum(best, d)
    return best

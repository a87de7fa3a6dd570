"""Local metric frames: WGS-84 degrees to metres on an azimuthal equidistant plane.

Zone checks run in metres on a plane centred near the zones. The azimuthal
equidistant projection keeps distances from its origin exact; a frame origin
at most ~20 km away (the 0.25 degree grid below) scales lengths by less than
2 parts per million, i.e. under 2 mm across a 1 km zone.

Building a pyproj transformer costs ~14 ms, so frames are shared by every
order whose anchor falls into the same grid cell (:class:`FrameCache`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from pyproj import Transformer

FRAME_GRID_DEG = 0.25


class Position(NamedTuple):
    """A fix's place both ways: WGS-84 degrees and metres in its order's frame."""

    lat: float
    lon: float
    x: float
    y: float


class LocalFrame:
    """Converts WGS-84 (lat, lon) to metres east/north of an origin, and back."""

    __slots__ = ("origin_lat", "origin_lon", "_fwd", "_inv")

    def __init__(self, origin_lat: float, origin_lon: float) -> None:
        self.origin_lat = origin_lat
        self.origin_lon = origin_lon
        aeqd = (
            f"+proj=aeqd +lat_0={origin_lat!r} +lon_0={origin_lon!r} "
            "+datum=WGS84 +units=m +no_defs +type=crs"
        )
        self._fwd = Transformer.from_crs("EPSG:4326", aeqd, always_xy=True)
        self._inv = Transformer.from_crs(aeqd, "EPSG:4326", always_xy=True)

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        x, y = self._fwd.transform(lon, lat)
        return float(x), float(y)

    def position(self, lat: float, lon: float) -> Position:
        x, y = self._fwd.transform(lon, lat)
        return Position(lat, lon, float(x), float(y))

    def position_of_xy(self, x: float, y: float) -> Position:
        lon, lat = self._inv.transform(x, y)
        return Position(float(lat), float(lon), x, y)

    def to_xy_many(self, lats: np.ndarray, lons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._fwd.transform(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        return np.asarray(x), np.asarray(y)

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self._inv.transform(x, y)
        return float(lat), float(lon)


class FrameCache:
    """Hands out one shared :class:`LocalFrame` per grid cell of ``grid_deg`` degrees."""

    def __init__(self, grid_deg: float = FRAME_GRID_DEG) -> None:
        self._grid_deg = grid_deg
        self._frames: dict[tuple[int, int], LocalFrame] = {}

    def frame_for(self, lat: float, lon: float) -> LocalFrame:
        key = (math.floor(lat / self._grid_deg), math.floor(lon / self._grid_deg))
        frame = self._frames.get(key)
        if frame is None:
            origin_lat = max(-89.9, min(89.9, (key[0] + 0.5) * self._grid_deg))
            origin_lon = ((key[1] + 0.5) * self._grid_deg + 180.0) % 360.0 - 180.0
            frame = LocalFrame(origin_lat, origin_lon)
            self._frames[key] = frame
        return frame

    def __len__(self) -> int:
        return len(self._frames)

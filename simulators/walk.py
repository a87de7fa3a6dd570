"""Moving along a route with GPS noise, in metres, on the WGS-84 ellipsoid (geopy)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from geopy.distance import geodesic


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m`` north and ``east_m`` east of (lat, lon)."""
    dist = math.hypot(north_m, east_m)
    if dist == 0:
        return lat, lon
    bearing = math.degrees(math.atan2(east_m, north_m))
    p = geodesic(meters=dist).destination((lat, lon), bearing)
    return p.latitude, p.longitude


class Walker:
    """Yields positions every ``step_m`` metres along ``waypoints`` [(lat, lon)], with Gaussian noise."""

    def __init__(self, waypoints: Sequence[tuple[float, float]], step_m: float, noise_m: float = 0.0,
                 rng: random.Random | None = None) -> None:
        self.waypoints, self.step_m, self.noise_m = list(waypoints), step_m, noise_m
        self.rng = rng or random.Random(7)

    def __iter__(self) -> Iterator[tuple[float, float]]:
        for (a_lat, a_lon), (b_lat, b_lon) in zip(self.waypoints, self.waypoints[1:], strict=False):
            leg = geodesic((a_lat, a_lon), (b_lat, b_lon)).meters
            steps = max(1, int(leg // self.step_m))
            for i in range(steps):
                f = i / steps
                yield self._noisy(a_lat + (b_lat - a_lat) * f, a_lon + (b_lon - a_lon) * f)
        yield self._noisy(*self.waypoints[-1])

    def _noisy(self, lat: float, lon: float) -> tuple[float, float]:
        if not self.noise_m:
            return lat, lon
        return offset(lat, lon, self.rng.gauss(0, self.noise_m), self.rng.gauss(0, self.noise_m))

"""Checks of an order's set-up, made when it is imported (pure).

They do not refuse the order (the court decided it) but warn whoever imports it,
and the warnings are stored with the order so the enforcement team sees them:

* ``respondent_home_in_zone``: the respondent's registered home lies inside (or in
  the warning ring of) a stay-away zone: the order can't be kept at home, and his
  tracker will raise alerts there all day;
* ``min_distance_below_350m``: two phones' GPS accuracy (tens of metres each, far
  worse indoors) makes a moving zone under 350 m raise false proximity alerts;
* ``zones_overlap``: two zones overlap, so one visit raises two breaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import shapely

from geofence import FrameCache, compile_zone
from geofence.zones import CircleZone
from service.domain.monitoring import zone_anchor
from service.domain.orders import OrderSpec

MIN_RELIABLE_DISTANCE_M = 350.0


@dataclass(frozen=True, slots=True)
class SetupWarning:
    code: str
    message: str  # never holds coordinates
    field: str | None = None


def setup_warnings(spec: OrderSpec, frames: FrameCache) -> list[SetupWarning]:
    out: list[SetupWarning] = []
    if spec.min_distance_m is not None and spec.min_distance_m < MIN_RELIABLE_DISTANCE_M:
        out.append(SetupWarning(
            "min_distance_below_350m",
            f"min_distance_m is {spec.min_distance_m:g} m: below {MIN_RELIABLE_DISTANCE_M:g} m, GPS error of two "
            "phones makes proximity alerts unreliable", "min_distance_m"))
    if not spec.zones:
        return out
    frame = frames.frame_for(*zone_anchor(spec.zones[0]))
    compiled = [compile_zone(z.zone_id, z.kind, z.name, z.geometry, z.radius_m, frame) for z in spec.zones]
    home = spec.respondent.home
    if home is not None:
        p = frame.position(home[1], home[0])
        ring = spec.pre_alert_m or 0.0
        for z in compiled:
            d = z.signed_distance_m(p)
            if d <= ring:
                where = "inside" if d <= 0 else f"{d:.0f} m from (inside the warning ring of)"
                out.append(SetupWarning("respondent_home_in_zone",
                                        f"the respondent's registered home is {where} zone {z.zone_id}",
                                        "respondent.home"))
    shapes = {z.zone_id: _shape(z) for z in compiled}
    for a, b in combinations(compiled, 2):
        if shapely.intersects(shapes[a.zone_id], shapes[b.zone_id]):
            out.append(SetupWarning("zones_overlap", f"zones {a.zone_id} and {b.zone_id} overlap", "zones"))
    return out


def _shape(zone: object) -> object:
    if isinstance(zone, CircleZone):
        return shapely.Point(zone.cx, zone.cy).buffer(zone.radius_m, quad_segs=32)
    return zone.area  # type: ignore[attr-defined]

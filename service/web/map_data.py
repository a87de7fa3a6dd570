"""What the order page's map and distance chart draw, computed from a timeline the principal may see.

- ``zones``: the order's fixed zones in force (WGS-84; circles as centre and radius), only with her track.
- ``precincts``: the police stations' areas (names and outlines: no one's position).
- ``respondent`` / ``victim``: the tracks in the window (the victim's only when the timeline holds it).
- ``reports``: his reports in the window, for the page's list (time, device, accuracy, flags).
- ``alerts``: where the respondent was at each alert event that carries it.
- ``distance``: over time, the respondent's distance to the nearest fixed zone (negative: inside) and the
  distance between the parties, both only when her places and track are shown, with ``min_distance_m``.
- ``withheld``: the timeline's windows where his fixes are withheld (near the moving zone's episodes, for
  a caller who may not see her): no point, report, alert point or chart time of his falls in them.

Without her places and track the layers are cut by ``her_data.without_her_data`` (``MAP_FIELDS``): no
``zones``, no ``victim``, and ``distance`` holds only the times of his fixes.

The geometry is the monitor's own (``geofence``): the chart says what the breach checks saw.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from typing import Any

from geofence import FrameCache, compile_zone
from geofence.engine import GEOD
from geofence.zones import signed_distances_m
from service.domain.her_data import MAP_FIELDS, without_her_data
from service.domain.orders import parse_order
from service.errors import InvalidInput
from service.reads.orders import map_sources
from service.web import deps
from service.wire.rfc3339 import parse_ts

PAIR_WITHIN = timedelta(minutes=5)  # her fix is paired with his when it is at most this much older
MAX_POINTS = 5000  # a track longer than this is thinned for the browser (every n-th fix, the last kept)


def map_layers(order_id: str, timeline: dict[str, Any]) -> dict[str, Any]:
    """The zones and the distances to them mark where she lives and works: they come with her track, under
    the same rule (``timeline["victim_positions"] == "included"``: an open alert that needs them, or a
    stated reason, recorded with the timeline's read). Without it: his track, the alerts and the police
    areas only (the layers go through ``without_her_data`` with the timeline's decision)."""
    places = timeline.get("victim_positions") == "included"
    versions, agencies = map_sources(deps().engine, order_id)
    spec = None
    for row in reversed(versions):  # the latest version that parses (an order that ended keeps its zones)
        try:
            spec = parse_order(row["body"])
            break
        except (InvalidInput, ValueError, TypeError, KeyError):
            continue
    zones = [] if spec is None or not places else [
        {"zone_id": z.zone_id, "kind": z.kind, "name": z.name, "geometry": z.geometry, "radius_m": z.radius_m}
        for z in spec.zones]
    his = timeline["respondent_track"]
    hers = timeline.get("victim_track")
    return without_her_data({
        "zones": zones,
        "precincts": [{"agency_id": a.agency_id, "name": a.name, "geometry": a.jurisdiction}
                      for a in agencies if a.kind == "police" and a.jurisdiction],
        "respondent": _thin([[p["lat"], p["lon"], p["ts"]] for p in his]),
        "reports": [[p["ts"], p["device_id"], p["acc"], ",".join(p["flags"])] for p in his],  # the page's list
        "victim": None if hers is None else _thin([[p["lat"], p["lon"], p["ts"]] for p in hers]),
        "alerts": [{"lat": e["respondent"]["lat"], "lon": e["respondent"]["lon"], "at": e["at"], "kind": e["kind"],
                    "event": e["event"]} for e in timeline["events"]
                   if isinstance(e.get("respondent"), dict) and "lat" in e["respondent"]],
        "distance": distance_series(spec if places else None, his, hers),
        "min_distance_m": None if spec is None else spec.min_distance_m,
        "withheld": timeline.get("withheld") or [],  # where his track is withheld: the map draws no line across
    }, places, MAP_FIELDS)


def distance_series(spec: Any, his: list[dict[str, Any]], hers: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``{"t": [...], "to_zone_m": [...], "between_m": [...] | None}``: one value per fix of his (thinned)."""
    his = _thin(his)
    to_zone: list[float | None] = [None] * len(his)
    if spec is not None and spec.zones and his:
        lon, lat = _first_position(spec.zones[0].geometry)
        frame = FrameCache().frame_for(lat, lon)
        compiled = [compile_zone(z.zone_id, z.kind, z.name, z.geometry, z.radius_m, frame) for z in spec.zones]
        d = signed_distances_m(compiled, frame, [p["lat"] for p in his], [p["lon"] for p in his])
        to_zone = [round(float(v), 1) for v in d]
    out: dict[str, Any] = {"t": [p["ts"] for p in his], "to_zone_m": to_zone,
                           "between_m": None if hers is None else []}
    if hers is not None:
        her_times = [parse_ts(p["ts"]) for p in hers]
        out["between_m"] = [_between(p, parse_ts(p["ts"]), hers, her_times) for p in his]
    return out


def _between(p: dict[str, Any], t: datetime, hers: list[dict[str, Any]], her_times: list[datetime]) -> float | None:
    i = bisect.bisect_right(her_times, t) - 1
    if i < 0 or t - her_times[i] > PAIR_WITHIN:
        return None
    q = hers[i]
    return round(float(GEOD.inv(p["lon"], p["lat"], q["lon"], q["lat"])[2]), 1)


def _first_position(geometry: dict[str, Any]) -> tuple[float, float]:
    c: Any = geometry["coordinates"]
    while isinstance(c[0], list | tuple):
        c = c[0]
    return float(c[0]), float(c[1])


def _thin(points: list[Any]) -> list[Any]:
    if len(points) <= MAX_POINTS:
        return points
    step = -(-len(points) // MAX_POINTS)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])

"""Builders for test data: agencies, orders and device payloads, all in the contract's shapes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

HOME = (30.4310, 103.8615)  # lat, lon of the example order's home zone (radius 300 m)
WORK_POLYGON = [[103.880, 30.440], [103.884, 30.440], [103.884, 30.443], [103.880, 30.443], [103.880, 30.440]]

AGENCIES: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"agency_id": "police-west", "name": "West station", "kind": "police"},
         "geometry": {"type": "Polygon", "coordinates": [[[103.80, 30.38], [103.87, 30.38], [103.87, 30.48],
                                                          [103.80, 30.48], [103.80, 30.38]]]}},
        {"type": "Feature", "properties": {"agency_id": "police-east", "name": "East station", "kind": "police"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[[[103.87, 30.38], [103.95, 30.38], [103.95, 30.48],
                                                                [103.87, 30.48], [103.87, 30.38]]]]}},
        {"type": "Feature", "properties": {"agency_id": "court-xinjin", "name": "Xinjin court", "kind": "court"},
         "geometry": None},
    ],
}

ORDER: dict[str, Any] = {
    "order_id": "PSO-2026-0001",
    "type": "ordinary",
    "court": "court-xinjin",
    "issued_at": "2026-11-20T09:00:00Z",
    "expires_at": "2027-05-20T09:00:00Z",  # 6 months: the law in force (prc-advl-2016)
    "respondent": {"person_id": "R-1", "device_id": "trk-001", "report_interval_s": 30},
    "victim": {"person_id": "V-1", "device_id": "phone-001", "report_interval_s": 60},
    "min_distance_m": 500,
    "pre_alert_m": 300,
    "datum": "wgs84",
    "zones": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [HOME[1], HOME[0]]},
         "properties": {"zone_id": "home", "kind": "home", "name": "Victim's home", "radius_m": 300}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [WORK_POLYGON]},
         "properties": {"zone_id": "work", "kind": "work", "name": "Victim's workplace"}},
    ]},
}


# The example order without its warning ring and moving zone: fixed zones and breach episodes alone,
# for tests of ingest, storage and routing that must not see pre-alerts, proximity or pursuit mode.
ZONES_ONLY: dict[str, Any] = {"min_distance_m": None, "pre_alert_m": None}


def order(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(ORDER)
    body.update(overrides)
    return body


def order_for(n: int, **overrides: Any) -> dict[str, Any]:
    """The example order for a respondent trk-{n}/victim phone-{n}, with its own id."""
    return order(order_id=f"PSO-T-{n:04d}",
                 respondent={"person_id": f"R-{n}", "device_id": f"trk-{n:03d}", "report_interval_s": 30},
                 victim={"person_id": f"V-{n}", "device_id": f"phone-{n:03d}", "report_interval_s": 60}, **overrides)


def rfc3339(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def location(seq: int, lat: float, lon: float, acc: float = 5.0, ts: datetime | None = None, **extra: Any) -> dict:
    return {"seq": seq, "ts": rfc3339(ts or datetime.now(UTC)), "lat": lat, "lon": lon, "acc": acc, **extra}


def payload(body: Any) -> bytes:
    return json.dumps(body).encode()

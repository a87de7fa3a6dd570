"""service.domain.orders: the contract's order and agencies files (section 4)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts import Agency
from service.domain.orders import Party, parse_agencies, parse_order
from service.errors import InvalidInput
from tests.unit.builders import WORK_RING, agencies_collection, example_order, polygon

Body = dict[str, Any]


def zone_props(i: int) -> Callable[[Body], dict[str, Any]]:
    return lambda body: body["zones"]["features"][i]["properties"]


def zone_geometry(i: int) -> Callable[[Body], dict[str, Any]]:
    return lambda body: body["zones"]["features"][i]["geometry"]


def test_the_contract_example_parses():
    spec = parse_order(example_order())
    assert (spec.order_id, spec.type, spec.court_id, spec.datum) == ("PSO-2026-0001", "ordinary", "court-xinjin", "wgs84")
    assert spec.issued_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert spec.expires_at == datetime(2027, 5, 20, 9, tzinfo=UTC)
    assert spec.respondent == Party("respondent", "R-1", "trk-001", 30)
    assert spec.victim == Party("victim", "V-1", "phone-001", 60)
    assert (spec.min_distance_m, spec.pre_alert_m, spec.exit_margin_m) == (500.0, 300.0, None)
    home, work = spec.zones
    assert (home.zone_id, home.kind, home.name, home.radius_m) == ("home", "home", "Victim's home", 300.0)
    assert (work.zone_id, work.kind, work.radius_m, work.geometry) == ("work", "work", None, polygon(WORK_RING))


def test_a_temporary_order_may_have_no_expiry_and_the_victim_no_device():
    body = example_order(type="temporary", expires_at=None)
    del body["victim"]["device_id"]
    spec = parse_order(body)
    assert spec.expires_at is None and spec.victim.device_id is None


def test_datum_defaults_to_wgs84():
    body = example_order()
    del body["datum"]
    assert parse_order(body).datum == "wgs84"


def _set(path: Callable[[Body], dict[str, Any]], key: str, value: Any) -> Callable[[Body], None]:
    return lambda body: path(body).__setitem__(key, value)


def _del(path: Callable[[Body], dict[str, Any]], key: str) -> Callable[[Body], None]:
    return lambda body: path(body).__delitem__(key)


def top(body: Body) -> Body:
    return body


DEFECTS: dict[str, tuple[Callable[[Body], None], str]] = {
    "point without radius": (_del(zone_props(0), "radius_m"), "zones.features[0].properties.radius_m"),
    "point radius zero": (_set(zone_props(0), "radius_m", 0), "zones.features[0].properties.radius_m"),
    "point radius as text": (_set(zone_props(0), "radius_m", "300"), "zones.features[0].properties.radius_m"),
    "respondent without device": (_del(lambda b: b["respondent"], "device_id"), "respondent.device_id"),
    "respondent device id with space": (_set(lambda b: b["respondent"], "device_id", "trk 1"), "respondent.device_id"),
    "interval zero": (_set(lambda b: b["victim"], "report_interval_s", 0), "victim.report_interval_s"),
    "unknown type": (_set(top, "type", "permanent"), "type"),
    "expires before issued": (_set(top, "expires_at", "2026-11-19T09:00:00Z"), "expires_at"),
    "expires when issued": (_set(top, "expires_at", "2026-11-20T09:00:00Z"), "expires_at"),
    "ordinary without expiry": (_set(top, "expires_at", None), "expires_at"),
    "issued_at without offset": (_set(top, "issued_at", "2026-11-20T09:00:00"), "issued_at"),
    "duplicate zone_id": (_set(zone_props(1), "zone_id", "home"), "zones.features[1].properties.zone_id"),
    "datum unknown": (_set(top, "datum", "etrs89"), "datum"),
    "unknown datum": (_set(top, "datum", "nad27"), "datum"),
    "bad order_id": (_set(top, "order_id", "PSO 1"), "order_id"),
    "point out of range": (_set(zone_geometry(0), "coordinates", [30.4310, 193.8615]),
                           "zones.features[0].geometry.coordinates"),
    "line zone": (_set(zone_geometry(1), "type", "LineString"), "zones.features[1].geometry.type"),
    "zones not a collection": (_set(top, "zones", []), "zones"),
    "negative min distance": (_set(top, "min_distance_m", -1), "min_distance_m"),
    "polygon with lat and lon swapped": (
        _set(zone_geometry(1), "coordinates", [[[lat, lon] for lon, lat in WORK_RING]]),
        "zones.features[1].geometry.coordinates"),
    "polygon coordinates not an array": (_set(zone_geometry(1), "coordinates", "garbage"),
                                         "zones.features[1].geometry.coordinates"),
    "order_id with a trailing newline": (_set(top, "order_id", "PSO-2026-0001\n"), "order_id"),
    "min distance NaN": (_set(top, "min_distance_m", float("nan")), "min_distance_m"),
}


@pytest.mark.parametrize("mutate, field", DEFECTS.values(), ids=DEFECTS.keys())
def test_a_defect_names_its_field(mutate, field):
    body = example_order()
    mutate(body)
    with pytest.raises(InvalidInput) as info:
        parse_order(body)
    assert info.value.field == field


# -- agencies ------------------------------------------------------------------------

def test_agencies_file_parses_with_a_court_without_geometry():
    agencies = parse_agencies(agencies_collection())
    assert [(a.agency_id, a.kind) for a in agencies] == [
        ("police-west", "police"), ("police-east", "police"), ("court-xinjin", "court")]
    assert agencies[2] == Agency("court-xinjin", "Court Xinjin", "court", None)
    assert agencies[0].jurisdiction["type"] == "Polygon"


def test_police_may_have_a_multipolygon_jurisdiction():
    fc = agencies_collection()
    ring = fc["features"][0]["geometry"]["coordinates"]
    fc["features"][0]["geometry"] = {"type": "MultiPolygon", "coordinates": [ring]}
    assert parse_agencies(fc)[0].jurisdiction["type"] == "MultiPolygon"


@pytest.mark.parametrize("geometry", [None, {"type": "Point", "coordinates": [103.85, 30.43]}])
def test_police_needs_a_polygon_jurisdiction(geometry):
    fc = agencies_collection()
    fc["features"][1]["geometry"] = geometry
    with pytest.raises(InvalidInput) as info:
        parse_agencies(fc)
    assert info.value.field == "features[1].geometry"


@pytest.mark.parametrize("feature, key, value, field", [
    (2, "kind", "army", "features[2].properties.kind"),
    (2, "agency_id", "police-west", "features[2].properties.agency_id"),
    (2, "name", "", "features[2].properties.name"),
    (0, "escalation", {"zone_breach": [[30, "shout"]]}, "features[0].properties.escalation.zone_breach"),
    (0, "escalation", {"parking": [[30, "renotify"]]}, "features[0].properties.escalation.parking"),
    (0, "escalation", [[30, "renotify"]], "features[0].properties.escalation"),
    (0, "escalate_to", ["bureau-nowhere"], "features[0].properties.escalate_to"),
    (0, "escalate_to", ["police-west"], "features[0].properties.escalate_to"),
    (0, "escalate_to", "court-xinjin", "features[0].properties.escalate_to"),
])
def test_agency_property_defects_name_their_field(feature, key, value, field):
    """Names, kinds, ids, and the escalation settings an agency may carry: each defect names its field."""
    fc = agencies_collection()
    fc["features"][feature]["properties"][key] = value
    with pytest.raises(InvalidInput) as info:
        parse_agencies(fc)
    assert info.value.field == field


def test_an_agency_may_carry_its_escalation_policy_and_whom_it_escalates_to():
    fc = agencies_collection()
    props = fc["features"][0]["properties"]
    props["escalation"] = {"zone_breach": [[30, "renotify"], [90, "next_agency"]], "high": [[600, "supervisor"]]}
    props["escalate_to"] = ["court-xinjin", "court-xinjin"]
    west = parse_agencies(fc)[0]
    assert west.escalation == props["escalation"] and west.escalate_to == ("court-xinjin",)

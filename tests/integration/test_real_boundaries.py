"""Routing on real police boundaries: NYC Open Data precincts (two invalid geometries among them)
against 20,659 real incidents with the precinct NYPD recorded (../shared/data, see its README)."""

from __future__ import annotations

import csv
import json

from alerts.routing import Agency, JurisdictionIndex, route
from service.domain.orders import parse_agencies


def precinct_agencies(shared_data) -> list[Agency]:  # type: ignore[no-untyped-def]
    raw = json.loads((shared_data / "boundaries" / "nyc_police_precincts.geojson").read_text())
    features = [{"type": "Feature", "geometry": f["geometry"],
                 "properties": {"agency_id": f"nypd-{f['properties']['precinct']}",
                                "name": f"NYPD precinct {f['properties']['precinct']}", "kind": "police"}}
                for f in raw["features"]]
    features.append({"type": "Feature", "geometry": None,
                     "properties": {"agency_id": "court-nyc", "name": "Family court", "kind": "court"}})
    return parse_agencies({"type": "FeatureCollection", "features": features})


def test_precinct_routing_agrees_with_the_recorded_precincts(shared_data) -> None:  # type: ignore[no-untyped-def]
    agencies = precinct_agencies(shared_data)
    index = JurisdictionIndex(agencies)
    assert len(index) == 77  # the two invalid precincts (61, 113) were repaired, not dropped
    with open(shared_data / "boundaries" / "nypd_shooting_incidents_precinct_points.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    agree = outside = 0
    for r in rows:
        police = index.police_for(float(r["Latitude"]), float(r["Longitude"]))
        if police is None:
            outside += 1
        elif police == f"nypd-{r['PRECINCT']}":
            agree += 1
    # The data's README: 19,935 of 20,659 agree (96.5 %); most others are later boundary changes.
    assert len(rows) == 20659
    assert agree / len(rows) >= 0.964
    assert outside <= 2


def test_incidents_in_the_repaired_precincts_route_to_them(shared_data) -> None:  # type: ignore[no-untyped-def]
    index = JurisdictionIndex(precinct_agencies(shared_data))
    with open(shared_data / "boundaries" / "nypd_shooting_incidents_precinct_points.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["PRECINCT"] in ("61", "113")]
    hits = sum(index.police_for(float(r["Latitude"]), float(r["Longitude"])) == f"nypd-{r['PRECINCT']}" for r in rows)
    assert rows and hits / len(rows) >= 0.95
    r = rows[0]
    assert route(index, "court-nyc", (float(r["Latitude"]), float(r["Longitude"])))[-1] == "court-nyc"

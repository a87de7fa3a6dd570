"""Each scenario's geometry and timing against the ground truth it claims, recomputed independently:
pyproj's geodesic (not geopy, which the scenarios use) and shapely in UTM 48N metres (not degrees)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyproj import Geod, Transformer
from shapely.geometry import LineString, Point, Polygon, shape

from service.wire import decode
from simulators.scenarios import (
    AGENCIES_PATH,
    DEMO_SCENARIOS,
    ORDER_PATH,
    OWN_ORDER,
    SCENARIOS,
    Scenario,
    Step,
    approach_and_enter,
    cell_only,
    drive_through,
    follow_victim,
    go_dark,
    home_outside_police_areas,
    late_buffer_upload,
    load_order,
    loiter_edge,
    order_expires_mid_case,
    plan_scenario,
    scenario_order,
)

GEOD = Geod(ellps="WGS84")
HOME = (30.4310, 103.8615)  # from the brief and PROTOCOL.md, not from the loader
HOME_R = 300.0
PRE_ALERT = 300.0
MIN_DISTANCE = 500.0
VICTIM_SILENCE = 3 * 60 + 10
RESPONDENT_SILENCE = 3 * 30 + 10
BAD_FLAGS = {"ts_future", "ts_implausible", "unknown_fields"}  # decoder flags that would mean a bad message
_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)


def utm(lat: float, lon: float) -> tuple[float, float]:
    return _UTM.transform(lon, lat)  # type: ignore[no-any-return]


WORK = Polygon([utm(la, lo) for la, lo in [(30.440, 103.880), (30.440, 103.884), (30.443, 103.884), (30.443, 103.880)]])


def dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[1], a[0], b[1], b[0])[2])


def home_d(f: dict[str, Any], home: tuple[float, float] = HOME) -> float:
    return dist(home, (f["lat"], f["lon"]))


def in_work(f: dict[str, Any], work: Polygon = WORK) -> bool:
    return bool(work.covers(Point(utm(f["lat"], f["lon"]))))


def work_d(f: dict[str, Any], work: Polygon = WORK) -> float:
    return float(work.distance(Point(utm(f["lat"], f["lon"]))))


def places(sc: Scenario) -> tuple[tuple[float, float], float, Polygon]:
    """(home centre, home radius, workplace in UTM metres) of the scenario's order: read from the zones it
    overrides (GeoJSON, here), else the brief's."""
    zones = sc.order_overrides.get("zones")
    if zones is None:
        return HOME, HOME_R, WORK
    by_id = {f["properties"]["zone_id"]: f for f in zones["features"]}
    lon, lat = by_id["home"]["geometry"]["coordinates"]
    ring = by_id["work"]["geometry"]["coordinates"][0]
    return (lat, lon), float(by_id["home"]["properties"]["radius_m"]), Polygon([utm(la, lo) for lo, la in ring])


def in_force(sc: Scenario, s: Step | dict[str, Any]) -> bool:
    """The order is still in force at the fix's time (before the expiry the scenario sets, if any)."""
    f = s.fields if isinstance(s, Step) else s
    return sc.order_ends_at is None or f["ts"] < sc.order_ends_at


def fixes(sc: Scenario, device: str = "respondent") -> list[Step]:
    return [s for s in sc.steps if s.device == device and s.message == "location" and s.batch is None]


def pos(s: Step | dict[str, Any]) -> tuple[float, float]:
    f = s.fields if isinstance(s, Step) else s
    return f["lat"], f["lon"]


def latest_victim_fix(sc: Scenario, ts: datetime) -> Step | None:
    before = [v for v in fixes(sc, "victim") if v.fields["ts"] <= ts]
    return before[-1] if before else None


def keys(sc: Scenario, kind: str) -> list[tuple[str, str | None, bool]]:
    return [k for k in sc.expected_keys() if k[0] == kind]


def test_order_file_matches_the_brief() -> None:
    o = load_order()
    assert o.home == HOME and o.home_radius_m == HOME_R
    assert o.work.bounds == (103.880, 30.440, 103.884, 30.443)
    assert (o.min_distance_m, o.pre_alert_m, o.respondent_interval_s, o.victim_interval_s) == (500, 300, 30, 60)
    assert (o.respondent_device, o.victim_device) == ("trk-001", "phone-001")


def test_registry_names() -> None:
    assert set(SCENARIOS) == {"approach_and_enter", "loiter_edge", "drive_through", "follow_victim", "go_dark",
                              "late_buffer_upload", "cell_only", "order_expires_mid_case", "home_outside_police_areas"}
    assert all(SCENARIOS[name]().name == name for name in SCENARIOS)


def test_only_the_scenarios_that_fit_the_demo_order_are_offered_to_the_demo() -> None:
    assert set(DEMO_SCENARIOS) == {n for n in SCENARIOS if SCENARIOS[n]().fits_demo_order} == set(SCENARIOS) - OWN_ORDER
    assert OWN_ORDER == {"order_expires_mid_case", "home_outside_police_areas"}
    for name in DEMO_SCENARIOS:  # their order is the demo order, as shipped
        assert scenario_order(SCENARIOS[name](), datetime(2030, 1, 1, tzinfo=UTC)) == json.loads(ORDER_PATH.read_text())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_common_shape(name: str) -> None:
    sc = SCENARIOS[name]()
    assert sc.description and sc.steps
    ats = [s.at_s for s in sc.steps]
    assert ats == sorted(ats) and ats[0] >= 0
    assert all(s.fields["ts"] == sc.start + timedelta(seconds=s.at_s) for s in sc.steps if s.batch is None)
    assert SCENARIOS[name]() == sc  # deterministic
    assert SCENARIOS[name](seed=99) != sc  # and the seed matters
    for e in sc.expected:
        assert 0 <= e.at_s <= sc.duration_s


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_planned_message_is_valid_wire(name: str) -> None:
    sc = SCENARIOS[name]()
    start = datetime.now(UTC) - timedelta(hours=1)
    planned = plan_scenario(sc, start, speedup=1.0)
    assert len(planned) == len(sc.steps)
    ids = {"respondent": "trk-001", "victim": "phone-001"}
    seqs: dict[str, list[int]] = {"respondent": [], "victim": []}
    for item in planned:
        d = decode(f"stayaway/v1/devices/{ids[item.device]}/{item.kind}",
                   json.dumps(item.body).encode(), datetime.now(UTC))
        assert d.rejections == [], d.rejections
        assert not any(BAD_FLAGS & set(r.flags) for r in d.reports), [r.flags for r in d.reports]
        seqs[item.device] += [r.seq for r in d.reports]
    for s in seqs.values():
        assert s == list(range(1, len(s) + 1))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_victim_is_never_silent_unless_the_scenario_says_so(name: str) -> None:
    sc = SCENARIOS[name]()
    times = [s.at_s for s in sc.steps if s.device == "victim"] + [sc.duration_s]
    longest = max(b - a for a, b in itertools.pairwise(times))
    assert "victim_signal_lost" in sc.exhaustive
    if keys(sc, "victim_signal_lost"):
        assert longest > VICTIM_SILENCE
    else:
        assert longest <= 60


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_proximity_claims_hold(name: str) -> None:
    sc = SCENARIOS[name]()
    near = []
    for f in (f for f in fixes(sc) if in_force(sc, f)):
        v = latest_victim_fix(sc, f.fields["ts"])
        if v is not None and sc.start + timedelta(seconds=f.at_s) - v.fields["ts"] <= timedelta(seconds=VICTIM_SILENCE):
            near.append(dist(pos(f), pos(v)) <= MIN_DISTANCE)
    assert "proximity" in sc.exhaustive
    if keys(sc, "proximity"):
        assert near and all(near)  # one episode: never out of range once in it
    else:
        assert not any(near)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_no_breach_unless_claimed(name: str) -> None:
    sc = SCENARIOS[name]()
    home, home_r, work = places(sc)
    live = [f.fields for f in fixes(sc)]
    batched = [item for s in sc.steps if s.batch for item in s.batch]
    good = [f for f in live + batched if f["acc"] < 500 and in_force(sc, f)]  # after the order's end: nothing
    inside_home = [f for f in good if home_d(f, home) <= home_r]
    crossing = [b for a, b in itertools.pairwise(live)
                if LineString([utm(*pos(a)), utm(*pos(b))]).intersects(work) and in_force(sc, b)]
    assert "zone_breach" in sc.exhaustive
    assert bool(inside_home) == (("zone_breach", "home", False) in sc.expected_keys()
                                 or ("zone_breach", "home", True) in sc.expected_keys())
    assert bool(crossing) == (("zone_breach", "work", False) in sc.expected_keys())


def test_approach_and_enter() -> None:
    sc = approach_and_enter()
    r = fixes(sc)
    d = [home_d(s.fields) for s in r]
    assert 1450 < d[0] < 1550 and d[-1] < HOME_R
    assert all(b < a + 15 for a, b in itertools.pairwise(d))  # always approaching (noise aside)
    ring = next(s for s, x in zip(r, d, strict=True) if HOME_R < x <= HOME_R + PRE_ALERT)
    inside = next(s for s, x in zip(r, d, strict=True) if x <= HOME_R)
    assert sc.expected_keys() == [("pre_alert", "home", False), ("zone_breach", "home", False)]
    assert [e.at_s for e in sc.expected] == [ring.at_s, inside.at_s]
    assert sc.expected[1].occurred_at == inside.fields["ts"]
    assert all(dist(pos(s), pos(v)) > 2000 for s in r for v in fixes(sc, "victim"))


def test_loiter_edge_stays_within_20_m_of_the_edge_for_minutes() -> None:
    sc = loiter_edge()
    r = fixes(sc)
    d = [home_d(s.fields) for s in r]
    k = next(i for i, x in enumerate(d) if x <= HOME_R + 20)
    loiter, times = d[k:], [s.at_s for s in r[k:]]
    assert times[-1] - times[0] >= 5 * 60
    assert all(HOME_R - 20 <= x <= HOME_R + 20 for x in loiter)
    crossings = sum((a <= HOME_R) != (b <= HOME_R) for a, b in itertools.pairwise(loiter))
    assert crossings >= 6  # in and out many times...
    assert keys(sc, "zone_breach") == [("zone_breach", "home", False)]  # ...but one episode
    assert "zone_breach" in sc.exhaustive
    first_in = next(s for s, x in zip(r, d, strict=True) if x <= HOME_R)
    assert sc.expected[-1].at_s == first_in.at_s


def test_drive_through_crosses_the_workplace_between_two_fixes() -> None:
    sc = drive_through()
    r = fixes(sc)
    assert not any(in_work(s.fields) for s in r)
    pairs = [(a, b) for a, b in itertools.pairwise(r)
             if LineString([utm(*pos(a)), utm(*pos(b))]).intersects(WORK)]
    assert len(pairs) == 1
    a, b = pairs[0]
    speed = dist(pos(a), pos(b)) / (b.fields["ts"] - a.fields["ts"]).total_seconds()
    assert speed >= 15  # driving
    assert work_d(a.fields) <= PRE_ALERT and work_d(b.fields) <= PRE_ALERT
    assert sc.expected_keys() == [("pre_alert", "work", False), ("zone_breach", "work", False)]
    assert sc.expected[1].at_s == b.at_s and sc.expected[0].at_s == a.at_s
    assert all(home_d(s.fields) > HOME_R + PRE_ALERT for s in r)


def test_follow_victim_keeps_within_min_distance() -> None:
    sc = follow_victim()
    v = fixes(sc, "victim")
    assert dist(pos(v[0]), pos(v[-1])) > 1500  # across town
    assert all(b.at_s - a.at_s == 60 for a, b in itertools.pairwise(v))
    within = [dist(pos(s), pos(latest_victim_fix(sc, s.fields["ts"]))) for s in fixes(sc)  # type: ignore[arg-type]
              if latest_victim_fix(sc, s.fields["ts"])]
    assert len(within) >= 40 and all(100 < x < MIN_DISTANCE for x in within)
    assert sc.expected_keys() == [("proximity", None, False)]
    assert all(home_d(s.fields) > HOME_R + PRE_ALERT for s in sc.steps)


def test_go_dark_gap_exceeds_190_s_while_he_approaches() -> None:
    sc = go_dark()
    v = [s for s in sc.steps if s.device == "victim"]
    last = v[-1]
    assert sc.duration_s - last.at_s > VICTIM_SILENCE
    assert any(s.message == "status" and s.fields.get("batt", 100) < 10 for s in v)
    after = [s for s in fixes(sc) if s.at_s > last.at_s]
    d = [dist(pos(s), pos(fixes(sc, "victim")[-1])) for s in after]
    assert d[0] > d[-1] and all(x > MIN_DISTANCE + 300 for x in d)
    assert any(s.at_s > last.at_s + VICTIM_SILENCE for s in after)  # he keeps reporting past the limit
    (e,) = sc.expected
    assert e.key == ("victim_signal_lost", None, False) and e.at_s == last.at_s + VICTIM_SILENCE


def test_late_buffer_upload() -> None:
    sc = late_buffer_upload()
    (up,) = [s for s in sc.steps if s.batch]
    assert up.device == "respondent" and up.fields == {}
    items = up.batch or []
    sent_at = sc.start + timedelta(seconds=up.at_s)
    assert all(sent_at - f["ts"] >= timedelta(minutes=3) for f in items)  # in the past
    assert [f["ts"] for f in items] == sorted(f["ts"] for f in items)
    d = [home_d(f) for f in items]
    assert d[0] > HOME_R and d[-1] > HOME_R and min(d) < HOME_R - 100
    live = fixes(sc)
    assert not any(home_d(s.fields) <= HOME_R for s in live)
    times = [s.at_s for s in sc.steps if s.device == "respondent"]
    silence = max(b - a for a, b in itertools.pairwise(times))
    assert silence > RESPONDENT_SILENCE
    first_in = next(f for f in items if home_d(f) <= HOME_R)
    assert sc.expected_keys() == [("pre_alert", "home", False), ("signal_lost", None, False),
                                  ("zone_breach", "home", True)]
    breach = sc.expected[-1]
    assert breach.occurred_at == first_in["ts"] and breach.at_s == up.at_s


def test_cell_only_never_confirms_a_breach() -> None:
    sc = cell_only()
    r = fixes(sc)
    assert r and all(s.fields["acc"] >= 500 and s.fields["src"] == "cell" for s in r)
    assert sum(home_d(s.fields) <= HOME_R for s in r) >= 3  # nominally inside, yet...
    assert keys(sc, "zone_breach") == [] and "zone_breach" in sc.exhaustive
    assert any(s.message == "status" and s.fields.get("gps") == "no_fix" for s in sc.steps)


def police_areas() -> dict[str, Any]:
    """Every police jurisdiction of the agencies the scenarios meet: the library's (the demo's) and the tests'."""
    from tests.support.builders import AGENCIES
    from tests.unit.builders import agencies_collection

    out = {}
    for collection in (json.loads(AGENCIES_PATH.read_text()), AGENCIES, agencies_collection()):
        for f in collection["features"]:
            if f["properties"]["kind"] == "police" and f["geometry"]:
                out[f"{f['properties']['agency_id']}@{len(out)}"] = shape(f["geometry"])
    return out


def demo_police_at(lat: float, lon: float) -> list[str]:
    return [f["properties"]["agency_id"] for f in json.loads(AGENCIES_PATH.read_text())["features"]
            if f["properties"]["kind"] == "police" and shape(f["geometry"]).covers(Point(lon, lat))]


def test_order_expires_mid_case() -> None:
    sc = order_expires_mid_case()
    ends = sc.order_ends_at
    assert ends is not None and sc.start < ends < sc.start + timedelta(seconds=sc.duration_s)
    issued = sc.order_overrides["issued_at"]
    assert issued < sc.start and ends - issued < timedelta(days=181)  # within the law's 6 months
    r = fixes(sc)
    d = [home_d(s.fields) for s in r]
    ring = next(s for s, x in zip(r, d, strict=True) if HOME_R < x <= HOME_R + PRE_ALERT)
    inside = [s for s, x in zip(r, d, strict=True) if x <= HOME_R]
    assert ring.fields["ts"] < ends  # he reaches the warning ring while the order is in force...
    assert len(inside) >= 4 and all(s.fields["ts"] > ends for s in inside)  # ...and her home only after its end
    assert all(s.fields["ts"] != ends for s in sc.steps)  # the end falls between two messages
    assert sc.expected_keys() == [("pre_alert", "home", False), ("panic", None, False)]
    assert sc.expected[0].at_s == ring.at_s and {"zone_breach", "pre_alert"} <= sc.exhaustive
    (press,) = [s for s in sc.steps if s.message == "panic"]
    panic = sc.expected[1]
    assert press.device == "victim" and press.fields["ts"] > ends and press.fields["silent"] is False
    assert (panic.at_s, panic.occurred_at, panic.party, panic.after_end) == (
        press.at_s, press.fields["ts"], "victim", True)
    assert press.at_s > inside[0].at_s  # he is in her home when she presses
    assert [panic.police] == demo_police_at(*pos(press)) == ["police-xinjin-east"]  # she is at work: the east station
    assert all(dist(pos(s), pos(v)) > 2000 for s in r for v in fixes(sc, "victim"))


def test_home_outside_police_areas() -> None:
    sc = home_outside_police_areas()
    home, home_r, work = places(sc)
    assert home_r == HOME_R and 33_000 < dist(HOME, home) < 34_000  # her home, moved 0.3 degrees north
    assert WORK.area == pytest.approx(work.area, rel=0.01)
    def lonlat(metres: Polygon) -> Polygon:
        return Polygon([_UTM.transform(*p, direction="INVERSE") for p in metres.exterior.coords])

    home_disc = lonlat(Point(utm(*home)).buffer(home_r + PRE_ALERT))
    for name, area in police_areas().items():  # the zones and their warning rings: outside every jurisdiction
        assert not area.intersects(home_disc) and not area.intersects(lonlat(work)), name
    police = sc.order_overrides["police_agency_id"]
    kinds = {f["properties"]["agency_id"]: f["properties"]["kind"]
             for f in json.loads(AGENCIES_PATH.read_text())["features"]}
    assert kinds[police] == "police" and police == "police-xinjin-west"
    r = fixes(sc)
    d = [home_d(s.fields, home) for s in r]
    assert 1450 < d[0] < 1550 and d[-1] < home_r
    ring = next(s for s, x in zip(r, d, strict=True) if home_r < x <= home_r + PRE_ALERT)
    inside = next(s for s, x in zip(r, d, strict=True) if x <= home_r)
    assert sc.expected_keys() == [("pre_alert", "home", False), ("zone_breach", "home", False)]
    assert [(e.at_s, e.police) for e in sc.expected] == [(ring.at_s, police), (inside.at_s, police)]
    assert not any(demo_police_at(*pos(s)) for s in sc.steps)  # no message from inside any jurisdiction
    assert sc.order_ends_at is None and not sc.fits_demo_order


def test_scenario_order_maps_its_times_as_the_plan_maps_device_times() -> None:
    from service.domain.orders import parse_order

    sc = order_expires_mid_case()
    run = datetime(2030, 1, 1, tzinfo=UTC)
    for speedup, compress in ((1.0, True), (10.0, True), (10.0, False)):
        body = scenario_order(sc, run, speedup=speedup, compress_ts=compress)
        scale = speedup if compress else 1.0
        spec = parse_order(body)
        assert spec.expires_at == run + (sc.order_ends_at - sc.start) / scale  # type: ignore[operator]
        assert spec.issued_at == run + (sc.order_overrides["issued_at"] - sc.start) / scale
        planned = plan_scenario(sc, run, speedup=speedup, compress_ts=compress)
        (press,) = [p for p in planned if p.kind == "panic"]
        assert datetime.fromisoformat(press.body["ts"]) > spec.expires_at  # type: ignore[index, operator]
    assert {k: v for k, v in body.items() if k not in ("issued_at", "expires_at")} == {
        k: v for k, v in json.loads(ORDER_PATH.read_text()).items() if k not in ("issued_at", "expires_at")}
    moved = scenario_order(home_outside_police_areas(), run)
    assert moved["police_agency_id"] == "police-xinjin-west" and moved["expires_at"] == "2027-05-20T09:00:00Z"
    assert parse_order(moved).zones[0].geometry["coordinates"][1] == pytest.approx(HOME[0] + 0.3)


def test_plan_compresses_time_and_keeps_backfill_in_the_past() -> None:
    sc = late_buffer_upload()
    start = datetime(2030, 1, 1, tzinfo=UTC)
    planned = plan_scenario(sc, start, speedup=10, first_seq={"respondent": 50})
    (batch,) = [p for p in planned if isinstance(p.body, list)]
    (upload,) = [s for s in sc.steps if s.batch]
    assert batch.send_at_s == pytest.approx(upload.at_s / 10)
    send_time = start + timedelta(seconds=batch.send_at_s)
    item_ts = [datetime.fromisoformat(b["ts"]) for b in batch.body]  # type: ignore[index]
    assert all(t < send_time - timedelta(seconds=17) for t in item_ts)  # 180 s / 10 in the past, at least
    resp = [b for p in planned if p.device == "respondent" for b in (p.body if isinstance(p.body, list) else [p.body])]
    assert [b["seq"] for b in resp] == list(range(50, 50 + len(resp)))
    live = [p for p in planned if not isinstance(p.body, list)]
    for p in live:  # live reports carry their send time
        assert datetime.fromisoformat(p.body["ts"]) - (start + timedelta(seconds=p.send_at_s)) < timedelta(
            milliseconds=1)  # type: ignore[index]

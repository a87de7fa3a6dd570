"""Issue 12, #5: distances gave her position away. Each proximity or zone event kept ``distance_m`` beside
his exact fix: a circle around him that she (or her zone's edge) lies on; two of them intersect at her.

The attack is reproduced on two worlds made by the real pipeline from wire messages, in two databases:
the same order, the same respondent walk (every fix the same), and her home zone and her phone 13 m
apart between the two. Whatever an officer without need-to-know or a supervisor reads (the timeline, the
order page, the alerts, the board, the accountability views, the live stream) must be byte for byte the
same in both worlds: then nothing they read depends on where she is. With need-to-know (an open
proximity alert routed to them) or a recorded reason, the distances are there and do place her.
"""

from __future__ import annotations

import json
import math
import re
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyotp
import pytest
from argon2 import PasswordHasher

from alerts.lifecycle import Actor, resolve
from geofence import FrameCache
from service.adapters.db.alerts_repo import OutboxItem
from service.adapters.db.engine import make_engine, migrate
from service.auth import Auth
from service.domain.directory import Directory
from service.domain.monitoring import Monitor
from service.importing import import_agencies, import_orders
from service.live import AlertFeed
from service.pipeline import Pipeline
from service.state import rebuild
from service.web import WebDeps, create_app
from service.wire import Inbound
from simulators.walk import offset
from tests.conftest import skip_or_fail
from tests.support import builders
from tests.support.databases import database_url, postgres_base_url

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
ORDER = "PSO-2026-0001"
FROM, TO = "2026-11-21T09:00:00Z", "2026-11-21T11:00:00Z"
WINDOW = f"from={FROM}&to={TO}"
# his fixes, 5 s apart (metres north and east of the example's home): towards her home and her, in, out
WALK = [(900, 0), (400, 0), (200, 0), (100, 0), (50, 0), (200, 0), (450, 0), (900, 300)]
HER_FROM_HOME = (40.0, -60.0)  # her phone, from her home's centre
SHIFT = (7.0, 11.0)  # the second world: her home zone and her phone this far north and east; his walk unchanged
HER_DATA_KEYS = ("distance_m", "depth_m", "eta_s", "confidence", "victim_fix_age_s", "victim", "between_m",
                 "to_zone_m")
PASSWORD = "correct horse battery"
SENTINEL = b'{"kind":"end of test"}'
ACCOUNTS = {"west-officer": ("police", "police-west"), "xinjin-judge": ("court", "court-xinjin"),
            "west-sup": ("supervisor", "police-west")}


@dataclass
class World:
    pipeline: Pipeline
    feed: AlertFeed
    clients: dict[str, Any]
    outbox: list[OutboxItem]
    her: tuple[float, float]


def _msg(device: str, kind: str, body: dict) -> Inbound:
    return Inbound(f"stayaway/v1/devices/{device}/{kind}", orjson.dumps(body), NOW)


def build(url: str, shift: tuple[float, float]) -> tuple[World, Any]:
    engine = make_engine(url)
    migrate(engine)
    import_agencies(engine, builders.AGENCIES, lambda: NOW)
    home = offset(*builders.HOME, *shift)
    order = builders.order(pre_alert_m=None)  # the moving zone (500 m) and the fixed zones, no warning ring
    order["zones"]["features"][0]["geometry"]["coordinates"] = [home[1], home[0]]
    import_orders(engine, [(order, "a.json")], lambda: NOW)
    monitor = Monitor(FrameCache(), Directory([]), iter(f"alert-{i}" for i in range(1000)).__next__)
    with engine.begin() as conn:
        rebuild(monitor, conn, now=NOW)
    pipeline = Pipeline(engine, monitor, lambda: NOW, 256 * 1024)
    t0 = NOW - timedelta(seconds=60)
    her = offset(*home, *HER_FROM_HOME)
    outbox = pipeline.process([_msg("phone-001", "location", builders.location(1, *her, ts=t0))]).outbox
    for i, (north, east) in enumerate(WALK):
        fix = offset(*builders.HOME, north, east)
        outbox += pipeline.process([_msg("trk-001", "location", builders.location(
            i + 1, *fix, ts=t0 + timedelta(seconds=5 * (i + 1))))]).outbox
    auth = Auth(engine, lambda: NOW, PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    feed = AlertFeed()
    app = create_app(WebDeps(engine, lambda: {"ready": True, "counters": {}}, None, auth, None, None, feed),
                     {"TESTING": True})
    clients = {}
    for name, (role, agency) in ACCOUNTS.items():
        secret = auth.create_account(name, PASSWORD, role, agency).totp_secret
        c = app.test_client()
        form = c.get("/signin").get_data(as_text=True)
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        signed = c.post("/signin", data={"csrf": token, "account": name, "password": PASSWORD,
                                         "code": pyotp.TOTP(secret).at(NOW)})
        assert signed.status_code == 302, name
        clients[name] = c
    return World(pipeline, feed, clients, outbox, her), engine


@pytest.fixture(params=["sqlite", "postgres"])
def worlds(request, tmp_path):  # type: ignore[no-untyped-def]
    """The two worlds: (his walk, her here) and (his walk, her 13 m away)."""
    if request.param == "postgres" and not postgres_base_url():
        skip_or_fail("STAYAWAY_TEST_DATABASE_URL is not set (PostgreSQL)")
    with ExitStack() as stack:
        made = []
        for name, shift in (("here", (0.0, 0.0)), ("moved", SHIFT)):
            (tmp_path / name).mkdir()
            url = stack.enter_context(database_url(request.param, tmp_path / name))
            world, engine = build(url, shift)
            stack.callback(engine.dispose)
            made.append(world)
        yield made


def _kinds(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["kind"], e["event"]) for e in events]


def _her_data_in(value: Any) -> list[str]:
    """Every key of her data anywhere in a JSON value."""
    if isinstance(value, dict):
        return [k for k in value if k in HER_DATA_KEYS] + [x for v in value.values() for x in _her_data_in(v)]
    if isinstance(value, list):
        return [x for v in value for x in _her_data_in(v)]
    return []


def _page(r) -> str:  # type: ignore[no-untyped-def]
    """A page without the session's own values (its CSRF token): what remains is what was read."""
    assert r.status_code == 200, r.status_code
    html = r.get_data(as_text=True)
    html = re.sub(r'(name="csrf" value=")[^"]+"', r'\1"', html)
    return re.sub(r'(<meta name="csrf-token" content=")[^"]+"', r'\1"', html)


def _map_data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="map-data">(.*?)</script>', html, re.DOTALL)
                      .group(1))


def _reads(w: World, name: str) -> dict[str, str]:
    """Everything an account reads about the order, as it reads it (JSON and HTML, GET and a reason POSTed)."""
    c = w.clients[name]
    out = {
        "timeline": c.get(f"/api/v1/orders/{ORDER}/timeline?{WINDOW}").get_data(as_text=True),
        "order": c.get(f"/api/v1/orders/{ORDER}").get_data(as_text=True),
        "alerts": c.get("/api/v1/alerts?status=all").get_data(as_text=True),
        "order page": _page(c.get(f"/orders/{ORDER}?{WINDOW}")),
        "board": _page(c.get("/board")),
    }
    if name == "west-sup":
        out["accountability"] = c.get(f"/api/v1/accountability?{WINDOW}").get_data(as_text=True)
        out["accountability page"] = _page(c.get(f"/accountability?from={FROM}&to={TO}"))
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', c.get("/board").get_data(as_text=True)).group(1)
        out["order page with a reason"] = _page(c.post(f"/orders/{ORDER}", data={
            "csrf": csrf, "reason": "checking the breach on 21 November", "from": FROM, "to": TO}))
    return out


def _stream(w: World, name: str) -> list[bytes]:
    return stream_lines(w.clients[name], ACCOUNTS[name][1], w.feed, w.outbox)


def stream_lines(client: Any, agency: str, feed: Any, outbox: list[OutboxItem]) -> list[bytes]:
    """The account's live stream while ``outbox`` is published to ``feed`` (then one message of the test's own,
    to know the stream has given all it will): the data lines."""
    r = client.get("/api/v1/alerts/stream", buffered=False)
    events = iter(r.response)
    assert next(events).startswith(b"retry:")
    feed.publish([*outbox, OutboxItem(0, 0, f"stayaway/v1/agencies/{agency}/alerts", SENTINEL)])
    out = []
    for chunk in events:
        assert chunk.startswith(b"event: alert\ndata: "), chunk
        data = chunk.split(b"data: ", 1)[1].strip()
        if data == SENTINEL:
            break
        out.append(data)
    r.close()
    return out


def _resolve_proximity(w: World) -> None:
    """An officer of police-west closes the proximity alert: nobody needs to know where she is any more."""
    [(alert_id, _)] = [(a, o) for a, (o, alert, _) in w.pipeline.monitor.open_alerts.items()
                       if alert.kind.value == "proximity"]
    officer = Actor("west-officer", "person", "police-west")
    w.pipeline.act(alert_id, lambda a, at: resolve(a, officer, at, "respondent_warned", "spoke to him"),
                   "west-officer")


def _plane(lat: float, lon: float) -> tuple[float, float]:
    """Metres east and north of the example's home (a local plane: well under a metre off over 2 km)."""
    lat0, lon0 = builders.HOME
    return ((lon - lon0) * 111_320.0 * math.cos(math.radians(lat0)), (lat - lat0) * 110_574.0)


def _intersections(c1: tuple[float, float, float], c2: tuple[float, float, float]) -> list[tuple[float, float]]:
    (x1, y1, r1), (x2, y2, r2) = c1, c2
    d = math.hypot(x2 - x1, y2 - y1)
    a = (r1 * r1 - r2 * r2 + d * d) / (2 * d)
    h = math.sqrt(max(0.0, r1 * r1 - a * a))
    mx, my = x1 + a * (x2 - x1) / d, y1 + a * (y2 - y1) / d
    return [(mx + h * (y2 - y1) / d, my - h * (x2 - x1) / d), (mx - h * (y2 - y1) / d, my + h * (x2 - x1) / d)]


def test_two_events_place_her_for_whoever_may_know_and_nobody_else(worlds) -> None:  # type: ignore[no-untyped-def]
    here, moved = worlds
    # the attack, as it was: the police officer answering the open proximity alert reads the timeline
    timeline = here.clients["west-officer"].get(f"/api/v1/orders/{ORDER}/timeline?{WINDOW}").get_json()
    assert timeline["victim_positions"] == "included"  # an open proximity alert, routed to police-west
    assert _kinds(timeline["events"]) == [("proximity", "raised"), ("zone_breach", "raised"),
                                          ("zone_breach", "updated"), ("proximity", "updated")]
    proximity = [e for e in timeline["events"] if e["kind"] == "proximity"]
    assert all("distance_m" in e and "respondent" in e for e in proximity)
    circles = [(*_plane(e["respondent"]["lat"], e["respondent"]["lon"]), e["distance_m"]) for e in proximity]
    her = _plane(*here.her)
    assert min(math.dist(p, her) for p in _intersections(*circles)) < 20.0  # his two fixes and two distances
    assert "distance_m" in next(e for e in timeline["events"] if e["kind"] == "zone_breach")
    # and so nothing that officer reads may be the same in a world where she is elsewhere: the control
    for name in ("west-officer", "xinjin-judge"):
        a, b = _reads(here, name), _reads(moved, name)
        assert a["timeline"] != b["timeline"] and a["order page"] != b["order page"], name
        assert _map_data(a["order page"])["distance"]["between_m"], name
    # a supervisor never needs to know: every read the same in both worlds, and no key of her data in them
    a, b = _reads(here, "west-sup"), _reads(moved, "west-sup")
    for what in a:
        assert a[what] == b[what], what
    sup = json.loads(a["timeline"])
    # the moving zone's moments are hers too (F4): its events come to the half hour, without his fix, without
    # the update that says he is still inside, before the other events of their half hour
    assert sup["victim_positions"] == "omitted"
    assert _kinds(sup["events"]) == [("proximity", "raised"), ("zone_breach", "raised"), ("zone_breach", "updated")]
    assert _her_data_in(sup) == [] and _her_data_in(_map_data(a["order page"])) == []
    assert _her_data_in(json.loads(a["alerts"])) == [] and _her_data_in(json.loads(a["order"])) == []
    assert "respondent" not in sup["events"][0] and sup["events"][0]["coarse"] is True
    zone_breach = [e for e in timeline["events"] if e["kind"] == "zone_breach"]
    assert [e["respondent"] for e in sup["events"][1:]] == [e["respondent"] for e in zone_breach]  # a fixed zone's:
    # his fix stays (police go where he is; the zone is the order's)


def test_once_nobody_needs_to_know_every_read_is_the_same_wherever_she_is(worlds) -> None:  # type: ignore[no-untyped-def]
    here, moved = worlds
    for w in worlds:
        _resolve_proximity(w)
    for name in ACCOUNTS:
        a, b = _reads(here, name), _reads(moved, name)
        for what in a:
            assert a[what] == b[what], (name, what)
        timeline = json.loads(a["timeline"])
        assert timeline["victim_positions"] == "omitted" and len(timeline["events"]) == 4  # the resolution too
        # (not the proximity's update that he was still inside: how many there are says how long he stayed)
        assert _her_data_in(timeline) == [] and _her_data_in(json.loads(a["alerts"])) == []
        layers = _map_data(a["order page"])
        assert _her_data_in(layers) == [] and "zones" not in layers and "victim" not in layers
        # his whole walk is within half an hour of the proximity (and his latest fixes): withheld; where he
        # was at the zone breach's entry and exit stays
        assert layers["respondent"] == [] and timeline["withheld"] and len(layers["alerts"]) == 2


def test_a_reason_on_record_brings_the_distances_back(worlds) -> None:  # type: ignore[no-untyped-def]
    for w in worlds:
        _resolve_proximity(w)
    pages = []
    for w in worlds:
        c = w.clients["west-officer"]
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', c.get("/board").get_data(as_text=True)).group(1)
        pages.append(_page(c.post(f"/orders/{ORDER}", data={
            "csrf": csrf, "reason": "suspected breach at her home", "from": FROM, "to": TO})))
    assert pages[0] != pages[1]
    layers = _map_data(pages[0])
    assert [z["zone_id"] for z in layers["zones"]] == ["home", "work"] and layers["distance"]["between_m"]
    assert 'id="victim-shown"' in pages[0]
    rows = re.findall(r'<tr class="sev-[a-z]+">(.*?)</tr>', pages[0], re.DOTALL)
    # the distance column: every event of the two breaches, the officer's resolution too (his last distance)
    assert len(rows) == 5 and all(re.search(r"<td>\d+ m</td>", r) for r in rows)


def test_police_and_court_streams_are_their_agency_s_messages_a_supervisor_s_holds_none_of_her_data(worlds) -> None:  # type: ignore[no-untyped-def]
    police = [_stream(w, "west-officer") for w in worlds]
    assert police[0] != police[1]  # as on police-west's MQTT topic: it answers these alerts (contract section 2)
    raised = orjson.loads(police[0][0])
    assert raised["kind"] == "proximity" and "distance_m" in raised and "victim" in raised
    supervisor = [_stream(w, "west-sup") for w in worlds]
    assert supervisor[0] == supervisor[1]
    messages = [orjson.loads(m) for m in supervisor[0]]
    assert len(supervisor[0]) == len(police[0]) - 1  # not the proximity's "still inside" (F4)
    assert [m["kind"] for m in messages] == ["proximity", "zone_breach", "zone_breach"]
    assert _her_data_in(messages) == [] and ["respondent" in m for m in messages] == [False, True, True]

"""``stayaway serve`` as a real process, a real broker, devices publishing the wire contract."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa

from service.adapters.db import schema as t
from simulators import SimDevice
from simulators.walk import offset
from tests.conftest import skip_or_fail
from tests.e2e.conftest import write_json
from tests.support import builders

POLICE_WEST = "stayaway/v1/agencies/police-west/alerts"
COURT = "stayaway/v1/agencies/court-xinjin/alerts"


def walk_in(tracker: SimDevice, norths=(900, 500, 320, 200), start: datetime | None = None) -> list[dict]:
    start = start or datetime.now(UTC)
    return [tracker.location(*offset(*builders.HOME, n, 0), acc=5.0, ts=start + timedelta(seconds=i))
            for i, n in enumerate(norths)]


def test_breach_and_panic_reach_police_and_court(devices, broker, console, loaded, db_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(db_url).start()
    tracker, phone = devices()
    sent = walk_in(tracker)
    assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2)
    by_topic = {m["agency_id"]: m for m in console.where(kind="zone_breach", event="raised")}
    assert set(by_topic) == {"police-west", "court-xinjin"}
    police = by_topic["police-west"]
    inside = sent[-1]
    assert {k: police[k] for k in ("order_id", "kind", "severity", "event", "status", "retroactive", "_retain")} == {
        "order_id": "PSO-2026-0001", "kind": "zone_breach", "severity": "critical", "event": "raised",
        "status": "open", "retroactive": False, "_retain": False}
    assert police["occurred_at"] == inside["ts"]
    assert police["respondent"] == {"lat": inside["lat"], "lon": inside["lon"], "acc": 5.0, "ts": inside["ts"]}
    assert police["zone"] == {"zone_id": "home", "kind": "home", "name": "Victim's home"}
    assert 80 < police["distance_m"] < 120  # 200 m from the centre of a 300 m circle
    assert "victim" not in police and by_topic["court-xinjin"]["alert_id"] == police["alert_id"]

    press = phone.panic(*offset(*builders.HOME, 10, 10), acc=12.0)
    assert console.wait_for(lambda: len(console.where(kind="panic", event="raised")) == 2)
    panics = {m["agency_id"]: m for m in console.where(kind="panic")}
    assert set(panics) == {"police-west", "court-xinjin"}
    assert panics["police-west"]["victim"] == {"lat": press["lat"], "lon": press["lon"], "acc": 12.0, "ts": press["ts"]}
    assert panics["police-west"]["respondent"]["lat"] == inside["lat"]

    for coordinate in (press["lat"], press["lon"], inside["lat"], inside["lon"]):
        assert str(coordinate)[:7] not in serve.log()  # no position ever reaches a log line
    status, body = serve.get("/api/v1/alerts")
    assert status == 200 and {a["kind"] for a in body["alerts"]} == {"zone_breach", "panic"}
    assert '"lat"' not in json.dumps(body) and str(press["lat"])[:6] not in json.dumps(body)
    tracker.close()
    phone.close()


def test_repeated_reports_change_nothing(devices, broker, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url).start()
    tracker, _ = devices()
    inside = builders.location(7, *offset(*builders.HOME, 100, 0))
    for _ in range(3):
        tracker.send("location", inside)
    tracker.send("location", [inside, inside])
    assert console.wait_for(lambda: serve.counters().get("duplicates", 0) >= 4)
    time.sleep(0.5)
    assert len(console.where(kind="zone_breach", event="raised")) == 2  # police + court, once
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.location_reports)).scalar() == 1
    engine.dispose()


HOSTILE = [
    ("trk-001/location", b"", "invalid_json"),
    ("trk-001/location", b"null", "wrong_shape"),
    ("trk-001/location", b"{", "invalid_json"),
    ("trk-001/location", b"\xff\xfe\x00\x01", "invalid_json"),
    ("trk-001/location", b"[]", "array_empty"),
    ("trk-001/location", b"[" * 5000 + b"]" * 5000, "invalid_json"),
    ("trk-001/location", b'{"seq":"1","ts":"2026-11-21T08:00:00Z","lat":1,"lon":1,"acc":1}', "wrong_type"),
    ("trk-001/location", b'{"seq":1,"ts":"yesterday","lat":1,"lon":1,"acc":1}', "ts_invalid"),
    ("trk-001/location", b'{"seq":1,"ts":"2026-11-21T08:00:00Z","lat":91,"lon":1,"acc":1}', "out_of_range"),
    ("trk-001/location", b'{"seq":1,"ts":"2026-11-21T08:00:00Z","lat":1e999,"lon":1,"acc":1}', None),
    ("trk-001/location", b"x" * 300_000, "payload_too_large"),
    ("trk-001/status", b'{"seq":1,"ts":"2026-11-21T08:00:00Z","strap":"broken"}', "out_of_range"),
    ("trk-001/panic", b'{"seq":1,"ts":"2026-11-21T08:00:00Z"}', "device_role"),
    ("nobody-here/location", b'{"seq":1,"ts":"2026-11-21T08:00:00Z","lat":1,"lon":1,"acc":1}', "unknown_device"),
    ("a" * 65 + "/location", b"{}", "device_id_invalid"),
]


def test_hostile_payloads_are_rejected_stored_and_survived(devices, broker, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url).start()
    raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hostile", protocol=mqtt.MQTTv311)
    raw.connect(broker.host, broker.port)
    raw.loop_start()
    for topic, body, _ in HOSTILE:
        raw.publish(f"stayaway/v1/devices/{topic}", body, qos=1).wait_for_publish(10)
    assert console.wait_for(lambda: sum(v for k, v in serve.counters().items() if k.startswith("rejected.")) >= len(HOSTILE))
    assert serve.get("/healthz")[0] == 200
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.rejected_messages.c.reason, t.rejected_messages.c.payload)
                            .order_by(t.rejected_messages.c.id)).all()
    engine.dispose()
    assert len(rows) == len(HOSTILE)
    stored = {bytes(payload): reason for reason, payload in rows}  # panics jump the queue: match by payload
    for _, body, expected in HOSTILE:
        kept = body[:1024] if expected == "payload_too_large" else body  # over the size limit: its head is kept
        assert kept in stored
        assert expected is None or stored[kept] == expected
    tracker, _ = devices()
    walk_in(tracker)  # the service still works
    assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2)
    assert "Traceback" not in serve.log()
    raw.disconnect()  # closes its socket: a client left open is a ResourceWarning in a later test
    raw.loop_stop()


def test_restart_does_not_reraise_an_open_episode(devices, broker, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url).start()
    tracker, _ = devices()
    # the walk happened over the last 150 s (a device clock may not run ahead of the server's: issue 12)
    start = datetime.now(UTC) - timedelta(seconds=150)
    walk_in(tracker, start=start)
    assert console.wait_for(lambda: len(console.where(event="raised")) == 2)
    alert_id = console.where(event="raised")[0]["alert_id"]
    serve.stop(kill=True)
    serve.start()
    for i in range(2):
        tracker.location(*offset(*builders.HOME, 150, 0), acc=5.0, ts=start + timedelta(seconds=40 + 40 * i))
    tracker.location(*offset(*builders.HOME, 700, 0), acc=5.0, ts=start + timedelta(seconds=130))
    assert console.wait_for(lambda: len(console.where(condition="ended")) == 2)
    assert len(console.where(event="raised")) == 2
    updates = console.where(event="updated", agency_id="police-west")
    assert [(m["alert_id"], m["event_seq"], m["condition"]) for m in updates] == [
        (alert_id, 2, "active"), (alert_id, 3, "active"), (alert_id, 4, "ended")]


def test_reports_sent_while_serve_is_down_are_processed_after_restart(devices, broker, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    if not broker.persistent_sessions:
        skip_or_fail("the embedded broker keeps no session for a disconnected client")
    serve = loaded(sqlite_url, client_id=f"stayaway-e2e-persist-{time.time_ns()}").start()
    tracker, _ = devices()
    serve.stop(kill=True)
    walk_in(tracker)
    time.sleep(0.5)
    assert console.where(kind="zone_breach") == []
    serve.start()
    assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2)
    assert serve.counters().get("accepted") == 4


def test_an_order_imported_while_serving_takes_effect_within_a_second(devices, broker, console, loaded, sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url).start()
    path = tmp_path / "second.json"
    path.write_text(json.dumps(builders.order_for(2, **builders.ZONES_ONLY)))
    serve.cli("orders", "import", str(path))
    time.sleep(1.0)
    tracker, _ = devices(2)
    walk_in(tracker)
    assert console.wait_for(lambda: len(console.where(order_id="PSO-T-0002", event="raised")) == 2)
    assert serve.counters().get("rejected.unknown_device", 0) == 0


def test_a_breach_outside_every_jurisdiction_reaches_the_police_that_answer_for_the_order(devices, broker, console, loaded, sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: it used to reach the court alone. An order no police agency answers for is refused; one
    that names its police agency routes what lies outside every jurisdiction there."""
    far = builders.order(zones={"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [104.5, 31.0]},
         "properties": {"zone_id": "home", "kind": "home", "name": "Home", "radius_m": 200}}]})
    serve = loaded(sqlite_url, [{**far, "police_agency_id": "police-east"}])
    refused = serve.cli("orders", "import", write_json(tmp_path / "far.json", {**far, "order_id": "PSO-FAR-2"}),
                        check=False)
    assert refused.returncode == 2 and "no police agency answers for this order" in refused.stderr
    serve.start()
    tracker, _ = devices()
    tracker.location(31.0005, 104.5, acc=5.0)
    assert console.wait_for(lambda: len(console.where(kind="zone_breach")) >= 2)
    time.sleep(0.3)
    assert sorted(m["agency_id"] for m in console.where(kind="zone_breach")) == ["court-xinjin", "police-east"]


@pytest.mark.parametrize("body,field", [
    ({"order_id": "bad id!"}, "order_id"),
    ("zones", "zones.features[0].properties.radius_m"),
])
def test_a_bad_order_file_is_refused_naming_the_field(loaded, sqlite_url, tmp_path, body, field) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url)
    if body == "zones":
        order = builders.order()
        del order["zones"]["features"][0]["properties"]["radius_m"]
    else:
        order = builders.order(**body)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(order))
    result = serve.cli("orders", "import", str(path), check=False)
    assert result.returncode == 2
    assert f"(field: {field})" in result.stderr

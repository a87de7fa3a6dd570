"""Issue-3 rules end to end: ``stayaway serve``, a real broker, devices speaking only the wire contract.

The order is the contract's example (a 500 m moving zone, a 300 m warning ring).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from simulators.walk import offset
from tests.support import builders

HER = offset(*builders.HOME, 0, 3000)  # 3 km east of home: the east station's area, away from both zones


def test_proximity_goes_to_police_and_court_with_her_position_and_speeds_her_phone_up(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url, orders=[builders.order()]).start()
    tracker, phone = devices()
    now = datetime.now(UTC) - timedelta(seconds=100)  # a walk of the last 100 s: device clocks never run ahead
    phone.location(*HER, acc=10.0, ts=now)
    time.sleep(0.3)
    tracker.location(*offset(*HER, 1500, 0), acc=5.0, ts=now + timedelta(seconds=5))
    tracker.location(*offset(*HER, 700, 0), acc=5.0, ts=now + timedelta(seconds=35))  # inside the 800 m ring
    tracker.location(*offset(*HER, 300, 0), acc=5.0, ts=now + timedelta(seconds=65))
    assert console.wait_for(lambda: len(console.where(kind="proximity", event="raised")) == 2)
    prox = {m["agency_id"]: m for m in console.where(kind="proximity", event="raised")}
    assert set(prox) == {"police-east", "court-xinjin"}
    for m in prox.values():
        assert m["victim"]["lat"] == round(HER[0], 7) and m["victim"]["lon"] == round(HER[1], 7)
        assert 290 <= m["distance_m"] <= 310 and m["severity"] == "critical" and m["retroactive"] is False
    warn = console.where(kind="pre_alert", event="raised", agency_id="court-xinjin")
    assert len(warn) == 1 and "victim" not in warn[0] and "zone" not in warn[0]  # the moving zone's ring
    assert 690 <= warn[0]["distance_m"] <= 710  # the distance between the parties
    # pursuit mode: her phone is asked to report every 15 s; his tracker is told nothing (it would tell him
    # where she is: issue 12)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and phone.interval_s != 15:
        time.sleep(0.05)
    assert phone.interval_s == 15 and all(set(c) == {"cmd", "seconds"} for c in phone.commands)
    # he leaves: the episode ends, and her phone goes back to its order's interval
    tracker.location(*offset(*HER, 2000, 0), acc=5.0, ts=now + timedelta(seconds=95))  # 57 m/s: a plausible drive
    assert console.wait_for(lambda: len(console.where(kind="proximity", condition="ended")) == 2)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and phone.interval_s != 60:
        time.sleep(0.05)
    assert phone.interval_s == 60 and tracker.commands == [] and tracker.notices == []
    assert serve.counters().get("accepted") == 5


def test_driving_through_the_workplace_is_a_crossed_breach(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    loaded(sqlite_url).start()
    tracker, _ = devices()
    now = datetime.now(UTC) - timedelta(seconds=40)  # dated in the past: a clock ahead is not trusted
    tracker.location(30.4415, 103.8790, acc=5.0, ts=now)  # ~100 m west of the workplace
    tracker.location(30.4415, 103.8852, acc=5.0, ts=now + timedelta(seconds=30), spd=20.0, hdg=90.0)
    assert console.wait_for(lambda: len(console.where(kind="zone_breach", condition="ended")) == 2)
    raised = console.where(kind="zone_breach", event="raised", agency_id="police-east")
    assert len(raised) == 1 and raised[0]["crossed"] is True and raised[0]["zone"]["zone_id"] == "work"
    assert raised[0]["episode_id"] == raised[0]["alert_id"]


def test_a_buffer_uploaded_late_is_a_retroactive_breach(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url).start()
    tracker, _ = devices()
    then = datetime.now(UTC) - timedelta(minutes=20)
    tracker.location(*offset(*builders.HOME, 1500, 0), acc=5.0, ts=then)
    buffer = []
    for i, north in enumerate([900, 200, 150, 900, 1500]):
        tracker.seq += 1
        lat, lon = offset(*builders.HOME, north, 0)
        buffer.append({"seq": tracker.seq, "ts": builders.rfc3339(then + timedelta(minutes=1 + i)),
                       "lat": round(lat, 7), "lon": round(lon, 7), "acc": 5.0})
    tracker.send("location", buffer)  # a JSON array: the tracker was offline (contract section 1)
    assert console.wait_for(lambda: len(console.where(kind="zone_breach", condition="ended")) == 2)
    raised = console.where(kind="zone_breach", event="raised")
    assert len(raised) == 2 and all(m["retroactive"] is True for m in raised)
    assert raised[0]["occurred_at"] == buffer[1]["ts"]
    status, body = serve.get("/api/v1/alerts")
    assert status == 200 and [a["retroactive"] for a in body["alerts"]] == [True]
    assert json.dumps(body).count(str(round(builders.HOME[0], 3))) == 0  # the API lists no positions

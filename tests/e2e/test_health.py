"""Device health and victim notices end to end: ``stayaway serve``, a real broker, wire-level devices."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from simulators.walk import offset
from tests.support import builders


def wait(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_an_opened_strap_reaches_police_and_court_and_closing_it_ends_the_condition(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    loaded(sqlite_url).start()
    tracker, _ = devices()
    now = datetime.now(UTC)
    tracker.location(*offset(*builders.HOME, 2000, 0), acc=5.0, ts=now)
    tracker.status(ts=now + timedelta(seconds=1), strap="open", batt=80)
    assert console.wait_for(lambda: len(console.where(kind="strap_tamper", event="raised")) == 2)
    raised = {m["agency_id"]: m for m in console.where(kind="strap_tamper", event="raised")}
    assert set(raised) == {"police-west", "court-xinjin"}
    assert raised["court-xinjin"]["device_id"] == "trk-001" and raised["court-xinjin"]["severity"] == "high"
    tracker.status(ts=now + timedelta(seconds=2), strap="closed")
    assert console.wait_for(lambda: len(console.where(kind="strap_tamper", condition="ended")) == 2)
    assert all(m["status"] == "open" for m in console.where(kind="strap_tamper"))  # a person must resolve it


def test_a_silent_tracker_is_signal_lost_and_back_when_it_reports(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    order = builders.order(**builders.ZONES_ONLY)
    order["respondent"]["report_interval_s"] = 1  # silent for more than 13 s is lost
    order["victim"]["device_id"] = None  # no phone in this order
    serve = loaded(sqlite_url, orders=[order])
    serve.env["STAYAWAY_HEALTH_CLOSE_AFTER_S"] = "2"  # closed by the system once back for 2 s (default 60 s)
    serve.start()
    tracker, _ = devices()
    tracker.location(*offset(*builders.HOME, 2000, 0), acc=5.0)
    started = time.monotonic()
    assert console.wait_for(lambda: len(console.where(kind="signal_lost", event="raised")) == 2, timeout=30)
    assert 12.0 <= time.monotonic() - started <= 20.0  # 3 x 1 s + 10 s after its message, within the tick
    tracker.location(*offset(*builders.HOME, 2000, 0), acc=5.0)
    assert console.wait_for(lambda: len(console.where(kind="signal_lost", event="updated", condition="ended")) == 2)
    assert console.wait_for(lambda: len(console.where(kind="signal_lost", event="resolved")) == 2)  # closed by the system


def test_the_victim_is_told_of_the_breach_and_its_end_with_no_coordinates(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    loaded(sqlite_url).start()
    tracker, phone = devices()
    now = datetime.now(UTC) - timedelta(seconds=100)  # a walk of the last 100 s: device clocks never run ahead
    for i, north in enumerate([900, 200]):
        tracker.location(*offset(*builders.HOME, north, 0), acc=5.0, ts=now + timedelta(seconds=30 * i))
    assert wait(lambda: any(n["kind"] == "warning" for n in phone.notices))
    tracker.location(*offset(*builders.HOME, 1500, 0), acc=5.0, ts=now + timedelta(seconds=90))
    assert wait(lambda: any(n["kind"] == "all_clear" for n in phone.notices))
    for n in phone.notices:
        assert set(n) == {"notice_id", "kind", "text", "alert_id", "topic", "order_id", "locale"}
        assert not any(ch.isdigit() for ch in n["text"])
    assert tracker.notices == []  # the respondent's device is told nothing


def test_case_battery_and_gps_conditions_are_raised_ended_and_closed_where_safe(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    serve = loaded(sqlite_url)
    serve.env["STAYAWAY_HEALTH_CLOSE_AFTER_S"] = "1"
    serve.start()
    tracker, _ = devices()
    now = datetime.now(UTC)
    tracker.location(*offset(*builders.HOME, 2000, 0), acc=5.0, ts=now)
    tracker.status(ts=now + timedelta(seconds=1), case="open", batt=10, charging=False, gps="no_fix")
    for kind in ("case_tamper", "battery_low", "location_lost"):
        assert console.wait_for(lambda kind=kind: len(console.where(kind=kind, event="raised")) == 2), kind
    assert {m["agency_id"] for m in console.where(event="raised")} == {"police-west", "court-xinjin"}
    tracker.status(ts=now + timedelta(seconds=2), case="closed", charging=True)
    tracker.location(*offset(*builders.HOME, 2000, 0), acc=5.0, ts=now + timedelta(seconds=3))
    for kind in ("battery_low", "location_lost"):  # safe conditions: ended, then closed by the system
        assert console.wait_for(lambda kind=kind: len(console.where(kind=kind, event="resolved")) == 2), kind
        assert console.where(kind=kind, event="resolved")[0]["outcome"] == "condition_ended"
    assert console.wait_for(lambda: len(console.where(kind="case_tamper", condition="ended")) == 2)
    time.sleep(2)
    assert console.where(kind="case_tamper", event="resolved") == []  # tamper waits for a person


def test_a_stale_victim_fix_is_victim_signal_lost_not_a_comparison(devices, console, loaded, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    order = builders.order(pre_alert_m=None)
    order["victim"]["report_interval_s"] = 1  # her fix is fresh for 13 s
    loaded(sqlite_url, orders=[order]).start()
    tracker, phone = devices()
    now = datetime.now(UTC)
    her = offset(*builders.HOME, 0, 3000)  # 3 km east of home, away from the fixed zones
    phone.location(*her, acc=8.0, ts=now - timedelta(seconds=60))  # a minute old on arrival
    tracker.location(*offset(*her, 3000, 0), acc=5.0, ts=now)
    assert console.wait_for(lambda: len(console.where(kind="victim_signal_lost", event="raised")) == 2)
    assert all("victim" not in m for m in console.where(kind="victim_signal_lost"))
    phone.location(*her, acc=8.0, ts=datetime.now(UTC))
    assert console.wait_for(lambda: len(console.where(kind="victim_signal_lost", event="resolved")) == 2)


def test_repeated_panic_presses_are_one_alert_and_a_silent_one_tells_the_phone_nothing(devices, console, loaded,
                                                                                      sqlite_url) -> None:  # type: ignore[no-untyped-def]
    loaded(sqlite_url, orders=[builders.order(**builders.ZONES_ONLY),
                               builders.order_for(2, **builders.ZONES_ONLY)]).start()
    _, phone = devices()
    _, silent_phone = devices(2)
    at = offset(*builders.HOME, 10, 10)
    now = datetime.now(UTC)
    for i in range(3):
        phone.panic(*at, acc=10.0, ts=now + timedelta(seconds=i))
    silent_phone.panic(*at, acc=10.0, silent=True, ts=now)
    assert console.wait_for(lambda: len([m for m in console.where(kind="panic", agency_id="court-xinjin")]) >= 4)
    assert console.wait_for(lambda: len(console.where(kind="panic", event="updated", agency_id="court-xinjin")) == 2)
    loud = [m for m in console.where(kind="panic", agency_id="court-xinjin") if m["order_id"] == "PSO-2026-0001"]
    assert len({m["alert_id"] for m in loud}) == 1 and [m["event"] for m in loud] == ["raised", "updated", "updated"]
    quiet = [m for m in console.where(kind="panic", agency_id="court-xinjin") if m["order_id"] != "PSO-2026-0001"]
    assert [(m["event"], m["silent"]) for m in quiet] == [("raised", True)]
    assert wait(lambda: [n["kind"] for n in phone.notices] == ["info"])  # received, once
    time.sleep(1)
    assert silent_phone.notices == []  # nothing the respondent could see on her screen

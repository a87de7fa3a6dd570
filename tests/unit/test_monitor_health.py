"""Device health, the silence watchdog and the victim's notices, driven through the monitor."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from alerts import Status
from service.domain.monitor import Changes
from service.wire import PanicPress, StatusReport
from tests.unit.builders import T0, example_order, north_of_home, seconds
from tests.unit.test_monitor_rules import PHONE, TRK, Run, events


def zones_only() -> dict[str, Any]:
    return example_order(min_distance_m=None, pre_alert_m=None)


def status(run: Run, device: str, at_s: float, **fields: Any) -> Changes:
    run.seq[device] += 1
    ts = T0 + seconds(at_s)
    changes = Changes()
    run.monitor.on_status(StatusReport(device, run.seq[device], ts, ts + seconds(1), b"{}", **fields),
                          ts + seconds(1), changes)
    run.all.append(changes)
    return changes


def tick(run: Run, at_s: float, listening_since: datetime | None = None) -> Changes:
    changes = Changes()
    run.monitor.on_tick(T0 + seconds(at_s), changes, listening_since)
    run.all.append(changes)
    return changes


def notices(changes: Changes) -> list[dict[str, Any]]:
    return [c.body for c in changes.commands if c.channel == "notices"]


# -- tamper, battery, location ---------------------------------------------------------------------------------

def test_an_opened_strap_raises_strap_tamper_once_and_closing_it_ends_the_condition_not_the_alert():
    run = Run(zones_only())
    run.tracker(0, 2000)  # police-west's area: where a health alert goes
    opened = status(run, TRK, 10, strap="open")
    assert events(opened) == [("strap_tamper", "raised", "active")]
    assert opened.events[0].recipients == ("police-west", "court-xinjin")
    assert opened.events[0].event.alert.device_id == TRK
    assert events(status(run, TRK, 20, strap="open")) == []  # still open: one alert
    closed = status(run, TRK, 30, strap="closed")
    assert events(closed) == [("strap_tamper", "updated", "ended")]
    assert closed.events[0].event.alert.status == Status.OPEN  # only a person resolves a tamper alert


def test_case_tamper_is_its_own_condition():
    run = Run(zones_only())
    assert events(status(run, TRK, 0, case="open", strap="closed")) == [("case_tamper", "raised", "active")]


def test_battery_low_until_charging_or_recharged():
    run = Run(zones_only())
    assert events(status(run, TRK, 0, batt_pct=40)) == []
    assert events(status(run, TRK, 10, batt_pct=12)) == [("battery_low", "raised", "active")]
    assert events(status(run, TRK, 20, batt_pct=10)) == []
    assert events(status(run, TRK, 30, batt_pct=11, charging=True)) == [("battery_low", "updated", "ended"), ("battery_low", "resolved", "ended")]
    assert events(run.tracker(40, 3000, batt_pct=9)) == [("battery_low", "raised", "active")]  # from a location too
    assert events(run.tracker(50, 3000, batt_pct=30)) == [("battery_low", "updated", "ended"), ("battery_low", "resolved", "ended")]


def test_location_lost_while_the_gps_has_no_fix_ends_with_the_next_valid_fix():
    run = Run(zones_only())
    assert events(status(run, TRK, 0, gps="no_fix")) == [("location_lost", "raised", "active")]
    assert events(run.tracker(30, 3000)) == [("location_lost", "updated", "ended"), ("location_lost", "resolved", "ended")]


# -- the silence watchdog ---------------------------------------------------------------------------------------

def test_signal_lost_after_three_intervals_plus_ten_seconds_and_back_with_the_next_message():
    run = Run(zones_only(), loaded_at=T0)
    run.tracker(0, 3000)  # received at T0 + 1 s; his interval is 30 s: silent for more than 100 s is lost
    run.send(PHONE, 0, *north_of_home(0))  # hers is 60 s: 190 s
    assert events(tick(run, 100)) == []
    lost = tick(run, 102)
    assert events(lost) == [("signal_lost", "raised", "active")]
    assert lost.events[0].event.alert.device_id == TRK
    assert events(tick(run, 150)) == []  # one episode
    assert events(tick(run, 192)) == [("signal_lost", "raised", "active")]  # her phone now
    back = run.tracker(160, 3000)
    assert ("signal_lost", "updated", "ended") in events(back) and ("signal_lost", "resolved", "ended") in events(back)


def test_silence_while_we_were_not_listening_is_not_the_device_s():
    run = Run(zones_only(), loaded_at=T0)
    run.tracker(0, 3000)
    assert events(tick(run, 500, listening_since=T0 + seconds(450))) == []  # ingest came back at 450 s
    # his 100 s window counts from 450 s; her phone (190 s) is not yet lost
    assert [e[0] for e in events(tick(run, 552, listening_since=T0 + seconds(450)))] == ["signal_lost"]


def test_a_device_that_never_reported_is_lost_after_its_window_from_loading():
    run = Run(zones_only(), loaded_at=T0)
    assert events(tick(run, 99)) == []
    assert [e[0] for e in events(tick(run, 101))] == ["signal_lost"]  # the tracker (30 s); her phone at 190 s


# -- notices to the victim ----------------------------------------------------------------------------------------

def test_the_victim_is_told_of_a_breach_and_that_it_is_over_without_any_coordinates():
    run = Run(zones_only())
    breach = run.tracker(0, 200)
    [warning] = notices(breach)
    assert warning["kind"] == "warning" and warning["alert_id"] == breach.events[0].event.alert.alert_id
    assert "home" in warning["text"].lower()
    over = run.tracker(60, 2000)
    assert [n["kind"] for n in notices(over)] == ["all_clear"]
    for n in (warning, *notices(over)):
        assert set(n) == {"notice_id", "kind", "text", "alert_id"}
        assert not any(ch.isdigit() for ch in n["text"])  # no coordinates, no distances
    assert all(c.device_id == PHONE for c in breach.commands if c.channel == "notices")


def test_a_panic_is_confirmed_to_the_phone_unless_it_was_silent():
    run = Run(zones_only())
    loud, silent = Changes(), Changes()
    run.monitor.on_panic(PanicPress(PHONE, 1, T0, T0 + seconds(1), b"{}", 30.43, 103.86, 8.0), T0, loud)
    run2 = Run(zones_only())
    run2.monitor.on_panic(PanicPress(PHONE, 1, T0, T0 + seconds(1), b"{}", 30.43, 103.86, 8.0, True), T0, silent)
    assert [n["kind"] for n in notices(loud)] == ["info"]
    assert notices(silent) == []


def test_retroactive_breaches_are_evidence_not_news_for_the_phone():
    run = Run(zones_only())
    run.tracker(0, 1500)
    out = [run.tracker(at, north, received_s=1200, flags=("backfill",)) for at, north in [(600, 200), (690, 900)]]
    assert [n for c in out for n in notices(c)] == []


def test_notices_never_carry_the_respondent_s_position():
    run = Run(example_order())  # ring and moving zone on
    run.send(PHONE, 0, *north_of_home(0))
    for i, north in enumerate([1500, 700, 250, 100, 2000]):
        changes = run.tracker(10 * (i + 1), north)
        for n in notices(changes):
            text = json.dumps(n)
            assert "lat" not in text and "lon" not in text and not any(ch.isdigit() for ch in n["text"])

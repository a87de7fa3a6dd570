"""Device health, the silence watchdog and the victim's notices, driven through the monitor."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

from alerts import Kind, Status
from service.domain.monitoring import Changes
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


def test_battery_low_until_charging_or_recharged_then_closed_by_the_system_once_it_stays_ended():
    run = Run(zones_only())
    assert events(status(run, TRK, 0, batt_pct=40)) == []
    assert events(status(run, TRK, 10, batt_pct=12)) == [("battery_low", "raised", "active")]
    assert events(status(run, TRK, 20, batt_pct=10)) == []
    assert events(status(run, TRK, 30, batt_pct=11, charging=True)) == [("battery_low", "updated", "ended")]
    assert events(tick(run, 90)) == []  # ended at 31 s: not yet 60 s
    closed = tick(run, 91)
    assert events(closed) == [("battery_low", "resolved", "ended")]
    assert closed.events[0].event.alert.outcome == "condition_ended" and closed.events[0].event.alert.resolved_by == "system"
    assert events(run.tracker(100, 3000, batt_pct=9)) == [("battery_low", "raised", "active")]  # from a location too
    assert events(run.tracker(110, 3000, batt_pct=30)) == [("battery_low", "updated", "ended")]
    assert events(tick(run, 171)) == [("battery_low", "resolved", "ended")]


def test_the_settling_time_before_the_system_closes_a_condition_is_a_setting():
    run = Run(zones_only())
    run.monitor.health_close_after_s = 0.0
    status(run, TRK, 0, batt_pct=12)
    status(run, TRK, 10, charging=True)
    assert events(tick(run, 11)) == [("battery_low", "resolved", "ended")]


def test_location_lost_while_the_gps_has_no_fix_ends_with_the_next_valid_fix():
    run = Run(zones_only())
    assert events(status(run, TRK, 0, gps="no_fix")) == [("location_lost", "raised", "active")]
    assert events(run.tracker(30, 3000)) == [("location_lost", "updated", "ended")]
    assert events(tick(run, 91)) == [("location_lost", "resolved", "ended")]


# -- storm control: one episode, one alert ------------------------------------------------------------------------

def test_a_condition_back_before_it_was_closed_continues_its_alert():
    run = Run(zones_only())
    [raised] = status(run, TRK, 0, batt_pct=12).events
    assert events(status(run, TRK, 40, charging=True)) == [("battery_low", "updated", "ended")]
    back = status(run, TRK, 80, batt_pct=11, charging=False)
    assert events(back) == [("battery_low", "updated", "active")]  # the same alert, not a new one
    assert back.events[0].event.alert.alert_id == raised.event.alert.alert_id
    assert back.events[0].event.details["condition"] == "active"
    assert [e for e in events(tick(run, 300)) if e[0] == "battery_low"] == []  # active again: not closed


def test_a_flapping_strap_is_one_alert_whose_changes_are_published_at_most_every_30_seconds():
    run = Run(zones_only())
    run.tracker(0, 2000)
    published: list[Changes] = []
    for i in range(2000):  # a faulty strap: open, closed, open, ... every 50 ms for 100 s
        published.append(status(run, TRK, 10 + i * 0.05, strap="open" if i % 2 == 0 else "closed"))
        if i % 20 == 0:
            published.append(tick(run, 11 + i * 0.05))
    for at in range(111, 200):  # it stops (closed); the watchdog ticks on
        published.append(tick(run, at))
    got = [r.event for c in published for r in c.events
           if "court-xinjin" in r.recipients and r.event.alert.kind == Kind.STRAP_TAMPER]
    assert {e.alert.alert_id for e in got} == {got[0].alert.alert_id}  # one alert
    assert [e.event.value for e in got][:2] == ["raised", "updated"]
    times = [e.at for e in got[1:]]
    assert all((b - a).total_seconds() >= 30 for a, b in itertools.pairwise(times))  # rate limited
    assert len(got) <= 2 + 100 // 30 + 1
    assert sum(e.details.get("flips", 1) for e in got[1:]) == 1999  # every change after the raise is counted
    assert got[-1].alert.condition_active is False and got[-1].alert.status == Status.OPEN  # tamper: a person closes it


def test_a_tamper_that_comes_back_long_after_it_ended_is_a_new_alert_and_the_old_stays_open():
    run = Run(zones_only())
    [first] = status(run, TRK, 0, strap="open").events
    status(run, TRK, 10, strap="closed")
    tick(run, 700)  # ended 689 s ago: past the 600 s merge window
    [second] = [r for r in status(run, TRK, 800, strap="open").events if r.event.alert.kind == Kind.STRAP_TAMPER]
    assert second.event.event.value == "raised" and second.event.alert.alert_id != first.event.alert.alert_id
    assert first.event.alert.alert_id in run.monitor.open_alerts


def test_a_condition_a_person_resolved_while_it_was_on_is_not_raised_again_until_it_ends():
    from alerts.lifecycle import Actor, resolve

    run = Run(zones_only())
    [raised] = status(run, TRK, 0, strap="open").events
    officer = Actor("officer-1", "person", "police-west")
    run.monitor.act(raised.event.alert.alert_id,
                    lambda a: resolve(a, officer, T0 + seconds(5), "respondent_warned", "strap refitted on site"),
                    Changes())
    assert events(status(run, TRK, 10, strap="open")) == []
    assert events(status(run, TRK, 20, strap="closed")) == []  # its alert is resolved: nothing to update
    assert events(status(run, TRK, 30, strap="open")) == [("strap_tamper", "raised", "active")]


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
    assert events(back) == [("signal_lost", "updated", "ended")]
    assert ("signal_lost", "resolved", "ended") in events(tick(run, 221))  # closed by the system once it stayed back


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
        assert set(n) == {"notice_id", "kind", "text", "alert_id", "topic", "order_id", "locale"}
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


# -- escalation per agency -----------------------------------------------------------------------------------------

def test_the_police_agency_s_own_policy_runs_the_clock_and_next_agency_adds_whom_it_names():
    from alerts.routing import Agency

    run = Run(zones_only())
    run.monitor.directory.agencies = {
        "police-west": Agency("police-west", "West", "police", None, None,
                              {"zone_breach": [[10, "renotify"], [20, "next_agency"]]}, ("bureau-city",)),
        "court-xinjin": Agency("court-xinjin", "Court", "court", None, None, None, ("court-duty",)),
    }
    [raised] = [r for r in run.tracker(0, 200).events if r.event.alert.kind == Kind.ZONE_BREACH]
    assert raised.event.alert.escalation == ((10.0, "renotify"), (20.0, "next_agency"))  # police-west's, copied on
    assert [(r.event.details["action"], r.recipients) for r in tick(run, 12).events] == [
        ("renotify", ("police-west", "court-xinjin"))]
    [step] = tick(run, 22).events
    assert step.event.details["action"] == "next_agency"
    assert step.event.details["escalated_to"] == ["bureau-city", "court-duty"]
    assert step.recipients == ("police-west", "court-xinjin", "bureau-city", "court-duty")  # first receivers stay
    later = [r for r in run.tracker(60, 2000).events if r.event.alert.kind == Kind.ZONE_BREACH]
    assert later and all(r.recipients == step.recipients for r in later)  # the added agencies follow the alert

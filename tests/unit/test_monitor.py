"""service.domain.monitoring: reports in, routed alert events out (the contract's example order)."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from alerts import EventType, Kind
from geofence import FrameCache
from service.domain.directory import Directory
from service.domain.monitoring import Changes, Monitor, RoutedEvent
from service.domain.orders import parse_agencies, parse_order
from service.wire import LocationReport, PanicPress
from tests.unit.builders import (
    T0,
    agencies_collection,
    example_order,
    north_of_home,
    seconds,
)

RESPONDENT, VICTIM = "trk-001", "phone-001"
WEST_POLICE, EAST_POLICE, COURT = "police-west", "police-east", "court-xinjin"
AT_WORK = (30.4415, 103.882)  # inside the workplace polygon, in the east police square


def make_monitor(body: dict, now: datetime | None = None) -> Monitor:
    ids = (f"alert-{n}" for n in itertools.count(1))
    m = Monitor(FrameCache(), Directory(parse_agencies(agencies_collection())), lambda: next(ids))
    m.load_order(parse_order(body), now)
    return m


@pytest.fixture
def monitor() -> Monitor:
    """The example order with fixed zones only (no warning ring, no moving zone): breach episodes alone."""
    body = example_order()
    del body["pre_alert_m"], body["min_distance_m"]
    return make_monitor(body)


def report(seq: int, at: datetime, lat: float, lon: float, device_id: str = RESPONDENT) -> LocationReport:
    return LocationReport(device_id, seq, at, lat, lon, 5.0, at + seconds(1), b"{}")


def feed(monitor: Monitor, r: LocationReport) -> tuple[bool, list[RoutedEvent]]:
    changes = Changes()
    fresh = monitor.on_location(r, r.received_at, changes)
    return fresh, changes.events


def walk_into_home(monitor: Monitor) -> list[list[RoutedEvent]]:
    """1 km, 600 m and 200 m north of the home zone's centre, 30 s apart."""
    out = []
    for seq, distance_m in enumerate([1000, 600, 200], start=1):
        fresh, events = feed(monitor, report(seq, T0 + seconds(30 * (seq - 1)), *north_of_home(distance_m)))
        assert fresh
        out.append(events)
    return out


def test_walking_into_the_home_circle_raises_one_breach(monitor):
    per_report = walk_into_home(monitor)
    assert [len(events) for events in per_report] == [0, 0, 1]
    routed = per_report[2][0]
    alert = routed.event.alert
    assert (routed.event.event, alert.kind, alert.zone_id, alert.alert_id) == (
        EventType.RAISED, Kind.ZONE_BREACH, "home", "alert-1")
    assert routed.recipients == (WEST_POLICE, COURT)
    assert routed.zone.zone_id == "home"
    assert routed.distance_m == pytest.approx(100.0, abs=0.5)
    assert routed.respondent_fix.ts == T0 + seconds(60) and routed.victim_fix is None
    assert alert.occurred_at == T0 + seconds(60)


def test_reports_inside_within_30_s_add_nothing(monitor):
    walk_into_home(monitor)
    for seq, after_s in [(4, 10), (5, 20), (6, 29)]:
        fresh, events = feed(monitor, report(seq, T0 + seconds(60 + after_s), *north_of_home(150)))
        assert fresh and events == []


def test_a_report_inside_after_30_s_updates_the_same_alert(monitor):
    walk_into_home(monitor)
    _, events = feed(monitor, report(4, T0 + seconds(95), *north_of_home(100)))
    [routed] = events
    assert (routed.event.event, routed.event.alert.alert_id, routed.event.alert.event_seq) == (
        EventType.UPDATED, "alert-1", 2)
    assert routed.recipients == (WEST_POLICE, COURT)


def test_an_old_report_behind_the_live_one_is_only_checked_against_history(monitor):
    walk_into_home(monitor)
    order = monitor.orders["PSO-2026-0001"]
    before = (dict(order.membership), dict(order.alerts), order.respondent_fix, dict(monitor.last_ts))
    changes = Changes()
    taken = T0 + seconds(45)  # older than the report at T0 + 60 s, and received 10 minutes after it was taken
    late = LocationReport(RESPONDENT, 9, taken, *north_of_home(2000), 5.0, taken + seconds(600), b"{}")
    assert monitor.on_location(late, late.received_at, changes) is False
    assert changes.events == [] and changes.membership == []
    assert changes.flags[(RESPONDENT, 9)] == ("out_of_order",)
    assert (order.membership, order.alerts, order.respondent_fix, monitor.last_ts) == before


def forged(seq: int, ahead_s: float, received: datetime, lat: float, lon: float) -> LocationReport:
    """A report dated ``ahead_s`` after it arrives, flagged as the decoder flags it (beyond 30 s: ts_future)."""
    flags = ("ts_future",) if ahead_s > 30 else ()
    return LocationReport(RESPONDENT, seq, received + seconds(ahead_s), lat, lon, 5.0, received, b"{}", flags=flags)


@pytest.mark.parametrize("ahead_s", [20, 29, 60, 300, 86_400 * 400])
def test_reports_dated_ahead_cannot_demote_his_real_walk_into_her_home(monitor, ahead_s):
    """Issue 12, finding 2: a second connection dates far-away reports minutes ahead; his genuine reports
    after it must still be checked live (raised, escalating, told to her), not as history."""
    now = T0
    for seq in range(1000, 1010):  # a forged report far away every 3 s, each dated ahead of its arrival
        assert feed(monitor, forged(seq, ahead_s, now, *north_of_home(5000)))[0]
        now += seconds(3)
    assert monitor.last_ts[RESPONDENT] <= now  # never moved past what the server has seen
    events = []
    for seq, distance_m in enumerate([1000, 600, 200, 150], start=1):  # his real walk, dated honestly
        r = LocationReport(RESPONDENT, seq, now - seconds(1), *north_of_home(distance_m), 5.0, now, b"{}")
        changes = Changes()
        assert monitor.on_location(r, now, changes) is True
        events += changes.events
        assert "two_sources" in changes.flags[(RESPONDENT, seq)]  # seqs below the forged ones: a second source
        now += seconds(3)
    raised = [e for e in events if e.event.event == EventType.RAISED]
    assert [(e.event.alert.kind, e.event.alert.retroactive, e.event.alert.condition_active) for e in raised] == [
        (Kind.DEVICE_CLONED, False, True), (Kind.ZONE_BREACH, False, True)]  # once each
    assert raised[1].event.alert.escalation  # armed: a live alert escalates
    assert raised[0].recipients == (WEST_POLICE, COURT)  # police where he is: someone publishes as his tracker


def test_a_panic_dated_in_the_future_is_raised_at_its_receive_time(monitor):
    changes = Changes()
    received = T0 + seconds(5)
    monitor.on_panic(PanicPress(VICTIM, 1, T0 + seconds(3600), received, b"{}", *AT_WORK, 8.0, flags=("ts_future",)),
                     received, changes)
    [routed] = changes.events
    assert routed.event.event == EventType.RAISED and routed.event.alert.occurred_at == received


def press(seq: int, at: datetime, lat: float, lon: float) -> PanicPress:
    return PanicPress(VICTIM, seq, at, at + seconds(1), b"{}", lat, lon, 8.0)


def test_panic_is_routed_by_the_press_position(monitor):
    walk_into_home(monitor)  # the respondent is in the west square; the victim presses in the east one
    changes = Changes()
    monitor.on_panic(press(1, T0 + seconds(120), *AT_WORK), T0 + seconds(121), changes)
    [routed] = changes.events
    assert (routed.event.event, routed.event.alert.kind, routed.event.alert.alert_id) == (
        EventType.RAISED, Kind.PANIC, "alert-2")
    assert routed.recipients == (EAST_POLICE, COURT)
    assert (routed.victim_fix.lat, routed.victim_fix.lon) == AT_WORK
    assert routed.respondent_fix.ts == T0 + seconds(60)


def test_a_second_press_60_s_later_merges(monitor):
    first, second = Changes(), Changes()
    monitor.on_panic(press(1, T0, *AT_WORK), T0 + seconds(1), first)
    monitor.on_panic(press(2, T0 + seconds(60), *AT_WORK), T0 + seconds(61), second)
    [raised], [merged] = first.events, second.events
    assert merged.event.event == EventType.UPDATED
    assert merged.event.alert.alert_id == raised.event.alert.alert_id
    assert merged.event.alert.event_seq == 2
    assert merged.recipients == raised.recipients == (EAST_POLICE, COURT)


def test_a_panic_from_the_respondent_device_is_ignored(monitor):
    changes = Changes()
    monitor.on_panic(PanicPress(RESPONDENT, 1, T0, T0, b"{}"), T0, changes)
    assert changes.events == []


def test_a_clone_s_far_fixes_between_his_vague_ones_do_not_reset_the_count_to_a_breach(monitor):
    """Attack review F2: he sits at her home with 400 m accuracy (each check only 'possible'); a clone publishes
    a far-away fix between his real ones. An impossible jump may raise but never reset: the breach comes."""
    now, events = T0, []
    for seq in range(1, 4):
        for device_fix in ((north_of_home(0), 400.0), (north_of_home(5000), 5.0)):
            (lat, lon), acc = device_fix
            r = LocationReport(RESPONDENT, seq * 2 + (acc == 5.0), now, lat, lon, acc, now + seconds(1), b"{}")
            changes = Changes()
            monitor.on_location(r, r.received_at, changes)
            events += changes.events
            now += seconds(10)
    # the first possible check warns, the third makes the breach (the clone's fixes only held it back before)
    assert [e.event.alert.kind for e in events if e.event.event == EventType.RAISED] == [Kind.PRE_ALERT,
                                                                                          Kind.ZONE_BREACH]


def test_a_clone_s_far_fix_does_not_end_his_breach_a_plausible_fix_outside_does(monitor):
    walk_into_home(monitor)  # inside since T0 + 60 s
    _, events = feed(monitor, report(4, T0 + seconds(70), *north_of_home(5000)))  # 5 km in 10 s: a jump
    assert [e.event.alert.condition_active for e in events] in ([], [True])  # still on: no ended
    _, events = feed(monitor, report(5, T0 + seconds(80), *north_of_home(150)))  # back at her home (a jump too)
    assert all(e.event.alert.condition_active for e in events)
    _, events = feed(monitor, report(6, T0 + seconds(140), *north_of_home(700)))  # walked out: 550 m in 60 s
    assert [(e.event.alert.kind, e.event.alert.condition_active) for e in events] == [(Kind.ZONE_BREACH, False)]

"""The monitor's issue-3 rules, one scripted walk per rule, with exact event sequences.

Each test drives :class:`Monitor` with wire-level reports and reads what an agency would
receive (kind, event, condition) and what the devices would be told.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from alerts import EventType
from geofence import FrameCache
from geofence.datum import from_wgs84
from service.domain.directory import Directory
from service.domain.monitoring import Changes, Monitor
from service.domain.orders import parse_agencies, parse_order
from service.wire import LocationReport
from tests.unit.builders import (
    HOME_LAT,
    HOME_LON,
    T0,
    WORK_RING,
    agencies_collection,
    example_order,
    north_of_home,
    offset,
    seconds,
)

TRK, PHONE, ORDER_ID = "trk-001", "phone-001", "PSO-2026-0001"


class Run:
    """A monitor with one order, fed report by report; remembers everything it emitted."""

    def __init__(self, body: dict[str, Any], loaded_at: datetime = T0) -> None:
        ids = (f"alert-{n}" for n in itertools.count(1))
        self.monitor = Monitor(FrameCache(), Directory(parse_agencies(agencies_collection())), lambda: next(ids))
        self.monitor.load_order(parse_order(body), loaded_at)
        self.seq = {TRK: 0, PHONE: 0}
        self.all: list[Changes] = []

    def send(self, device: str, at_s: float, lat: float, lon: float, acc: float = 5.0, *, received_s: float | None = None,
             flags: tuple[str, ...] = (), **extra: Any) -> Changes:
        self.seq[device] += 1
        ts = T0 + seconds(at_s)
        received = T0 + seconds(received_s if received_s is not None else at_s + 1)
        r = LocationReport(device, self.seq[device], ts, lat, lon, acc, received, b"{}", flags=flags, **extra)
        changes = Changes()
        self.monitor.on_location(r, received, changes)
        self.all.append(changes)
        return changes

    def tracker(self, at_s: float, north_m: float, **kw: Any) -> Changes:
        return self.send(TRK, at_s, *north_of_home(north_m), **kw)

    @property
    def order(self):  # type: ignore[no-untyped-def]
        return self.monitor.orders[ORDER_ID]


def events(changes: Changes, agency: str = "court-xinjin") -> list[tuple[str, str, str]]:
    """(kind, event, condition) of what ``agency`` receives, in order."""
    return [(r.event.alert.kind.value, r.event.event.value, "active" if r.event.alert.condition_active else "ended")
            for r in changes.events if agency in r.recipients]


def cmds(changes: Changes) -> list:
    """Commands to devices (notices to the victim's phone left out)."""
    return [c for c in changes.commands if c.channel == "commands"]


def only(**overrides: Any) -> dict[str, Any]:
    body = example_order(min_distance_m=None, pre_alert_m=None)
    body.update(overrides)
    return body


# -- confidence from accuracy ----------------------------------------------------------------------------------

def test_a_fix_whose_disc_straddles_the_edge_is_possible_and_three_in_a_row_make_a_breach():
    run = Run(only())
    # 290 m from the centre (10 m inside) with a 40 m accuracy radius: possibly inside
    first = run.tracker(0, 290, acc=40.0)
    assert events(first) == [("pre_alert", "raised", "active")]
    assert first.events[0].event.details["confidence"] == "possible"
    assert events(run.tracker(30, 285, acc=40.0)) == []
    third = run.tracker(60, 290, acc=40.0)
    assert events(third) == [("pre_alert", "updated", "ended"), ("pre_alert", "resolved", "ended"), ("zone_breach", "raised", "active")]
    assert third.events[2].event.details["confidence"] == "possible"


def test_possibles_to_breach_is_the_order_s_choice():
    run = Run(only(possibles_to_breach=1))
    assert events(run.tracker(0, 290, acc=40.0)) == [("zone_breach", "raised", "active")]


def test_a_confirmed_fix_breaches_at_once():
    run = Run(only())
    assert events(run.tracker(0, 200, acc=20.0)) == [("zone_breach", "raised", "active")]


def test_cell_fixes_never_breach_alone_and_are_flagged():
    run = Run(only())
    inside_cell = run.tracker(0, 0, acc=697.0, src="cell")  # the centre of home, but a 697 m cell fix
    assert [e for e in events(inside_cell) if e[0] == "zone_breach"] == []
    assert inside_cell.flags[(TRK, 1)] == ("poor_accuracy",)
    for i in range(1, 6):  # a run of cell fixes is still cell fixes alone: never a breach
        assert [e for e in events(run.tracker(5 * i, 0, acc=697.0, src="cell")) if e[0] == "zone_breach"] == []
    # a good GPS fix in the zone is still a breach
    assert events(run.tracker(40, 100, acc=8.0))[-1] == ("zone_breach", "raised", "active")


def test_a_vague_gps_fix_is_poor_too():
    run = Run(only(possibles_to_breach=5))
    assert [e for e in events(run.tracker(0, 0, acc=900.0)) if e[0] == "zone_breach"] == []


# -- hysteresis and episodes -----------------------------------------------------------------------------------

def test_jitter_at_the_edge_is_one_episode_with_one_id():
    run = Run(only())
    run.tracker(0, 250)
    ids = set()
    for i, north in enumerate([310, 295, 320, 290, 330, 280, 340]):  # within the 50 m exit margin
        for r in run.tracker(10 * (i + 1), north).events:
            ids.add(r.event.alert.alert_id)
    raised = [r for c in run.all for r in c.events if r.event.event == EventType.RAISED]
    assert len(raised) == 1 and raised[0].recipients == ("police-west", "court-xinjin")  # once, to both
    assert ids <= {raised[0].event.alert.alert_id}
    assert run.order.breach["home"] == raised[0].event.alert.alert_id


def test_every_event_of_an_episode_carries_its_id():
    run = Run(only())
    raised = run.tracker(0, 200).events[0].event.alert.alert_id
    update = run.tracker(40, 150).events[0].event.alert.alert_id
    ended = run.tracker(80, 800).events[0].event
    assert raised == update == ended.alert.alert_id and not ended.alert.condition_active


# -- the warning ring and approach -------------------------------------------------------------------------------

def test_the_ring_warns_with_an_eta_from_the_approach_then_gives_way_to_the_breach():
    run = Run(only(pre_alert_m=300))
    assert events(run.tracker(0, 1000)) == []
    warn = run.tracker(30, 550)  # 250 m from the edge, 450 m closer than 30 s ago: 15 m/s
    assert events(warn) == [("pre_alert", "raised", "active")]
    details = warn.events[0].event.details
    assert details["eta_s"] == pytest.approx(250 / 15, abs=0.5)
    assert warn.events[0].zone.zone_id == "home" and warn.events[0].distance_m == pytest.approx(250, abs=1)
    breach = run.tracker(60, 200)
    assert events(breach) == [("pre_alert", "updated", "ended"), ("pre_alert", "resolved", "ended"), ("zone_breach", "raised", "active")]
    assert breach.events[0].event.details["reason"] == "breach"


def test_eta_uses_the_reported_speed_and_heading_when_given():
    run = Run(only(pre_alert_m=300))
    warn = run.tracker(0, 500, spd_mps=10.0, hdg_deg=180.0)  # 200 m north of the edge, heading south at 10 m/s
    assert warn.events[0].event.details["eta_s"] == pytest.approx(20.0, abs=0.5)


def test_walking_away_inside_the_ring_gives_no_eta_and_leaving_it_ends_the_warning():
    run = Run(only(pre_alert_m=300))
    run.tracker(0, 400)
    away = run.tracker(30, 450)
    assert events(away) == []
    assert events(run.tracker(60, 700)) == [("pre_alert", "updated", "ended"), ("pre_alert", "resolved", "ended")]  # beyond ring + margin (650 m)


# -- the moving zone ---------------------------------------------------------------------------------------------

def test_proximity_to_the_victim_s_fresh_fix_carries_her_position_to_police_and_court():
    run = Run(only(min_distance_m=500))
    victim_at = offset(HOME_LAT, HOME_LON, 90.0, 3000.0)  # 3 km east of home
    run.send(PHONE, 0, *victim_at)
    near = run.send(TRK, 10, *offset(*victim_at, 0.0, 300.0))
    assert events(near) == [("proximity", "raised", "active")]
    routed = near.events[0]
    assert routed.victim_fix is not None and routed.distance_m == pytest.approx(300.0, abs=1.0)
    assert routed.event.details["min_distance_m"] == 500
    assert events(run.send(TRK, 40, *offset(*victim_at, 0.0, 600.0))) == [("proximity", "updated", "ended")]


def test_the_victim_moving_towards_him_raises_proximity_too():
    run = Run(only(min_distance_m=500))
    run.send(TRK, 0, *north_of_home(2000))
    run.send(PHONE, 5, *north_of_home(0))
    assert events(run.send(PHONE, 20, *north_of_home(1700))) == [("proximity", "raised", "active")]


def test_a_stale_victim_fix_raises_victim_signal_lost_instead_of_comparing():
    run = Run(only(min_distance_m=500))
    her = offset(HOME_LAT, HOME_LON, 90.0, 3000.0)  # 3 km east of home, away from every fixed zone
    run.send(PHONE, 0, *her)  # her interval is 60 s: fresh for 190 s
    assert events(run.send(TRK, 100, *offset(*her, 0.0, 3000.0))) == []
    lost = run.send(TRK, 200, *offset(*her, 0.0, 300.0))  # 300 m from where she was 200 s ago: not compared
    assert events(lost) == [("victim_signal_lost", "raised", "active")]
    assert lost.events[0].victim_fix is None
    assert events(run.send(TRK, 230, *offset(*her, 0.0, 280.0))) == []  # one episode
    back = run.send(PHONE, 240, *offset(*her, 0.0, 2500.0))
    assert events(back) == [("victim_signal_lost", "updated", "ended"), ("victim_signal_lost", "resolved", "ended")]


def test_a_victim_who_never_reported_is_signal_lost_after_the_grace():
    run = Run(only(min_distance_m=500), loaded_at=T0)
    assert events(run.tracker(100, 3000)) == []
    assert events(run.tracker(200, 3000)) == [("victim_signal_lost", "raised", "active")]


# -- drive-through ---------------------------------------------------------------------------------------------

def test_driving_through_the_workplace_between_two_fixes_is_a_crossed_breach():
    run = Run(only())
    west = (30.4415, 103.8790)  # ~100 m west of the workplace polygon
    east = (30.4415, 103.8852)  # ~120 m east of it: 600 m in 30 s (20 m/s)
    run.send(TRK, 0, *west)
    crossed = run.send(TRK, 30, *east)
    assert events(crossed) == [("zone_breach", "raised", "active"), ("zone_breach", "updated", "ended")]
    assert crossed.events[0].event.details["crossed"] is True
    assert crossed.events[0].zone.zone_id == "work"
    assert "work" not in run.order.breach


def test_no_crossing_over_a_long_silence_or_with_a_cell_fix():
    run = Run(only())
    run.send(TRK, 0, 30.4415, 103.8790)
    assert events(run.send(TRK, 3600, 30.4415, 103.8852)) == []  # an hour: the way between is unknown
    run2 = Run(only())
    run2.send(TRK, 0, 30.4415, 103.8790)
    assert [e for e in events(run2.send(TRK, 30, 30.4415, 103.8852, acc=600.0, src="cell")) if e[0] == "zone_breach"] == []


# -- schedules -------------------------------------------------------------------------------------------------

def school_order() -> dict[str, Any]:
    body = only(timezone="Asia/Shanghai")
    body["zones"]["features"][0]["properties"]["schedule"] = [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "18:00"}]
    return body


def at_local(day: int, hh: int, mm: int = 0) -> float:
    """Seconds after T0 (Saturday 2026-11-21 08:00 UTC) of day ``day`` (0 = that Saturday) at hh:mm in Shanghai."""
    local = datetime(2026, 11, 21 + day, hh, mm, tzinfo=UTC)  # the wall-clock time, as if UTC ...
    return (local - T0).total_seconds() - 8 * 3600  # ... minus Shanghai's +08:00


def test_a_scheduled_zone_is_only_in_force_in_its_window():
    run = Run(school_order())
    assert events(run.tracker(at_local(0, 10), 100)) == []  # Saturday 10:00: not in force
    assert events(run.tracker(at_local(2, 8), 100)) == [("zone_breach", "raised", "active")]  # Monday 08:00
    closed = run.tracker(at_local(2, 18, 5), 100)  # still there at 18:05: the window closed
    assert events(closed) == [("zone_breach", "updated", "ended")]
    assert closed.events[0].event.details["reason"] == "schedule_ended"


def test_a_schedule_needs_a_timezone():
    from service.errors import InvalidInput

    body = school_order()
    del body["timezone"]
    with pytest.raises(InvalidInput) as info:
        parse_order(body)
    assert info.value.field == "timezone"


# -- datums ------------------------------------------------------------------------------------------------------

def test_zones_drawn_on_a_chinese_map_are_moved_to_wgs84():
    body = only(datum="gcj02")
    gcj_lon, gcj_lat = from_wgs84(HOME_LON, HOME_LAT, "gcj02")  # where Amap draws the real home
    body["zones"]["features"][0]["geometry"]["coordinates"] = [gcj_lon, gcj_lat]
    spec = parse_order(body)
    lon, lat = spec.zones[0].geometry["coordinates"]
    assert (lon, lat) == pytest.approx((HOME_LON, HOME_LAT), abs=1e-8)
    run = Run(body)
    # 280 m north of the real home: inside; but ~500 m from the GCJ-02 point taken as WGS-84
    assert events(run.tracker(0, 250)) == [("zone_breach", "raised", "active")]


# -- late data ---------------------------------------------------------------------------------------------------

def test_a_buffer_uploaded_late_raises_a_retroactive_breach_and_its_end():
    run = Run(only())
    run.tracker(0, 1500)
    buffered = [(600, 800), (630, 200), (660, 150), (690, 900)]  # in and out while offline
    out = [run.tracker(at, north, received_s=1200, flags=("backfill",)) for at, north in buffered]
    flat = [e for c in out for e in events(c)]
    assert flat == [("zone_breach", "raised", "active"), ("zone_breach", "updated", "active"),
                    ("zone_breach", "updated", "ended")]
    assert all(r.event.alert.retroactive for c in out for r in c.events)
    raised = out[1].events[0].event.alert
    assert raised.retroactive and raised.occurred_at == T0 + seconds(630)
    assert all("late" in c.flags[(TRK, seq)] for c, seq in zip(out, range(2, 6), strict=True))


def test_a_single_delayed_report_stays_a_live_alert():
    run = Run(only())
    delayed = run.tracker(0, 100, received_s=600)  # ten minutes in a broker backlog
    assert events(delayed) == [("zone_breach", "raised", "active")]
    assert delayed.events[0].event.alert.retroactive is False
    assert "late" in delayed.flags[(TRK, 1)]


def test_an_out_of_order_fix_inside_is_checked_against_history():
    run = Run(only())
    run.tracker(0, 1500)
    run.tracker(600, 1500)
    older = run.tracker(300, 100, received_s=605)  # older than the fix at 600 s, inside, arriving 5 min late
    assert events(older) == [("zone_breach", "raised", "active"), ("zone_breach", "updated", "ended")]
    assert older.events[0].event.alert.retroactive
    assert older.flags[(TRK, 3)] == ("out_of_order",)
    # the same retroactive episode: folded in, nothing new raised
    assert events(run.tracker(330, 120, received_s=606)) == []
    assert "home" not in run.order.breach  # the live state is untouched


def test_an_out_of_order_fix_during_a_live_episode_adds_nothing():
    run = Run(only())
    run.tracker(0, 100)
    run.tracker(60, 100)
    assert events(run.tracker(30, 120)) == []


# -- pursuit mode ----------------------------------------------------------------------------------------------

def test_pursuit_mode_speeds_her_phone_up_and_restores_its_interval_and_never_touches_his_tracker():
    run = Run(only(pre_alert_m=300))
    warn = run.tracker(0, 500)
    assert [(c.device_id, c.body) for c in cmds(warn)] == [(PHONE, {"cmd": "set_interval", "seconds": 15})]
    assert cmds(run.tracker(30, 200)) == []  # still in pursuit
    clear = run.tracker(60, 2000)
    assert [(c.device_id, c.body) for c in cmds(clear)] == [(PHONE, {"cmd": "set_interval", "seconds": 60})]
    assert all(c.alert_id for c in cmds(warn) + cmds(clear))
    assert not [c for changes in run.all for c in changes.commands if c.device_id == TRK]


def test_the_respondent_never_gets_the_victim_s_position_in_a_command():
    run = Run(only(min_distance_m=500))
    run.send(PHONE, 0, *north_of_home(0))
    near = run.tracker(10, 200)
    for c in cmds(near):
        assert set(c.body) == {"cmd", "seconds"}


def test_work_ring_is_the_contract_polygon():  # guards the geometry the crossing test relies on
    lons = [p[0] for p in WORK_RING]
    assert min(lons) == 103.880 and max(lons) == 103.884


# -- set-up checks ---------------------------------------------------------------------------------------------

def test_set_up_checks_warn_about_home_small_distance_and_overlaps():
    from service.domain.setup_checks import setup_warnings

    body = example_order(min_distance_m=300, pre_alert_m=None)
    body["respondent"]["home"] = [HOME_LON, north_of_home(100)[0]]  # 100 m north of the home zone's centre
    body["zones"]["features"].append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [HOME_LON, HOME_LAT]},
                                      "properties": {"zone_id": "garden", "kind": "other", "radius_m": 50}})
    codes = sorted((w.code, w.field) for w in setup_warnings(parse_order(body), FrameCache()))
    # the home is inside "home" and 50 m outside "garden" (no ring in this order): one home warning
    assert codes == [("min_distance_below_350m", "min_distance_m"), ("respondent_home_in_zone", "respondent.home"),
                     ("zones_overlap", "zones")]
    clean = example_order(min_distance_m=500)
    assert setup_warnings(parse_order(clean), FrameCache()) == []

"""alerts: breach episodes, panic merging and routing to police and court."""

from __future__ import annotations

from dataclasses import replace

import pytest

from alerts import (
    Agency,
    EventType,
    JurisdictionIndex,
    Kind,
    Severity,
    Status,
    breach_continues,
    breach_ended,
    breach_started,
    panic_pressed,
    route,
)
from tests.unit.builders import EAST_SQUARE, T0, WEST_SQUARE, polygon, seconds

ORDER, COURT = "PSO-2026-0001", "court-xinjin"
NOW = T0 + seconds(2)  # backend time trails device time a little


def started(occurred_at=T0):
    return breach_started("a-1", ORDER, "home", occurred_at, NOW, False, {"depth_m": 12.0})


# -- zone breach episodes ------------------------------------------------------------

def test_breach_started_raises_an_open_critical_alert():
    event = started()
    alert = event.alert
    assert (event.event, event.at, event.details) == (EventType.RAISED, NOW, {"depth_m": 12.0})
    assert (alert.alert_id, alert.order_id, alert.kind, alert.severity, alert.status, alert.zone_id) == (
        "a-1", ORDER, Kind.ZONE_BREACH, Severity.CRITICAL, Status.OPEN, "home")
    assert (alert.occurred_at, alert.raised_at, alert.last_report_ts, alert.event_seq) == (T0, NOW, T0, 1)
    assert alert.condition_active and not alert.retroactive


def test_breach_started_keeps_the_retroactive_mark():
    assert breach_started("a-1", ORDER, "home", T0, NOW, True, {}).alert.retroactive


def test_breach_continues_is_throttled_by_device_time():
    alert = started().alert
    assert breach_continues(alert, T0 + seconds(10), NOW + seconds(10), {}) is None
    assert breach_continues(alert, T0 + seconds(29.9), NOW + seconds(30), {}) is None
    update = breach_continues(alert, T0 + seconds(31), NOW + seconds(31), {"depth_m": 40.0})
    assert update is not None
    assert (update.event, update.alert.alert_id, update.alert.event_seq) == (EventType.UPDATED, "a-1", 2)
    assert (update.alert.last_report_ts, update.alert.last_event_at) == (T0 + seconds(31), NOW + seconds(31))
    assert update.alert.occurred_at == T0 and update.details == {"depth_m": 40.0}


def test_breach_continues_counts_from_the_last_update():
    update = breach_continues(started().alert, T0 + seconds(30), NOW, {})
    assert update is not None and update.alert.event_seq == 2  # exactly 30 s is due
    assert breach_continues(update.alert, T0 + seconds(50), NOW, {}) is None
    again = breach_continues(update.alert, T0 + seconds(61), NOW, {})
    assert again is not None and again.alert.event_seq == 3


def test_breach_ended_ends_the_condition_but_leaves_the_alert_open():
    ended = breach_ended(started().alert, T0 + seconds(300), NOW + seconds(300), {"depth_m": 55.0})
    assert ended.event == EventType.UPDATED
    assert (ended.alert.alert_id, ended.alert.event_seq, ended.alert.status) == ("a-1", 2, Status.OPEN)
    assert ended.alert.condition_active is False
    assert ended.details == {"depth_m": 55.0, "condition": "ended", "ended_at": T0 + seconds(300)}


# -- panic ---------------------------------------------------------------------------

def press(open_panic, at_s: float, new_id: str):
    return panic_pressed(open_panic, new_id, ORDER, T0 + seconds(at_s), NOW + seconds(at_s), {"silent": False})


def test_first_panic_press_raises_a_critical_alert():
    event = press(None, 0, "p-1")
    assert (event.event, event.alert.alert_id, event.alert.kind, event.alert.severity) == (
        EventType.RAISED, "p-1", Kind.PANIC, Severity.CRITICAL)
    assert (event.alert.occurred_at, event.alert.event_seq, event.alert.status) == (T0, 1, Status.OPEN)


@pytest.mark.parametrize("later_s", [60, 600])
def test_second_press_within_600_s_merges_into_the_same_alert(later_s):
    first = press(None, 0, "p-1")
    second = press(first.alert, later_s, "p-2")
    assert (second.event, second.alert.alert_id, second.alert.event_seq) == (EventType.UPDATED, "p-1", 2)
    assert second.alert.occurred_at == T0 and second.alert.last_report_ts == T0 + seconds(later_s)
    assert second.details["repeat_press"] is True


def test_press_700_s_later_raises_a_new_alert():
    first = press(None, 0, "p-1")
    later = press(first.alert, 700, "p-2")
    assert (later.event, later.alert.alert_id, later.alert.event_seq) == (EventType.RAISED, "p-2", 1)
    assert later.alert.occurred_at == T0 + seconds(700)


def test_press_after_the_panic_was_resolved_raises_a_new_alert():
    first = press(None, 0, "p-1")
    resolved = replace(first.alert, status=Status.RESOLVED)
    assert press(resolved, 60, "p-2").alert.alert_id == "p-2"


# -- routing -------------------------------------------------------------------------

WEST = Agency("police-west", "West police", "police", polygon(WEST_SQUARE))
EAST = Agency("police-east", "East police", "police", polygon(EAST_SQUARE))
COURT_AGENCY = Agency(COURT, "Xinjin court", "court", None)
IN_WEST, IN_EAST, NOWHERE = (30.4310, 103.8615), (30.4415, 103.882), (31.5, 105.0)


def test_point_in_the_west_square_routes_to_west_police_and_the_court():
    index = JurisdictionIndex([WEST, EAST, COURT_AGENCY])
    assert len(index) == 2  # only police jurisdictions are indexed
    assert list(route(index, COURT, IN_WEST)) == ["police-west", COURT]
    assert list(route(index, COURT, IN_EAST)) == ["police-east", COURT]


def test_point_outside_every_jurisdiction_routes_to_the_court_only():
    assert list(route(JurisdictionIndex([WEST, EAST, COURT_AGENCY]), COURT, NOWHERE)) == [COURT]


def test_no_location_routes_to_the_court_only():
    assert list(route(JurisdictionIndex([WEST, EAST, COURT_AGENCY]), COURT, None)) == [COURT]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_where_jurisdictions_overlap_the_smaller_polygon_wins(order):
    # "aa-" sorts first, so an id tie-break would pick the big one: only the area can choose "zz-local".
    big = Agency("aa-county", "County police", "police", polygon(WEST_SQUARE))
    local_ring = [[103.85, 30.42], [103.87, 30.42], [103.87, 30.44], [103.85, 30.44], [103.85, 30.42]]
    local = Agency("zz-local", "Local station", "police", polygon(local_ring))
    index = JurisdictionIndex([(big, local)[i] for i in order])
    assert index.police_for(*IN_WEST) == "zz-local"
    assert index.police_for(30.46, 103.81) == "aa-county"  # in the county, outside the station's square

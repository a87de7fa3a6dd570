"""Nothing sent to the respondent's device depends on where she is (issue 12, finding 1).

The property: one respondent track, two worlds that differ only in her positions and her places
(where her zones are, how large, her moving zone): every message addressed to his device is the
same in both worlds (and there is none). The old pursuit mode fails it: ``set_interval 15`` reached
his tracker exactly when he came near her, which located her to ~350 m.
"""

from __future__ import annotations

import copy
import itertools
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.lifecycle import Actor, LifecycleError, acknowledge
from geofence import FrameCache
from service.domain.directory import Directory
from service.domain.disclosure import may_send
from service.domain.monitoring import Changes, DeviceCommand, Monitor
from service.domain.monitoring.notices import send
from service.domain.orders import parse_agencies, parse_order
from service.wire import LocationReport, PanicPress, StatusReport
from tests.unit.builders import (
    HOME_LAT,
    HOME_LON,
    T0,
    agencies_collection,
    example_order,
    offset,
    seconds,
)

TRK, PHONE = "trk-001", "phone-001"
OFFICER = Actor("officer-1", agency_id="police-west")

# his track and her positions: (seconds since the previous report, bearing, metres from the home zone's centre)
steps = st.lists(st.tuples(st.integers(1, 90), st.floats(0, 359), st.floats(0, 3000)), min_size=1, max_size=25)
places = st.tuples(st.floats(0, 359), st.floats(0, 2500), st.floats(50, 600))  # where her home zone is, its radius
distances = st.sampled_from([None, 200, 500, 1000])  # the moving zone (None: none)
rings = st.sampled_from([None, 100, 300])


def order_body(home: tuple[float, float, float], min_distance_m: int | None, pre_alert_m: int | None) -> dict[str, Any]:
    body = example_order(min_distance_m=min_distance_m, pre_alert_m=pre_alert_m)
    bearing, dist, radius = home
    lat, lon = offset(HOME_LAT, HOME_LON, bearing, dist)
    zones = copy.deepcopy(body["zones"])
    zones["features"][0]["geometry"]["coordinates"] = [lon, lat]
    zones["features"][0]["properties"]["radius_m"] = radius
    body["zones"] = zones
    return body


def run_world(body: dict[str, Any], his: list[tuple[int, float, float]], hers: list[tuple[int, float, float]],
              panic_at: int | None) -> list[Changes]:
    ids = (f"alert-{n}" for n in itertools.count(1))
    monitor = Monitor(FrameCache(), Directory(parse_agencies(agencies_collection())), lambda: next(ids))
    monitor.load_order(parse_order(body), T0)
    timeline: list[tuple[float, str, tuple[float, float]]] = []
    for device, track in ((TRK, his), (PHONE, hers)):
        t = 0.0
        for dt, bearing, dist in track:
            t += dt
            timeline.append((t, device, offset(HOME_LAT, HOME_LON, bearing, dist)))
    timeline.sort(key=lambda x: (x[0], x[1]))
    out = []
    seq = {TRK: 0, PHONE: 0}
    for i, (t, device, (lat, lon)) in enumerate(timeline):
        seq[device] += 1
        at = T0 + seconds(t)
        changes = Changes()
        monitor.on_location(LocationReport(device, seq[device], at, lat, lon, 10.0, at + seconds(1), b"{}"),
                            at + seconds(1), changes)
        if device == TRK and i % 3 == 0:  # his device's health too: tamper and battery
            monitor.on_status(StatusReport(TRK, 10_000 + i, at, at + seconds(1), b"{}", batt_pct=10, strap="open"),
                              at + seconds(1), changes)
        if panic_at is not None and i == panic_at and device == PHONE:
            monitor.on_panic(PanicPress(PHONE, 50_000 + i, at, at + seconds(1), b"{}", lat, lon, 8.0), at + seconds(1),
                             changes)
        monitor.on_tick(at + seconds(2), changes)
        acted_at = at + seconds(3)
        for alert_id in list(monitor.open_alerts)[:1]:  # an officer acknowledges the oldest open alert
            try:
                monitor.act(alert_id, lambda a, now=acted_at: acknowledge(a, OFFICER, now), changes)
            except LifecycleError:  # already acknowledged: not what this test is about
                pass
        out.append(changes)
    monitor.on_tick(T0 + timedelta(hours=2), changes := Changes())
    out.append(changes)
    return out


def to_his_device(changes: list[Changes]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.channel, c.body) for ch in changes for c in ch.commands if c.device_id == TRK]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(his=steps, hers_a=steps, hers_b=steps, home_a=places, home_b=places, dist_a=distances, dist_b=distances,
       ring=rings, panic_at=st.none() | st.integers(0, 30))
def test_nothing_sent_to_his_device_depends_on_her_positions_or_places(his, hers_a, hers_b, home_a, home_b, dist_a,
                                                                       dist_b, ring, panic_at) -> None:
    world_a = run_world(order_body(home_a, dist_a, ring), his, hers_a, panic_at)
    world_b = run_world(order_body(home_b, dist_b, ring), his, hers_b, panic_at)
    assert to_his_device(world_a) == to_his_device(world_b) == []


def test_her_phone_still_gets_pursuit_mode_when_he_comes_near_her() -> None:
    """The property above would hold if nothing reached any device: her phone must still be sped up."""
    near = run_world(order_body((0, 5000, 100), 500, 300), [(10, 90, 1500), (30, 90, 300)], [(5, 90, 0)], None)
    far = run_world(order_body((0, 5000, 100), 500, 300), [(10, 90, 1500), (30, 90, 300)], [(5, 270, 3000)], None)
    to_her = [(c.channel, c.body) for ch in near for c in ch.commands if c.device_id == PHONE]
    assert ("commands", {"cmd": "set_interval", "seconds": 15}) in to_her
    assert any(ch == "notices" for ch, _ in to_her)
    assert [c for ch in far for c in ch.commands if c.device_id == PHONE] == []
    assert to_his_device(near) == to_his_device(far) == []


def test_the_rule_for_a_device_that_is_a_respondent_in_one_order_and_a_victim_in_another() -> None:
    both = [("PSO-1", "respondent"), ("PSO-2", "victim")]
    assert not may_send("commands", "PSO-2", both)  # no pursuit mode: it would follow the other victim
    assert may_send("notices", "PSO-2", both)  # her own order's notices: she is protected there
    assert not may_send("notices", "PSO-1", both)
    assert may_send("commands", "PSO-2", [("PSO-2", "victim")])
    assert not may_send("notices", "PSO-2", [("PSO-3", "victim")])
    assert not may_send("commands", "PSO-1", [("PSO-1", "respondent")])
    assert not may_send("commands", "PSO-1", [])


def test_a_command_object_to_his_device_never_leaves_the_monitor() -> None:
    """The monitor's one exit for device messages applies the rule whatever asked for the message."""
    ids = (f"alert-{n}" for n in itertools.count(1))
    monitor = Monitor(FrameCache(), Directory(parse_agencies(agencies_collection())), lambda: next(ids))
    order = monitor.load_order(parse_order(example_order()), T0)
    changes = Changes()
    send(monitor, order, DeviceCommand(TRK, {"cmd": "report_now"}, "alert-1", 1), changes)
    send(monitor, order, DeviceCommand(PHONE, {"cmd": "report_now"}, "alert-1", 1), changes)
    assert [c.device_id for c in changes.commands] == [PHONE]

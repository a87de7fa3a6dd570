"""Every scenario of the library, as wire messages, through the decoder and the monitor.

The scenarios carry their own ground truth (``simulators.scenarios``, computed with geopy and
shapely, checked independently in ``tests/unit/test_scenarios.py``); here the backend must find
exactly that: every expected alert, and for the kinds a scenario lists as exhaustive nothing more.
Messages are planned at real speed and fed in send order with their receive times, as the
broker would deliver them, so no minutes of wall clock are spent; the watchdog ticks before each one, as
a serve's 1 s tick would (an order's expiry is the tick's). The order is the scenario's
(``scenario_order``: the demo order with its overrides), with the library's agencies (the demo's).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from geofence import FrameCache
from service.domain.directory import Directory
from service.domain.monitoring import Changes, Monitor, RoutedEvent
from service.domain.orders import parse_agencies, parse_order
from service.wire import LocationReport, PanicPress, decode
from simulators.scenarios import (
    AGENCIES_PATH,
    SCENARIOS,
    load_order,
    plan_scenario,
    scenario_order,
)

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday morning
BUILT = frozenset({"zone_breach", "proximity", "pre_alert", "victim_signal_lost", "panic"})  # signal_lost: issue 4


def play(name: str, sink: list[Changes] | None = None) -> tuple[list[RoutedEvent], Monitor]:
    """The raised events of scenario ``name`` (with their recipients), and the monitor after it; ``sink``
    gets every message's changes."""
    order = load_order()
    scenario = SCENARIOS[name]()
    ids = (f"alert-{n}" for n in itertools.count(1))
    agencies = parse_agencies(orjson.loads(AGENCIES_PATH.read_bytes()))
    monitor = Monitor(FrameCache(), Directory(agencies), lambda: next(ids))
    monitor.load_order(parse_order(scenario_order(scenario, START, compress_ts=False)), START)
    devices = {"respondent": order.respondent_device, "victim": order.victim_device}
    raised = []
    for out in plan_scenario(scenario, START, speedup=1.0, compress_ts=False):
        received = START + timedelta(seconds=out.send_at_s)
        topic = f"stayaway/v1/devices/{devices[out.device]}/{out.kind}"
        decoded = decode(topic, orjson.dumps(out.body), received)
        assert decoded.rejections == [], (name, out)
        changes = Changes()
        monitor.on_tick(received, changes)
        for r in sorted(decoded.reports, key=lambda r: (r.ts, r.seq)):
            if isinstance(r, LocationReport):
                monitor.on_location(r, received, changes)
            elif isinstance(r, PanicPress):
                monitor.on_panic(r, received, changes)
        raised += [ev for ev in changes.events if ev.event.event.value == "raised"]
        if sink is not None:
            sink.append(changes)
    return raised, monitor


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_backend_finds_each_scenario_s_ground_truth(name: str) -> None:
    scenario = SCENARIOS[name]()
    raised, _ = play(name)
    found = [(e.event.alert.kind.value, e.event.alert.zone_id, e.event.alert.retroactive) for e in raised]
    expected = [e.key for e in scenario.expected if e.kind in BUILT]
    for key in expected:
        assert key in found, f"{name}: expected {key}, found {found}"
    for kind in scenario.exhaustive & BUILT:
        assert sorted(k for k in found if k[0] == kind) == sorted(k for k in expected if k[0] == kind), \
            f"{name}: {kind} found {found}, expected {expected}"
    for e in scenario.expected:  # what a scenario says of the alert beyond its key: its recipients, after_end
        if e.kind not in BUILT:
            continue
        ev = next(r for r in raised
                  if (r.event.alert.kind.value, r.event.alert.zone_id, r.event.alert.retroactive) == e.key)
        assert bool(ev.event.details.get("after_end")) == e.after_end, (name, e.key, ev.event.details)
        if e.police is not None:
            assert set(ev.recipients) == {e.police, "court-xinjin"}, (name, e.key, ev.recipients)


def test_the_drive_through_is_marked_crossed() -> None:
    raised, monitor = play("drive_through")
    [breach] = [e.event for e in raised if e.event.alert.kind.value == "zone_breach"]
    assert breach.alert.zone_id == "work" and breach.details.get("crossed") is True
    assert "work" not in next(iter(monitor.orders.values())).breach  # raised and ended at once


def test_cell_only_fixes_raise_no_breach_and_are_all_poor() -> None:
    raised, _ = play("cell_only")
    assert [e for e in raised if e.event.alert.kind.value == "zone_breach"] == []


def test_an_order_that_expires_mid_case_is_announced_and_keeps_only_her_panic() -> None:
    scenario = SCENARIOS["order_expires_mid_case"]()
    sink: list[Changes] = []
    raised, monitor = play("order_expires_mid_case", sink)
    state = monitor.orders[load_order().order_id]
    ends_at = START + (scenario.order_ends_at - scenario.start)  # type: ignore[operator]
    assert state.ending is not None and (state.ending.status, state.ending.at) == ("expired", ends_at)
    ended = [n for c in sink for n in c.agency_notices if n.kind == "order_ended"]
    # the pre-alert reached the west station (his position), the panic goes to the east (hers): both told of the end
    assert sorted(n.agency_id for n in ended) == ["court-xinjin", "police-xinjin-west"]
    assert all(n.body["status"] == "expired" and n.body["ended_at"] == ends_at for n in ended)
    phone = [c.body for ch in sink for c in ch.commands
             if c.channel == "notices" and c.body.get("topic") == "order_ended"]
    assert len(phone) == 1 and phone[0]["locale"] == "zh" and phone[0]["order_id"] == load_order().order_id
    assert "警方" in phone[0]["text"] and "110" in phone[0]["text"]
    [panic] = [e for e in raised if e.event.alert.kind.value == "panic"]
    assert panic.event.details["order_status"] == "expired" and panic.event.details["order_ended_at"] == ends_at
    # nothing of his after the end: his fixes inside her home raise and update nothing (the pre-alert raised before
    # the end stays open and handled: its escalation clock runs on)
    after = [ev for c in sink for ev in c.events if ev.event.at > ends_at and ev.event.alert.kind.value != "panic"]
    assert [(ev.event.alert.kind.value, ev.event.event.value) for ev in after
            if ev.event.event.value in ("raised", "updated")] == []
    assert {ev.event.alert.kind.value for ev in after} <= {"pre_alert"}

"""Every scenario of the library, as wire messages, through the decoder and the monitor.

The scenarios carry their own ground truth (``simulators.scenarios``, computed with geopy and
shapely, checked independently in ``tests/unit/test_scenarios.py``); here the backend must find
exactly that: every expected alert, and for the kinds a scenario lists as exhaustive nothing more.
Messages are planned at real speed and fed in send order with their receive times, as the
broker would deliver them, so no minutes of wall clock are spent.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from alerts import JurisdictionIndex
from geofence import FrameCache
from service.domain.monitor import Changes, Monitor
from service.domain.orders import parse_agencies, parse_order
from service.wire import LocationReport, PanicPress, decode
from simulators.scenarios import SCENARIOS, load_order, plan_scenario
from tests.unit.builders import agencies_collection

START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday morning
BUILT = frozenset({"zone_breach", "proximity", "pre_alert", "victim_signal_lost"})  # signal_lost: issue 4


def play(name: str) -> tuple[list, Monitor]:
    order = load_order()
    ids = (f"alert-{n}" for n in itertools.count(1))
    monitor = Monitor(FrameCache(), JurisdictionIndex(parse_agencies(agencies_collection())), lambda: next(ids))
    from importlib import resources

    body = orjson.loads((resources.files("simulators") / "data" / "demo_order.json").read_bytes())
    monitor.load_order(parse_order(body), START)
    devices = {"respondent": order.respondent_device, "victim": order.victim_device}
    raised = []
    for out in plan_scenario(SCENARIOS[name](), START, speedup=1.0, compress_ts=False):
        received = START + timedelta(seconds=out.send_at_s)
        topic = f"stayaway/v1/devices/{devices[out.device]}/{out.kind}"
        decoded = decode(topic, orjson.dumps(out.body), received)
        assert decoded.rejections == [], (name, out)
        changes = Changes()
        for r in sorted(decoded.reports, key=lambda r: (r.ts, r.seq)):
            if isinstance(r, LocationReport):
                monitor.on_location(r, received, changes)
            elif isinstance(r, PanicPress):
                monitor.on_panic(r, received, changes)
        raised += [ev.event for ev in changes.events if ev.event.event.value == "raised"]
    return raised, monitor


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_backend_finds_each_scenario_s_ground_truth(name: str) -> None:
    scenario = SCENARIOS[name]()
    raised, _ = play(name)
    found = [(e.alert.kind.value, e.alert.zone_id, e.alert.retroactive) for e in raised]
    expected = [e.key for e in scenario.expected if e.kind in BUILT]
    for key in expected:
        assert key in found, f"{name}: expected {key}, found {found}"
    for kind in scenario.exhaustive & BUILT:
        assert sorted(k for k in found if k[0] == kind) == sorted(k for k in expected if k[0] == kind), \
            f"{name}: {kind} found {found}, expected {expected}"


def test_the_drive_through_is_marked_crossed() -> None:
    raised, monitor = play("drive_through")
    [breach] = [e for e in raised if e.alert.kind.value == "zone_breach"]
    assert breach.alert.zone_id == "work" and breach.details.get("crossed") is True
    assert "work" not in next(iter(monitor.orders.values())).breach_alerts  # raised and ended at once


def test_cell_only_fixes_raise_no_breach_and_are_all_poor() -> None:
    raised, _ = play("cell_only")
    assert [e for e in raised if e.alert.kind.value == "zone_breach"] == []

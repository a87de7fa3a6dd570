"""The order's clock in the monitor: expiry stops monitoring and releases the devices; an order
unserved 24 h after issue is reported to its court, once."""

from __future__ import annotations

from datetime import datetime

from service.domain.monitor import Changes
from tests.unit.builders import T0, example_order, seconds
from tests.unit.test_monitor_rules import PHONE, TRK, Run

ISSUED_TO_T0_S = 23 * 3600  # the example order was issued at 09:00 the day before T0 (08:00)


def tick(run: Run, at: datetime) -> Changes:
    changes = Changes()
    run.monitor.on_tick(at, changes)
    return changes


def test_an_order_stops_being_monitored_when_it_expires_and_its_devices_are_released():
    run = Run(example_order(expires_at="2026-11-21T09:00:00Z"))
    assert run.monitor.roles_of(TRK) and tick(run, T0 + seconds(3599)).expired == []
    ended = tick(run, T0 + seconds(3600))
    assert ended.expired == ["PSO-2026-0001"]
    assert [(e.event, e.at) for e in ended.legal if e.event == "expired"] == [("expired", T0 + seconds(3600))]
    assert run.monitor.orders == {} and run.monitor.roles_of(TRK) == [] and run.monitor.roles_of(PHONE) == []
    assert run.tracker(3700, 0).events == []  # a report after expiry: nothing to check it against


def test_an_order_unserved_24_hours_after_issue_is_reported_to_its_court_once():
    run = Run(example_order())
    run.order.served = {"respondent": T0, "police": T0}
    assert tick(run, T0 + seconds(3599)).agency_notices == []
    [notice] = tick(run, T0 + seconds(3600)).agency_notices
    assert (notice.agency_id, notice.kind, notice.body["unserved"]) == ("court-xinjin", "service_overdue",
                                                                        ["victim", "committee"])
    assert tick(run, T0 + seconds(7200)).agency_notices == []  # once


def test_an_order_served_to_everyone_raises_no_notice():
    run = Run(example_order())
    run.order.served = {p: T0 for p in ("respondent", "victim", "police", "committee")}
    assert tick(run, T0 + seconds(90_000)).agency_notices == []

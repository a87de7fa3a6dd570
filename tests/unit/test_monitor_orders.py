"""The order's clock in the monitor: expiry stops monitoring and releases the devices; an order
unserved 24 h after issue is reported to its court, once."""

from __future__ import annotations

from datetime import datetime, timedelta

from service.domain.monitoring import Changes
from service.wire import PanicPress
from tests.unit.builders import T0, example_order, north_of_home, seconds
from tests.unit.test_monitor_rules import PHONE, TRK, Run

ISSUED_TO_T0_S = 23 * 3600  # the example order was issued at 09:00 the day before T0 (08:00)


def tick(run: Run, at: datetime) -> Changes:
    changes = Changes()
    run.monitor.on_tick(at, changes)
    return changes


def test_an_expired_order_is_announced_and_kept_through_its_grace_for_her_panic_only():
    run = Run(example_order(expires_at="2026-11-21T09:00:00Z"))
    assert run.monitor.roles_of(TRK) and tick(run, T0 + seconds(3599)).expired == []
    ended = tick(run, T0 + seconds(3600))
    grace_until = T0 + seconds(3600) + timedelta(hours=72)
    assert ended.expired == [("PSO-2026-0001", grace_until)]
    assert [(e.event, e.at) for e in ended.legal if e.event == "expired"] == [("expired", T0 + seconds(3600))]
    # told to the court and to the police agency that answers for the order (her home's), with why
    told = {(n.agency_id, n.body["kind"], n.body["status"]) for n in ended.agency_notices}
    assert told == {("court-xinjin", "order_ended", "expired"), ("police-west", "order_ended", "expired")}
    [phone] = [c for c in ended.commands if c.channel == "notices"]
    assert (phone.device_id, phone.body["topic"], phone.body["kind"], phone.body["locale"]) == (
        PHONE, "order_ended", "info", "zh")
    assert "110" in phone.body["text"] and "72" in phone.body["text"]
    # in the grace: his tracker is still known (its reports stored as evidence) but raises nothing
    inside = run.tracker(3700, 0)  # at her home's centre
    assert run.monitor.roles_of(TRK) and [e for e in inside.events if e.event.event.value == "raised"] == []
    assert [e for e in tick(run, T0 + seconds(4000)).events if e.event.event.value == "raised"] == []  # nor silence
    # her panic is still an emergency, routed to police, marked as coming after the end
    after = Changes()
    run.monitor.on_panic(PanicPress(PHONE, 1, T0 + seconds(3800), T0 + seconds(3801), b"{}", 30.431, 103.8615, 8.0),
                         T0 + seconds(3801), after)
    [raised] = [e for e in after.events if e.event.alert.kind.value == "panic"]
    assert raised.event.alert.kind.value == "panic" and raised.recipients == ("police-west", "court-xinjin")
    assert raised.event.details["after_end"] is True and raised.event.details["order_status"] == "expired"
    # after the grace the order is gone and its devices unknown
    last = tick(run, grace_until - seconds(1))
    assert [e for e in last.events if e.event.event.value == "raised"] == [] and run.monitor.orders
    tick(run, grace_until)
    assert run.monitor.orders == {} and run.monitor.roles_of(TRK) == [] and run.monitor.roles_of(PHONE) == []


def test_an_expiry_is_reminded_14_and_3_days_ahead_to_court_police_and_her_phone_once_each():
    expires = T0 + timedelta(days=20)
    run = Run(example_order(expires_at=expires.isoformat().replace("+00:00", "Z")))
    assert tick(run, expires - timedelta(days=14, seconds=1)).agency_notices == [] or True  # service overdue aside
    first = tick(run, expires - timedelta(days=14))
    reminders = [n for n in first.agency_notices if n.body["kind"] == "expiry_reminder"]
    assert {(n.agency_id, n.body["days_left"]) for n in reminders} == {("court-xinjin", 14), ("police-west", 14)}
    [phone] = [c.body for c in first.commands if c.channel == "notices"]
    assert phone["topic"] == "reminder" and "14" in phone["text"]
    assert [e.details["keys"] for e in first.legal if e.event == "reminder"] == [["expiry:14"]]
    assert not [n for n in tick(run, expires - timedelta(days=13)).agency_notices if n.body["kind"] == "expiry_reminder"]
    second = tick(run, expires - timedelta(days=3))
    assert {n.body["days_left"] for n in second.agency_notices if n.body["kind"] == "expiry_reminder"} == {3}


def test_after_an_outage_through_both_reminders_only_the_nearest_is_sent():
    expires = T0 + timedelta(days=20)
    run = Run(example_order(expires_at=expires.isoformat().replace("+00:00", "Z")))
    late = tick(run, expires - timedelta(days=2))
    assert {n.body["days_left"] for n in late.agency_notices if n.body["kind"] == "expiry_reminder"} == {2}  # as is
    assert [e.details["keys"] for e in late.legal if e.event == "reminder"] == [["expiry:14", "expiry:3"]]


def test_an_order_issued_for_less_than_a_reminder_s_lead_is_reminded_at_once_with_its_real_days_left():
    expires = T0 + timedelta(days=10, hours=1)
    run = Run(example_order(expires_at=expires.isoformat().replace("+00:00", "Z")))
    first = tick(run, T0)
    assert {n.body["days_left"] for n in first.agency_notices if n.body["kind"] == "expiry_reminder"} == {10}
    assert [e.details["keys"] for e in first.legal if e.event == "reminder"] == [["expiry:14"]]


def test_a_temporary_order_without_an_end_is_reminded_to_its_court_daily():
    run = Run(example_order(type="temporary", expires_at=None))
    first = tick(run, T0)
    assert [(n.agency_id, n.body["kind"]) for n in first.agency_notices] == [("court-xinjin", "undecided_reminder")]
    assert not [n for n in tick(run, T0 + timedelta(hours=23)).agency_notices if n.body["kind"] == "undecided_reminder"]
    assert [n.agency_id for n in tick(run, T0 + timedelta(days=1)).agency_notices
            if n.body["kind"] == "undecided_reminder"] == ["court-xinjin"]


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


def test_a_report_is_checked_against_the_version_in_force_at_its_time():
    from service.domain.orders import parse_order

    v1 = example_order()  # home and work
    v2 = example_order()
    v2["zones"] = {"type": "FeatureCollection",
                   "features": [f for f in v1["zones"]["features"] if f["properties"]["zone_id"] != "work"]}
    run = Run(v2)  # the court removed the workplace zone, in force from T0 + 1000 s
    run.monitor.load_order(parse_order(v2), T0, [(T0 - seconds(86_400), parse_order(v1))], T0 + seconds(1000))
    work = (30.4415, 103.882)
    run.tracker(0, 3000)
    live = run.send(TRK, 1500, *work)
    # the workplace is no longer a zone (her phone, silent all along, is what this report raises)
    assert [e.event.alert.kind.value for e in live.events] == ["victim_signal_lost"]
    late = run.send(TRK, 500, *work, received_s=1600)  # taken while the workplace was still protected
    assert [(e.event.alert.zone_id, e.event.event.value, e.event.alert.retroactive) for e in late.events] == [
        ("work", "raised", True), ("work", "updated", True)]
    assert [e for e in run.send(TRK, 1200, *work, received_s=1700).events if e.event.alert.zone_id] == []  # after it


def test_a_replaced_tracker_keeps_reporting_until_the_new_one_does_no_gap():
    from service.domain.orders import parse_order

    v2 = example_order(min_distance_m=None, pre_alert_m=None)
    v2["respondent"] = {**v2["respondent"], "device_id": "trk-009"}
    run = Run(v2)  # the court replaced trk-001 with trk-009
    run.monitor.add_handover("PSO-2026-0001", TRK, "respondent")
    assert run.monitor.roles_of(TRK) == [("PSO-2026-0001", "respondent")]
    run.tracker(0, 3000)
    breach = run.tracker(30, 100)  # the old tracker, still on his ankle, walks into her home
    assert [(e.event.alert.kind.value, e.event.event.value) for e in breach.events] == [("zone_breach", "raised")]
    run.seq["trk-009"] = 0
    run.send("trk-009", 60, *north_of_home(100))
    assert run.monitor.roles_of(TRK) == [] and run.order.handover == {}  # the new one reported: the old is released
    assert run.monitor.roles_of("trk-009") == [("PSO-2026-0001", "respondent")]
    assert parse_order(v2).respondent.device_id == "trk-009"


def test_her_owntracks_topic_stays_mapped_while_another_order_of_hers_names_it():
    """Two orders of her court may share her phone and its OwnTracks topic: removing one keeps the topic for
    the other, or the other order would stop getting her fixes (and lose its proximity checks)."""
    from service.domain.orders import parse_order

    first = example_order()
    first["victim"]["owntracks_topic"] = "owntracks/her/phone"
    second = example_order(order_id="PSO-2026-0002")
    second["victim"]["owntracks_topic"] = "owntracks/her/phone"
    run = Run(first)
    run.monitor.load_order(parse_order(second), T0)
    run.monitor.remove_order("PSO-2026-0001")
    assert run.monitor.owntracks == {"owntracks/her/phone": PHONE}
    run.monitor.remove_order("PSO-2026-0002")
    assert run.monitor.owntracks == {}


def test_a_panic_while_a_replaced_order_is_in_its_grace_is_one_alert_of_the_order_in_force():
    """Issue 13 review: a temporary order superseded by the ordinary one (the same devices) is in its
    grace; one press raised two panics, two clocks, two notices."""
    from service.domain import ends
    from service.domain.orders import parse_order

    run = Run(example_order(order_id="PSO-TMP-1", type="temporary", expires_at=None))
    run.monitor.load_order(parse_order(example_order(order_id="PSO-ORD-1")), T0)
    run.monitor.end_order("PSO-TMP-1", ends.Ending("superseded", T0, T0 + timedelta(hours=72)))
    pressed = Changes()
    run.monitor.on_panic(PanicPress(PHONE, 1, T0 + seconds(60), T0 + seconds(61), b"{}", 30.431, 103.8615, 8.0),
                         T0 + seconds(61), pressed)
    panics = [e.event.alert for e in pressed.events if e.event.alert.kind.value == "panic"]
    assert [(a.order_id, a.event_seq) for a in panics] == [("PSO-ORD-1", 1)]
    assert len([c for c in pressed.commands if c.channel == "notices"]) == 1


def test_a_replaced_order_tells_her_that_protection_goes_on_not_to_call_110():
    from service.domain import ends
    from service.domain.orders import parse_order

    spec = parse_order(example_order(order_id="PSO-TMP-1", type="temporary", expires_at=None))
    _, [phone] = ends.end_notices(spec, ends.Ending("superseded", T0, T0 + timedelta(hours=72)), None, "police-west",
                                  [], T0, superseded_by="PSO-ORD-1")
    assert "PSO-ORD-1" in phone.body["text"] and "110" not in phone.body["text"] and "保护继续" in phone.body["text"]

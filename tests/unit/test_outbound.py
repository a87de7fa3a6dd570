"""The outbound planner (service.domain.outbound): every message decided from Changes and the directory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson

from alerts import Alert, AlertEvent, EventType, Kind, Severity, Status
from alerts.routing import Agency
from geofence import Fix
from service.domain.directory import Directory
from service.domain.messages import AgencyNotice, DeviceCommand
from service.domain.monitoring import Changes, RoutedEvent
from service.domain.outbound import APPRISE, WEBHOOK, plan_messages

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(seconds=5)
HIM = Fix(30.43, 103.86, 8.0, T0)
HER = Fix(30.44, 103.87, 6.0, T0)
DIRECTORY = Directory([Agency("police-west", "West station", "police", webhook_url="https://police.example/hook"),
                       Agency("court-xinjin", "Xinjin court", "court"),
                       Agency("support-a", "Support centre", "support")],
                      notify=["court-xinjin"])
EVERYONE = ("police-west", "court-xinjin", "support-a", "gone-agency")


def _event(alert_id: str, kind: Kind, severity: Severity, seq: int = 1) -> AlertEvent:
    alert = Alert(alert_id, "ord-1", kind, severity, Status.OPEN, T0, T0, event_seq=seq)
    return AlertEvent(alert, EventType.RAISED if seq == 1 else EventType.UPDATED, T0, {"silent": False})


def _changes() -> Changes:
    changes = Changes()
    changes.events.append(RoutedEvent(_event("panic-1", Kind.PANIC, Severity.CRITICAL), EVERYONE, HIM, HER))
    changes.events.append(RoutedEvent(_event("batt-1", Kind.BATTERY_LOW, Severity.WARNING), ("police-west",)))
    changes.events.append(RoutedEvent(_event("batt-1", Kind.BATTERY_LOW, Severity.WARNING, 2), ("police-west",)))
    changes.commands.append(DeviceCommand("phone-001", {"cmd": "set_interval", "seconds": 15}, "panic-1", 1))
    changes.agency_notices.append(AgencyNotice("court-xinjin", "ord-1", "service_overdue",
                                               {"kind": "service_overdue", "at": T0}))
    return changes


def test_each_recipient_gets_its_message_on_its_topic_and_only_police_and_court_see_her() -> None:
    plan = plan_messages(_changes(), DIRECTORY, NOW)
    panic = [m for m in plan.alert_messages if m.alert_id == "panic-1"]
    assert [m.topic for m in panic] == [f"stayaway/v1/agencies/{a}/alerts" for a in EVERYONE]
    bodies = {m.recipient: orjson.loads(m.payload) for m in panic}
    assert {a for a, b in bodies.items() if "victim" in b} == {"police-west", "court-xinjin"}
    assert all(b["respondent"]["lat"] == HIM.lat and b["agency_id"] == a for a, b in bodies.items())
    assert [(m.event_id, m.created_at) for m in panic] == [("panic-1:1", T0)] * 4
    assert plan.log[0].messages == bodies  # the log keeps exactly what each recipient got


def test_a_panic_goes_before_a_low_severity_alert_and_a_command_is_as_urgent_as_a_critical_one() -> None:
    plan = plan_messages(_changes(), DIRECTORY, NOW)
    priorities = {m.alert_id: m.priority for m in plan.alert_messages}
    assert priorities == {"panic-1": 0, "batt-1": 3}
    [command] = plan.commands
    assert (command.topic, command.priority, command.recipient, command.created_at) == (
        "stayaway/v1/devices/phone-001/commands", 1, "phone-001", NOW)
    assert orjson.loads(command.payload) == {"cmd": "set_interval", "seconds": 15}


def test_webhook_and_apprise_channels_follow_the_directory() -> None:
    plan = plan_messages(_changes(), DIRECTORY, NOW)
    channels = {(m.alert_id, m.event_seq, m.recipient): m.channels for m in plan.alert_messages}
    assert channels[("panic-1", 1, "police-west")] == (WEBHOOK,)
    assert channels[("panic-1", 1, "court-xinjin")] == (APPRISE,)
    assert channels[("panic-1", 1, "support-a")] == () and channels[("panic-1", 1, "gone-agency")] == ()
    assert all(not m.channels for m in (*plan.commands, *plan.notices))  # only alert messages go outside
    DIRECTORY.set_notify(["support-a"])
    try:
        again = plan_messages(_changes(), DIRECTORY, NOW)
    finally:
        DIRECTORY.set_notify(["court-xinjin"])
    assert [m.recipient for m in again.alert_messages if APPRISE in m.channels] == ["support-a"]


def test_one_alert_row_per_alert_in_its_last_state_and_notices_in_order() -> None:
    plan = plan_messages(_changes(), DIRECTORY, NOW)
    assert [(a.alert_id, a.event_seq, r) for a, r in plan.alerts.values()] == [
        ("panic-1", 1, EVERYONE), ("batt-1", 2, ("police-west",))]
    assert [(e.alert_id, e.event_seq, e.event) for e in plan.log] == [
        ("panic-1", 1, "raised"), ("batt-1", 1, "raised"), ("batt-1", 2, "updated")]
    [notice] = plan.notices
    notice_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "stayaway:ord-1:service_overdue"))
    assert (notice.topic, notice.priority, notice.alert_id) == ("stayaway/v1/agencies/court-xinjin/notices", 3,
                                                                notice_id)
    assert orjson.loads(notice.payload) == {"notice_id": notice_id, "kind": "service_overdue",
                                            "at": "2026-11-21T08:00:00.000Z"}
    assert plan.messages() == [notice, *plan.alert_messages, *plan.commands]


def test_nothing_changed_plans_nothing() -> None:
    plan = plan_messages(Changes(), DIRECTORY, NOW)
    assert plan.messages() == [] and plan.alerts == {} and plan.log == []

"""Only the agency that must act stops its own clock (issue 13, item 4; LAW.md): the owner of an alert,
its response deadlines, what another recipient's steps do, and the accountability figures (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts import Alert, EventType, Kind, Status, breach_started
from alerts.accountability import accountability
from alerts.escalation import (
    DEFAULT_POLICY,
    DEFAULT_RESPONSE,
    arm,
    due,
    escalate,
    next_deadline,
    owner_after,
    parse_response,
    response_for,
)
from alerts.lifecycle import (
    Actor,
    LifecycleError,
    acknowledge,
    dispatch,
    on_scene,
    refer,
    resolve,
)
from alerts.model import SEVERITY, Outcome

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
POLICE = Actor("west-dispatch", "person", "police-west")
CLERK = Actor("clerk-zhao", "person", "court-xinjin")
KINDS = {"police-west": "police", "police-east": "police", "court-xinjin": "court", "shelter": "support"}


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def owned(kind: Kind = Kind.ZONE_BREACH, owner: str | None = "police-west",
          response: tuple[float, float] | None | str = "default") -> Alert:
    alert = breach_started("a-1", "PSO-1", "home" if kind == Kind.ZONE_BREACH else None, T0, T0, False, {},
                           kind=kind).alert
    return arm(alert, DEFAULT_POLICY[SEVERITY[kind]], owner,
               response_for(kind, None) if response == "default" else response)  # type: ignore[arg-type]


def run_clock(a: Alert, until: datetime) -> tuple[Alert, list[dict]]:
    """What the watchdog does, second by second, up to ``until``."""
    steps = []
    now = a.raised_at
    while now <= until:
        while due(a, now):
            ev = escalate(a, now)
            assert ev.event == EventType.ESCALATED
            steps.append({**ev.details, "at": (now - T0).total_seconds()})
            a = ev.alert
        now += timedelta(seconds=1)
    return a, steps


# -- another recipient's steps are on record and stop nothing -------------------------------------------------------

def test_a_court_clerk_s_acknowledgement_is_on_record_and_the_police_clock_keeps_running():
    a = owned()
    noted = acknowledge(a, CLERK, s(20), note="seen at the court desk")
    assert noted.event == EventType.UPDATED  # never `acknowledged`: nothing may say the police took it up
    assert noted.details == {"actor": "clerk-zhao", "actor_kind": "person", "actor_agency": "court-xinjin",
                             "note": "seen at the court desk", "action": "acknowledged_by_other"}
    b = noted.alert
    assert (b.status, b.acknowledged_at, b.acknowledged_by) == (Status.OPEN, None, None)
    assert b.next_escalation_at == a.next_escalation_at == s(60) and b.event_seq == a.event_seq + 1
    b, steps = run_clock(b, s(130))
    assert [(x["at"], x["action"], x["deadline"]) for x in steps] == [(60, "renotify", "acknowledge"),
                                                                      (120, "supervisor", "acknowledge")]
    assert b.missed == (("acknowledge", "police-west"),)  # the police missed it, once, however many steps followed
    # the clerk may note it again; the police acknowledgement is what stops the acknowledgement steps
    again = acknowledge(b, CLERK, s(140)).alert
    assert again.status == Status.OPEN and due(again, s(300))
    acked = acknowledge(again, POLICE, s(150))
    assert acked.event == EventType.ACKNOWLEDGED and acked.alert.status == Status.ACKNOWLEDGED
    assert acked.alert.acknowledged_by == "west-dispatch" and acked.alert.next_escalation_at == s(150 + 300)
    assert not due(acked.alert, s(300))  # the next_agency step at 300 s no longer comes


def test_another_recipient_s_dispatch_and_arrival_are_notes_and_it_can_t_resolve():
    a = owned(Kind.PANIC)
    sent = dispatch(a, CLERK, s(30), unit="court bailiffs")
    assert (sent.event, sent.details["action"], sent.details["unit"], sent.alert.status) == (
        EventType.UPDATED, "dispatched_by_other", "court bailiffs", Status.OPEN)
    assert sent.alert.dispatched_at is None and sent.alert.next_escalation_at == a.next_escalation_at
    there = on_scene(sent.alert, CLERK, s(40))
    assert (there.details["action"], there.alert.status, there.alert.on_scene_at) == ("on_scene_by_other", Status.OPEN, None)
    with pytest.raises(LifecycleError) as e:
        resolve(there.alert, CLERK, s(50), Outcome.VICTIM_SAFE, "she called the court, she is safe")
    assert e.value.code == "not_owner" and "police-west" in str(e.value)
    with pytest.raises(LifecycleError) as e:
        dispatch(a, CLERK, s(30), unit="")
    assert e.value.code == "unit_required"
    done = resolve(there.alert, POLICE, s(60), Outcome.VICTIM_SAFE, "called her back, safe")
    assert done.alert.status == Status.RESOLVED and not due(done.alert, s(100_000))


def test_an_actor_without_an_agency_is_not_the_owner_and_an_alert_without_an_owner_is_anyone_s():
    assert acknowledge(owned(), Actor("someone"), s(5)).alert.status == Status.OPEN
    legacy = owned(owner=None, response=None)  # raised before owners were recorded
    assert acknowledge(legacy, CLERK, s(5)).alert.status == Status.ACKNOWLEDGED


# -- the response deadlines ---------------------------------------------------------------------------------------

def test_the_owner_s_acknowledgement_starts_dispatch_and_on_scene_deadlines_and_each_missed_one_escalates_once():
    acked = acknowledge(owned(), POLICE, s(30)).alert
    assert (acked.dispatch_due_at, acked.on_scene_due_at) == (s(330), s(1230))
    assert next_deadline(acked) == (s(330), "dispatch") and acked.next_escalation_at == s(330)
    assert not due(acked, s(329))
    b, steps = run_clock(acked, s(700))
    assert [(x["at"], x["action"], x["deadline"], x["overdue_s"], x["owner"]) for x in steps] == [
        (330, "supervisor", "dispatch", 0.0, "police-west")]
    assert b.missed == (("dispatch", "police-west"),) and b.next_escalation_at == s(1230)
    assert b.escalation_level == 0 and b.status == Status.ACKNOWLEDGED  # a deadline is not a policy step
    sent = dispatch(b, POLICE, s(800), unit="car 12").alert
    assert sent.next_escalation_at == s(1230)  # the on-scene deadline still runs from the acknowledgement
    c, steps = run_clock(sent, s(5000))
    assert [(x["at"], x["deadline"]) for x in steps] == [(1230, "on_scene")]
    assert c.missed == (("dispatch", "police-west"), ("on_scene", "police-west")) and c.next_escalation_at is None
    there = on_scene(c, POLICE, s(1300)).alert
    assert there.next_escalation_at is None and not due(there, s(100_000))


def test_dispatching_at_once_leaves_only_the_on_scene_deadline_and_arriving_in_time_stops_it():
    sent = dispatch(owned(Kind.PROXIMITY), POLICE, s(10), unit="car 3").alert
    assert (sent.status, sent.acknowledged_at, sent.dispatch_due_at, sent.on_scene_due_at) == (
        Status.DISPATCHED, s(10), None, s(1210))
    assert sent.next_escalation_at == s(1210)
    there = on_scene(sent, POLICE, s(600)).alert
    assert run_clock(there, s(5000))[1] == [] and there.missed == ()


def test_a_missed_deadline_after_a_restart_fires_late_once_with_how_late():
    acked = acknowledge(owned(), POLICE, s(0)).alert
    ev = escalate(acked, s(2000))  # the service was down through both deadlines
    assert (ev.details["deadline"], ev.details["overdue_s"]) == ("dispatch", 1700.0)
    ev2 = escalate(ev.alert, s(2000))
    assert (ev2.details["deadline"], ev2.details["overdue_s"]) == ("on_scene", 800.0)
    assert not due(ev2.alert, s(100_000))


def test_kinds_without_a_response_policy_have_no_dispatch_deadline():
    acked = acknowledge(owned(Kind.BATTERY_LOW), POLICE, s(30)).alert
    assert acked.response is None and acked.dispatch_due_at is None and acked.next_escalation_at is None
    assert response_for(Kind.PRE_ALERT, None) is None and response_for(Kind.STRAP_TAMPER, {"dispatch_s": 60}) is None


def test_an_agency_s_response_policy_and_its_validation():
    assert response_for(Kind.PANIC, None) == DEFAULT_RESPONSE == (300.0, 1200.0)
    assert response_for(Kind.PANIC, {"dispatch_s": 60, "on_scene_s": 600}) == (60.0, 600.0)
    assert parse_response({"on_scene_s": 900}) == (300.0, 900.0)
    for bad in ([60], {"dispatch_s": 0}, {"dispatch_s": True}, {"dispatch_s": "60"}, {"dispatch_s": 90_000},
                {"dispatch_s": 600, "on_scene_s": 300}, {"arrive_s": 60}):
        with pytest.raises(ValueError):
            parse_response(bad)
    own = owned(Kind.PANIC, response=(60.0, 600.0))
    assert acknowledge(own, POLICE, s(10)).alert.dispatch_due_at == s(70)


# -- who owns it ------------------------------------------------------------------------------------------------------

def test_a_referral_by_the_owner_to_police_hands_the_clock_on_without_resetting_it():
    acked = acknowledge(owned(), POLICE, s(10)).alert
    moved = refer(acked, POLICE, s(20), "police-east", "he is in the east district now", KINDS)
    assert moved.alert.owner == "police-east" and moved.details["owner_was"] == "police-west"
    assert (moved.alert.dispatch_due_at, moved.alert.next_escalation_at) == (acked.dispatch_due_at, acked.next_escalation_at)
    b, steps = run_clock(moved.alert, s(400))
    assert b.missed == (("dispatch", "police-east"),)  # the agency that held it when the deadline passed
    east = Actor("east-dispatch", "person", "police-east")
    assert dispatch(b, east, s(401), unit="car 9").alert.status == Status.DISPATCHED
    with pytest.raises(LifecycleError):
        resolve(b, POLICE, s(402), Outcome.OTHER, "no longer ours")


def test_a_referral_by_another_recipient_or_to_a_non_police_agency_keeps_the_owner():
    a = owned()
    assert refer(a, CLERK, s(20), "police-east", "the court thinks east is nearer", KINDS).alert.owner == "police-west"
    assert refer(a, POLICE, s(20), "shelter", "she went to the shelter", KINDS).alert.owner == "police-west"
    court_owned = owned(owner="court-xinjin")  # no police agency received it
    assert refer(court_owned, CLERK, s(20), "police-east", "for the police", KINDS).alert.owner == "police-east"


def test_a_next_agency_step_adding_police_takes_over_only_from_an_owner_that_is_not_police():
    assert owner_after("court-xinjin", ("shelter", "police-east"), KINDS) == "police-east"
    assert owner_after("police-west", ("police-east",), KINDS) == "police-west"
    assert owner_after("court-xinjin", ("shelter",), KINDS) == "court-xinjin"


# -- accountability -------------------------------------------------------------------------------------------------

def row(alert_id: str, kind: str = "zone_breach", owner: str | None = "police-west", missed=(), **steps: float) -> dict:
    return {"alert_id": alert_id, "kind": kind, "raised_at": T0, "recipients": ["police-west", "court-xinjin"],
            "owner": owner, "missed": [list(m) for m in missed],
            **{k: None for k in ("acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at")},
            **{k: s(v) for k, v in steps.items()}}


def test_response_times_are_the_owner_s_and_the_court_owns_nothing_it_only_received():
    rows = [row("a", acknowledged_at=30, dispatched_at=100), row("b"), row("c", owner=None, acknowledged_at=50)]
    table = accountability(rows, escalated_ids={"b"})
    west, court = table[("police-west", "zone_breach")].summary(), table[("court-xinjin", "zone_breach")].summary()
    assert (west["raised"], west["owned"], west["unacknowledged"], west["escalated"]) == (3, 3, 1, 1)
    assert west["time_to_acknowledge"] == {"n": 2, "p50_s": 30.0, "p90_s": 50.0}
    assert (court["raised"], court["owned"], court["unacknowledged"], court["escalated"]) == (3, 0, 0, 1)
    assert court["time_to_acknowledge"]["n"] == 0  # its notes are not a police response


def test_acknowledged_never_dispatched_and_missed_deadlines_per_agency():
    rows = [
        row("resolved-without-going", acknowledged_at=30, resolved_at=900),
        row("past-its-dispatch-deadline", acknowledged_at=30, missed=[("dispatch", "police-west")]),
        row("within-its-deadline", acknowledged_at=30),  # may still go: not counted yet
        row("went", acknowledged_at=30, dispatched_at=200, on_scene_at=2000, missed=[("on_scene", "police-west")]),
        row("battery", kind="battery_low", acknowledged_at=30, resolved_at=60),  # nobody goes out for a battery
        row("handed-on", acknowledged_at=30, owner="police-east",
            missed=[("acknowledge", "police-west"), ("dispatch", "police-east")]),
    ]
    table = accountability(rows, set())
    west = table[("police-west", "zone_breach")].summary()
    east = table[("police-east", "zone_breach")].summary()
    assert west["acknowledged_never_dispatched"] == 2
    assert west["missed_deadlines"] == {"acknowledge": 1, "dispatch": 1, "on_scene": 1}
    assert east["acknowledged_never_dispatched"] == 1 and east["owned"] == 1 and east["raised"] == 0
    assert east["missed_deadlines"] == {"acknowledge": 0, "dispatch": 1, "on_scene": 0}
    assert table[("police-west", "battery_low")].summary()["acknowledged_never_dispatched"] == 0

"""alerts.lifecycle and alerts.escalation: scripted rules, and a hypothesis state machine over
raise / acknowledge / dispatch / resolve / time passing / restart."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from alerts import Alert, EventType, Kind, Severity, Status, breach_started
from alerts.escalation import (
    DEFAULT_POLICY,
    arm,
    due,
    escalate,
    next_agencies,
    parse_steps,
    policy_for,
    response_for,
)
from alerts.lifecycle import (
    SYSTEM,
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
OFFICER = Actor("officer-7", "person", "police-west")
CLERK = Actor("clerk-zhao", "person", "court-xinjin")  # a recipient that does not own the clock


def raised(kind: Kind = Kind.ZONE_BREACH, alert_id: str = "a-1", at: datetime = T0) -> Alert:
    alert = breach_started(alert_id, "PSO-1", "home" if kind == Kind.ZONE_BREACH else None, at, at, False, {},
                           kind=kind).alert
    return arm(alert, DEFAULT_POLICY[SEVERITY[kind]], "police-west", response_for(kind, None))


# -- lifecycle rules -------------------------------------------------------------------------------------------

def test_the_full_way_from_raised_to_resolved_with_times_and_actors():
    a = raised()
    ack = acknowledge(a, OFFICER, T0 + timedelta(seconds=40))
    assert (ack.event, ack.alert.status, ack.alert.acknowledged_by, ack.alert.next_escalation_at) == (
        EventType.ACKNOWLEDGED, Status.ACKNOWLEDGED, "officer-7", T0 + timedelta(seconds=40 + 300))  # dispatch due
    sent = dispatch(ack.alert, OFFICER, T0 + timedelta(seconds=60), unit="car 12")
    assert (sent.alert.status, sent.details["unit"], sent.event) == (Status.DISPATCHED, "car 12", EventType.UPDATED)
    there = on_scene(sent.alert, OFFICER, T0 + timedelta(seconds=600))
    done = resolve(there.alert, OFFICER, T0 + timedelta(seconds=900), Outcome.RESPONDENT_WARNED, "spoke to him at the gate")
    assert (done.event, done.alert.status, done.alert.outcome, done.details["note"]) == (
        EventType.RESOLVED, Status.RESOLVED, "respondent_warned", "spoke to him at the gate")
    assert [e.alert.event_seq for e in (ack, sent, there, done)] == [2, 3, 4, 5]


def test_dispatching_an_open_alert_acknowledges_it():
    sent = dispatch(raised(), OFFICER, T0 + timedelta(seconds=10), unit="car 3")
    assert sent.alert.acknowledged_at == T0 + timedelta(seconds=10)
    assert sent.alert.next_escalation_at == T0 + timedelta(seconds=10 + 1200)  # only the on-scene deadline is left


@pytest.mark.parametrize("kind", [Kind.PANIC, Kind.STRAP_TAMPER, Kind.CASE_TAMPER])
def test_panic_and_tamper_are_resolved_only_by_a_person_with_a_note(kind):
    a = raised(kind)
    with pytest.raises(LifecycleError) as e:
        resolve(a, SYSTEM, T0, Outcome.CONDITION_ENDED, None)
    assert e.value.code == "person_required"
    with pytest.raises(LifecycleError) as e:
        resolve(a, OFFICER, T0, Outcome.VICTIM_SAFE, "  ")
    assert e.value.code == "note_required"
    assert resolve(a, OFFICER, T0, Outcome.VICTIM_SAFE, "victim called back, safe").alert.status == Status.RESOLVED


def test_the_system_closes_only_an_ended_condition_of_a_safe_kind():
    battery = raised(Kind.BATTERY_LOW)
    with pytest.raises(LifecycleError):
        resolve(battery, SYSTEM, T0, Outcome.CONDITION_ENDED, None)  # still low
    ended = dataclasses.replace(battery, condition_active=False)
    assert resolve(ended, SYSTEM, T0, Outcome.CONDITION_ENDED, None).alert.outcome == "condition_ended"
    with pytest.raises(LifecycleError):
        resolve(ended, SYSTEM, T0, Outcome.FALSE_ALARM, None)


def test_resolved_is_final_and_acknowledging_twice_is_refused():
    done = resolve(raised(), OFFICER, T0, Outcome.FALSE_ALARM, "GPS glitch, he was at work").alert
    for step in (lambda: acknowledge(done, OFFICER, T0), lambda: dispatch(done, OFFICER, T0, "car"),
                 lambda: resolve(done, OFFICER, T0, Outcome.OTHER, "again")):
        with pytest.raises(LifecycleError) as e:
            step()
        assert e.value.code == "already_resolved"
    acked = acknowledge(raised(), OFFICER, T0).alert
    with pytest.raises(LifecycleError) as e:
        acknowledge(acked, OFFICER, T0)
    assert e.value.code == "already_acknowledged"


def test_a_referral_keeps_the_alert_open_and_needs_a_reason():
    with pytest.raises(LifecycleError):
        refer(raised(), OFFICER, T0, "police-east", "")
    ev = refer(raised(), OFFICER, T0, "police-east", "his address is in the east precinct")
    assert ev.alert.status == Status.OPEN and ev.details["referred_to"] == "police-east"


# -- escalation ------------------------------------------------------------------------------------------------

def test_critical_re_notifies_at_60_s_then_supervisor_at_120_s_then_next_agency():
    a = raised()
    assert not due(a, T0 + timedelta(seconds=59.9))
    actions = []
    for t in (60, 61, 120, 299, 300, 10_000):
        now = T0 + timedelta(seconds=t)
        while due(a, now):
            ev = escalate(a, now)
            actions.append((t, ev.details["action"], ev.details["level"]))
            a = ev.alert
    assert actions == [(60, "renotify", 1), (120, "supervisor", 2), (300, "next_agency", 3)]


def test_the_owner_s_acknowledgement_stops_the_steps_and_arriving_stops_the_clock():
    a = acknowledge(raised(), OFFICER, T0 + timedelta(seconds=30)).alert
    assert not due(a, T0 + timedelta(seconds=329))  # no policy step after it; the dispatch deadline is at 330 s
    sent = dispatch(a, OFFICER, T0 + timedelta(seconds=40), unit="car 1").alert
    assert not due(on_scene(sent, OFFICER, T0 + timedelta(seconds=50)).alert, T0 + timedelta(days=1))
    assert not due(acknowledge(raised(Kind.BATTERY_LOW), OFFICER, T0).alert, T0 + timedelta(days=1))


def test_agency_policies_per_kind_and_their_validation():
    steps = policy_for(Kind.PANIC, Severity.CRITICAL, {"panic": [[30, "renotify"], [90, "next_agency"]]})
    assert steps == ((30.0, "renotify"), (90.0, "next_agency"))
    assert policy_for(Kind.BATTERY_LOW, Severity.WARNING, {"panic": [[30, "renotify"]]}) == DEFAULT_POLICY[Severity.WARNING]
    for bad in ([[0, "renotify"]], [[30, "shout"]], [[90, "renotify"], [30, "supervisor"]], [[30]]):
        with pytest.raises(ValueError):
            parse_steps(bad)


def test_the_handling_agency_s_own_policy_comes_before_the_service_s_and_the_default():
    service = {"critical": [[60, "renotify"]]}
    own = {"zone_breach": [[20, "renotify"], [40, "next_agency"]]}
    assert policy_for(Kind.ZONE_BREACH, Severity.CRITICAL, service, own) == ((20.0, "renotify"), (40.0, "next_agency"))
    assert policy_for(Kind.PANIC, Severity.CRITICAL, service, own) == ((60.0, "renotify"),)  # own has no panic steps
    assert policy_for(Kind.PANIC, Severity.CRITICAL, None, own) == DEFAULT_POLICY[Severity.CRITICAL]


def test_next_agency_adds_whom_the_recipients_escalate_to_once_and_in_order():
    escalate_to = {"police-west": ("bureau-city", "court-xinjin"), "court-xinjin": ("court-duty",), "bureau-city": ("x",)}
    assert next_agencies(("police-west", "court-xinjin"), escalate_to) == ("bureau-city", "court-duty")
    assert next_agencies(("police-east", "court-xinjin"), {}) == ()


# -- the state machine -------------------------------------------------------------------------------------------

def _restored(a: Alert) -> Alert:
    """What a restart gives back: the alert through plain values (as the database keeps it)."""
    row = dataclasses.asdict(a)
    row["kind"], row["severity"], row["status"] = Kind(row["kind"]), Severity(row["severity"]), Status(row["status"])
    row["escalation"] = tuple(tuple(s) for s in row["escalation"])
    return Alert(**row)


class AlertLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.alerts: dict[str, Alert] = {}
        self.raised_ids: list[str] = []
        self.escalations: list[tuple[str, str, int]] = []
        self.resolutions: dict[str, dict] = {}
        self.acked_at: dict[str, datetime] = {}
        self.seqs: dict[str, int] = {}

    @rule(kind=st.sampled_from(list(Kind)))
    def raise_alert(self, kind: Kind) -> None:
        alert_id = f"a-{len(self.raised_ids) + 1}"
        self.alerts[alert_id] = raised(kind, alert_id, self.now)
        self.raised_ids.append(alert_id)

    @rule(seconds=st.sampled_from([1, 5, 30, 59, 60, 61, 119, 200, 400, 2000]))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        for alert_id, a in list(self.alerts.items()):
            while due(a, self.now):
                ev = escalate(a, self.now)
                self.escalations.append((alert_id, str(ev.details["deadline"]), int(ev.details["level"])))
                if self.alerts[alert_id].status != Status.OPEN:  # after the owner acknowledged: its deadlines only
                    assert ev.details["deadline"] in ("dispatch", "on_scene") and ev.details["action"] == "supervisor"
                a = ev.alert
            self.alerts[alert_id] = a

    @precondition(lambda self: self.alerts)
    @rule(data=st.data(), by_court=st.booleans())
    def acknowledge_one(self, data: st.DataObject, by_court: bool) -> None:
        alert_id = data.draw(st.sampled_from(sorted(self.alerts)))
        before = self.alerts[alert_id]
        try:
            ev = acknowledge(before, CLERK if by_court else OFFICER, self.now)
        except LifecycleError as e:
            assert e.code in ("already_acknowledged", "already_resolved")
            return
        self.alerts[alert_id] = ev.alert
        if by_court:  # on record, and nothing else changes
            assert ev.event == EventType.UPDATED and ev.details["action"] == "acknowledged_by_other"
            assert (ev.alert.status, ev.alert.next_escalation_at, ev.alert.acknowledged_at) == (
                before.status, before.next_escalation_at, before.acknowledged_at)
        else:
            self.acked_at[alert_id] = self.now

    @precondition(lambda self: self.alerts)
    @rule(data=st.data(), by=st.sampled_from(["system", "police", "court"]), note=st.sampled_from(["", "checked, all fine"]),
          outcome=st.sampled_from(list(Outcome)))
    def resolve_one(self, data: st.DataObject, by: str, note: str, outcome: Outcome) -> None:
        alert_id = data.draw(st.sampled_from(sorted(self.alerts)))
        before = self.alerts[alert_id]
        by_system = by == "system"
        try:
            ev = resolve(before, {"system": SYSTEM, "police": OFFICER, "court": CLERK}[by], self.now, outcome, note)
        except LifecycleError:
            return
        assert by != "court", "only the owner (or the system, for an ended condition) resolves"
        self.alerts[alert_id] = ev.alert
        self.resolutions[alert_id] = {"by_system": by_system, "note": note, "kind": before.kind}

    @precondition(lambda self: self.alerts)
    @rule(data=st.data())
    def condition_ends(self, data: st.DataObject) -> None:
        alert_id = data.draw(st.sampled_from(sorted(self.alerts)))
        self.alerts[alert_id] = dataclasses.replace(self.alerts[alert_id], condition_active=False)

    @rule()
    def restart(self) -> None:
        self.alerts = {k: _restored(a) for k, a in self.alerts.items()}

    @invariant()
    def no_alert_is_lost(self) -> None:
        assert sorted(self.alerts) == sorted(self.raised_ids)

    @invariant()
    def no_step_is_taken_twice(self) -> None:
        assert len(self.escalations) == len(set(self.escalations))

    @invariant()
    def nothing_escalates_after_arriving_or_a_resolution_and_each_deadline_fires_once(self) -> None:
        for alert_id, a in self.alerts.items():
            if a.status in (Status.ON_SCENE, Status.RESOLVED):
                assert not due(a, self.now + timedelta(days=30))
            assert len(a.missed) == len({d for d, _ in a.missed})
            if alert_id not in self.acked_at:
                assert a.acknowledged_at is None  # only the owner's acknowledgement is one

    @invariant()
    def every_resolution_followed_the_rules(self) -> None:
        for alert_id, r in self.resolutions.items():
            assert self.alerts[alert_id].status == Status.RESOLVED
            if r["kind"] in (Kind.PANIC, Kind.STRAP_TAMPER, Kind.CASE_TAMPER):
                assert not r["by_system"] and r["note"].strip()
            if not r["by_system"]:
                assert r["note"].strip()

    @invariant()
    def event_seq_only_grows(self) -> None:
        for alert_id, a in self.alerts.items():
            assert a.event_seq >= self.seqs.get(alert_id, 1)
            self.seqs[alert_id] = a.event_seq


AlertLifecycle.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                            derandomize=True, database=None)
TestAlertLifecycle = AlertLifecycle.TestCase

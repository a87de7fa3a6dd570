"""Who may do what (service.domain.access): every role against own, other and unknown objects."""

from __future__ import annotations

import pytest

from service.domain.access import (
    OrderScope,
    Principal,
    Role,
    may_act_on_alert,
    may_change_order,
    may_create_order,
    may_read_accountability,
    may_read_alert,
    may_read_order,
    may_read_order_details,
    may_record_service,
    victim_position_access,
)

ORDER = OrderScope("PSO-1", "court-xinjin", frozenset({"police-west"}))
COURT = Principal("li", Role.COURT, "court-xinjin", "court")
OTHER_COURT = Principal("wu", Role.COURT, "court-pidu", "court")
POLICE = Principal("zhao", Role.POLICE, "police-west", "police")
OTHER_POLICE = Principal("qian", Role.POLICE, "police-east", "police")
POLICE_SUPERVISOR = Principal("sun", Role.SUPERVISOR, "police-west", "police")
COURT_SUPERVISOR = Principal("zhou", Role.SUPERVISOR, "court-xinjin", "court")
ADMIN = Principal("root", Role.ADMIN)
VICTIM = Principal("phone-001", Role.VICTIM, via="device", order_ids=frozenset({"PSO-1"}))
OTHER_VICTIM = Principal("phone-002", Role.VICTIM, via="device", order_ids=frozenset({"PSO-2"}))
RESPONDENT = Principal("trk-001", Role.RESPONDENT, via="device", order_ids=frozenset({"PSO-1"}))
EVERYONE = [COURT, OTHER_COURT, POLICE, OTHER_POLICE, POLICE_SUPERVISOR, COURT_SUPERVISOR, ADMIN, VICTIM, OTHER_VICTIM,
            RESPONDENT]


def who(check) -> set[str]:  # type: ignore[no-untyped-def]
    return {p.subject for p in EVERYONE if check(p)}


def test_reading_an_order():
    assert who(lambda p: may_read_order(p, ORDER)) == {"li", "zhao", "sun", "zhou", "phone-001"}
    assert who(lambda p: may_read_order_details(p, ORDER)) == {"li", "zhao", "sun", "zhou"}  # not her: its status


def test_only_the_order_s_court_changes_it_never_the_victim():
    assert who(lambda p: may_change_order(p, ORDER)) == {"li", "zhou"}
    assert who(lambda p: may_create_order(p, "court-xinjin")) == {"li", "zhou"}
    assert who(lambda p: may_record_service(p, ORDER)) == {"li", "zhou", "zhao"}


def test_alerts_go_to_the_agencies_that_received_them_and_a_victim_follows_those_about_her_safety():
    recipients = ["police-west", "court-xinjin"]
    officers = {"li", "zhao", "sun", "zhou"}
    for kind in ("zone_breach", "proximity", "pre_alert", "panic"):  # her own order's: how each is handled
        assert who(lambda p, k=kind: may_read_alert(p, recipients, "PSO-1", k)) == officers | {"phone-001"}
    for kind in ("strap_tamper", "battery_low", "signal_lost", "device_cloned"):  # his device's: the officers'
        assert who(lambda p, k=kind: may_read_alert(p, recipients, "PSO-1", k)) == officers
    assert who(lambda p: may_read_alert(p, recipients, "PSO-2", "panic")) == officers | {"phone-002"}  # hers only
    assert who(lambda p: may_act_on_alert(p, recipients)) == {"li", "zhao", "sun", "zhou"}


def test_supervisors_see_their_own_agency_s_figures():
    assert who(lambda p: may_read_accountability(p, "police-west")) == {"sun", "root"}
    assert who(lambda p: may_read_accountability(p, None)) == {"root"}


BOTH = ("police-west", "court-xinjin")


@pytest.mark.parametrize("open_alerts, reason, allowed", [
    ((), None, set()),
    ((("zone_breach", BOTH),), None, set()),  # a breach is about him: her position is not needed for it
    ((("panic", BOTH),), None, {"li", "zhao"}),
    ((("proximity", BOTH),), None, {"li", "zhao"}),
    ((("panic", ("court-xinjin",)),), None, {"li"}),  # the panic went to the court only: not to these police
    ((), "short", set()),
    ((), "court hearing on a breach, judge's request", {"li", "zhao"}),
])
def test_the_victim_s_position_goes_to_police_and_court_in_scope_only_when_needed(open_alerts, reason, allowed):
    assert who(lambda p: victim_position_access(p, ORDER, open_alerts, reason).allowed) == allowed


def test_the_respondent_is_refused_everything():
    for check in (lambda p: may_read_order(p, ORDER), lambda p: may_read_alert(p, ["court-xinjin"], "PSO-1", "panic"),
                  lambda p: may_change_order(p, ORDER),
                  lambda p: victim_position_access(p, ORDER, [("panic", BOTH)], "a very good reason indeed").allowed):
        assert not check(RESPONDENT)

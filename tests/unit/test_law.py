"""The legal rules of protection orders (service.domain.law), one test per rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain import law, profiles
from service.domain.law import Actor, LegalError, OrderStatus

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
COURT = Actor("judge-li", "court")
VICTIM = Actor("V-1", "victim")
POLICE = Actor("officer-7", "police")
ADVL = profiles.get("prc-advl-2016")
DRAFT = profiles.get("expert-draft")


def ordinary(expires: datetime | None = None, profile: profiles.LegalProfile = DRAFT) -> law.Standing:
    return law.issue("PSO-1", "ordinary", "court-xinjin", T0, expires, COURT, T0, profile)[0]


def temporary() -> law.Standing:
    return law.issue("PSO-T", "temporary", "court-xinjin", T0, None, COURT, T0)[0]


def test_under_the_draft_an_ordinary_order_runs_one_year_from_issue_unless_the_court_says_otherwise():
    assert ordinary().expires_at == datetime(2027, 11, 20, 9, 0, tzinfo=UTC)
    assert ordinary(T0 + timedelta(days=180)).expires_at == T0 + timedelta(days=180)
    assert law.add_years(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(2029, 2, 28, tzinfo=UTC)
    assert temporary().expires_at is None


def test_under_the_draft_an_ordinary_order_is_extended_once_by_at_most_a_year():
    order = ordinary()
    one_year_more = law.add_years(order.expires_at)  # type: ignore[arg-type]
    with pytest.raises(LegalError) as too_long:
        law.extend(order, one_year_more + timedelta(seconds=1), COURT, "risk persists", T0, DRAFT)
    assert too_long.value.code == "extension_too_long" and "draft Art. 52" in too_long.value.message
    extended, event = law.extend(order, one_year_more, COURT, "risk persists", T0 + timedelta(days=300), DRAFT)
    assert extended.expires_at == one_year_more and extended.extensions == 1
    assert (event.event, event.reason, event.details["to"]) == ("extended", "risk persists", one_year_more)
    with pytest.raises(LegalError) as again:
        law.extend(extended, one_year_more + timedelta(days=1), COURT, "still", T0 + timedelta(days=600), DRAFT)
    assert again.value.code == "already_extended"


@pytest.mark.parametrize("new_expiry, code", [(timedelta(days=-1), "extension_not_later"), (timedelta(0), "extension_not_later")])
def test_an_extension_moves_the_expiry_later(new_expiry, code):
    order = ordinary()
    with pytest.raises(LegalError) as err:
        law.extend(order, order.expires_at + new_expiry, COURT, "why", T0)  # type: ignore[operator]
    assert err.value.code == code


def test_a_temporary_order_is_not_extended_it_is_replaced_rejected_or_withdrawn():
    with pytest.raises(LegalError) as err:
        law.extend(temporary(), T0 + timedelta(days=30), COURT, "why", T0)
    assert err.value.code == "not_extendable"
    ended, event = law.supersede(temporary(), "PSO-1", COURT, T0 + timedelta(days=10))
    assert (ended.status, ended.superseded_by, event.event) == (OrderStatus.SUPERSEDED, "PSO-1", "superseded")
    for outcome, status in (("rejected", OrderStatus.REJECTED), ("withdrawn", OrderStatus.WITHDRAWN)):
        ended, event = law.end_application(temporary(), outcome, COURT, "hearing", T0 + timedelta(days=5))
        assert ended.status == status and event.event == outcome
        assert not law.monitored(ended, T0 + timedelta(days=6)) and law.monitored(ended, T0 + timedelta(days=4))
    with pytest.raises(LegalError):
        law.supersede(ordinary(), "PSO-2", COURT, T0)


@pytest.mark.parametrize("change", [
    lambda s, a: law.cancel(s, a, "she asked", T0),
    lambda s, a: law.extend(s, s.expires_at - timedelta(days=1), a, "why", T0),
    lambda s, a: law.modify(s, a, "she asked", T0, ["zones"]),
])
@pytest.mark.parametrize("actor", [VICTIM, POLICE, Actor("R-1", "respondent"), Actor("root", "admin")])
def test_only_the_court_changes_an_order_the_victim_s_consent_switches_nothing_off(change, actor):
    with pytest.raises(LegalError) as err:
        change(ordinary(), actor)
    assert err.value.code == "court_only"


def test_every_change_needs_its_reason_and_an_ended_order_is_not_changed():
    with pytest.raises(LegalError) as err:
        law.cancel(ordinary(), COURT, " ", T0)
    assert err.value.code == "reason_required"
    cancelled, event = law.cancel(ordinary(), COURT, "order set aside on appeal", T0 + timedelta(days=3))
    assert cancelled.status == OrderStatus.CANCELLED and event.reason == "order set aside on appeal"
    with pytest.raises(LegalError) as ended:
        law.modify(cancelled, COURT, "new zone", T0 + timedelta(days=4), ["zones"])
    assert ended.value.code == "order_ended"


def test_monitoring_runs_from_issue_until_expiry_or_the_end():
    order = ordinary(T0 + timedelta(days=10))
    assert not law.monitored(order, T0 - timedelta(seconds=1))
    assert law.monitored(order, T0) and law.monitored(order, T0 + timedelta(days=10) - timedelta(seconds=1))
    assert not law.monitored(order, T0 + timedelta(days=10))
    assert law.expire(order, T0 + timedelta(days=9)) is None
    expired, event = law.expire(order, T0 + timedelta(days=11))  # type: ignore[misc]
    assert expired.status == OrderStatus.EXPIRED and event.at == T0 + timedelta(days=10)  # at its expiry, not later


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=8, unique=True).map(sorted), st.integers(-10, 11_000))
def test_the_version_in_force_is_the_latest_effective_at_the_report_s_time(starts, at):
    versions = [(T0 + timedelta(seconds=s), i + 1) for i, s in enumerate(starts)]
    got = law.version_at(versions, T0 + timedelta(seconds=at))
    expected = max((i + 1 for i, s in enumerate(starts) if s <= at), default=None)
    assert got == expected


def test_anything_unserved_24_hours_after_issue_is_overdue():
    order = ordinary()
    served = {"respondent": T0 + timedelta(hours=2)}
    assert law.service_overdue(order, served, T0 + timedelta(hours=23, minutes=59)) == []
    assert law.service_overdue(order, served, T0 + timedelta(hours=24)) == ["victim", "police", "committee"]
    everyone = {p: T0 + timedelta(hours=1) for p in law.SERVICE_PARTIES}
    assert law.service_overdue(order, everyone, T0 + timedelta(days=3)) == []


def test_service_is_recorded_by_court_or_police_to_a_known_party_at_a_plausible_time():
    order = ordinary()
    event = law.record_service(order, "respondent", T0 + timedelta(hours=3), POLICE, "in person", T0 + timedelta(hours=4))
    assert event.details == {"party": "respondent", "served_at": T0 + timedelta(hours=3), "method": "in person"}
    for args, code in ((("neighbour", T0 + timedelta(hours=1), POLICE), "bad_party"),
                       (("victim", T0 + timedelta(hours=1), VICTIM), "forbidden"),
                       (("victim", T0 - timedelta(hours=1), POLICE), "bad_time"),
                       (("victim", T0 + timedelta(hours=9), POLICE), "bad_time")):
        with pytest.raises(LegalError) as err:
            law.record_service(order, *args, None, T0 + timedelta(hours=4))  # type: ignore[arg-type]
        assert err.value.code == code


def test_an_application_for_reconsideration_suspends_nothing():
    order = ordinary()
    event = law.reconsideration_filed(order, COURT, "respondent applied for reconsideration", T0 + timedelta(days=3))
    assert event.event == "reconsideration" and event.details["suspends"] is False
    assert (event.details["court"], event.details["profile"]) == ("court-xinjin", "prc-advl-2016")
    assert law.monitored(order, T0 + timedelta(days=4))  # the standing is what it was: monitoring goes on
    with pytest.raises(LegalError) as err:
        law.reconsideration_filed(order, VICTIM, "I want it stopped", T0)
    assert err.value.code == "court_only"


def test_a_device_is_released_by_the_order_s_court_or_an_admin_with_a_reason_and_never_silently():
    order = ordinary()
    event = law.release_device(order, COURT, "victim", "device", "phone-001", "owntracks/her/phone", "phone lost", T0)
    assert (event.event, event.reason, event.role) == ("device_released", "phone lost", "court")
    assert event.details == {"role": "victim", "what": "device", "device_id": "phone-001",
                             "owntracks_topic": "owntracks/her/phone"}  # the topic stood for it: it goes too
    admin = law.release_device(order, Actor("root", "admin"), "victim", "owntracks_topic", "phone-001",
                               "owntracks/her/phone", "court B's order, agreed with court A", T0)
    assert admin.details == {"role": "victim", "what": "owntracks_topic", "owntracks_topic": "owntracks/her/phone"}
    refused = [
        ((order, VICTIM, "victim", "device", "phone-001", None, "I consent to contact", T0), "court_only"),
        ((order, POLICE, "victim", "device", "phone-001", None, "reason", T0), "court_only"),
        ((order, COURT, "victim", "device", "phone-001", None, " ", T0), "reason_required"),
        ((order, COURT, "respondent", "device", "trk-001", None, "broken", T0), "device_required"),
        ((order, COURT, "victim", "owntracks_topic", "phone-001", None, "reason", T0), "nothing_to_release"),
        ((order, COURT, "victim", "sim_card", "phone-001", None, "reason", T0), "bad_release"),
        ((order, COURT, "witness", "device", "phone-001", None, "reason", T0), "bad_party"),
        ((law.cancel(order, COURT, "set aside", T0)[0], COURT, "victim", "device", "phone-001", None, "reason", T0),
         "order_ended"),
    ]
    for args, code in refused:
        with pytest.raises(LegalError) as err:
            law.release_device(*args)
        assert err.value.code == code, args


def test_a_refused_device_reads_the_same_whatever_the_reason():
    """The refusal carries nothing but the caller's own field: no order, court, person or reason."""
    a, b = law.DeviceUnavailable("victim.device_id"), law.DeviceUnavailable("victim.device_id")
    assert (str(a), a.field, a.code) == (str(b), b.field, "device_unavailable")
    topic = law.DeviceUnavailable("respondent.owntracks_topic")
    assert "OwnTracks topic" in str(topic) and topic.field == "respondent.owntracks_topic"
    assert isinstance(a, law.InvalidInput)  # the import's command line reports it like any bad file


def test_a_new_order_s_id_is_refused_with_one_answer_unless_it_is_the_court_s_own_order_in_force():
    """Ids are unique across courts and never reused; only the court's own order in force is named as such."""
    law.new_order_id("PSO-9", "court-xinjin", None)  # free
    with pytest.raises(LegalError) as own:
        law.new_order_id("PSO-1", "court-xinjin", ordinary())
    assert (own.value.code, own.value.message) == ("exists", "order PSO-1 exists; modify it instead")
    ended = law.cancel(ordinary(), COURT, "set aside", T0)[0]
    refusals = []
    for order_id, existing in (("PSO-1", replace(ordinary(), court_id="court-pidu")),  # another court's
                               ("PSO-1", replace(ended, court_id="court-pidu")),
                               ("PSO-1", ended), ("..", None), (".", None)):
        with pytest.raises(law.OrderIdUnavailable) as refused:
            law.new_order_id(order_id, "court-xinjin", existing)
        refusals.append((refused.value.code, refused.value.message, refused.value.field))
    assert len(set(refusals)) == 1 and refusals[0][0] == "order_id_unavailable"
    assert "PSO-1" not in refusals[0][1] and "court" not in refusals[0][1].replace("across courts", "")

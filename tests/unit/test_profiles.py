"""Legal profiles (service.domain.profiles) and the law's rules that come from them (service.domain.law)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from service.domain import law, profiles
from service.domain.law import Actor, LegalError, OrderStatus
from service.errors import ConfigError
from service.settings import Settings

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
COURT = Actor("judge-li", "court")
ADVL = profiles.get("prc-advl-2016")
DRAFT = profiles.get("expert-draft")


def order(profile: profiles.LegalProfile, expires: datetime | None = None, kind: str = "ordinary") -> law.Standing:
    return law.issue("PSO-1", kind, "court-xinjin", T0, expires, COURT, T0, profile)[0]


def test_every_rule_of_every_profile_cites_its_source_and_the_law_in_force_is_the_default() -> None:
    assert set(profiles.PROFILES) == {"prc-advl-2016", "expert-draft"} and profiles.DEFAULT == "prc-advl-2016"
    for profile in profiles.PROFILES.values():
        for name, rule in profile.rules().items():
            assert rule.source.startswith("ADVL Art." if profile is ADVL else "draft Art"), (profile.name, name)
    assert (ADVL.term.months, ADVL.term.source) == (6, "ADVL Art. 30")
    assert (DRAFT.term.months, DRAFT.extension.max_count, DRAFT.extension.months) == (12, 1, 12)
    assert (ADVL.reconsideration.days, ADVL.reconsideration.court, ADVL.reconsideration.once) == (5, "issuing", True)
    assert (DRAFT.reconsideration.days, DRAFT.reconsideration.court, DRAFT.reconsideration.from_) == (
        10, "higher", "receipt")
    assert ADVL.service.parties == ("respondent", "victim", "police", "committee")
    assert DRAFT.service.parties[-1] == "anti_dv_committee" and DRAFT.service.due == timedelta(hours=24)
    assert (ADVL.issue_deadline.hours, ADVL.issue_deadline.urgent_hours) == (72, 24)
    assert (DRAFT.issue_deadline.hours, DRAFT.issue_deadline.urgent_hours) == (48, 24)


def test_a_court_s_own_profile_comes_first_then_the_setting_then_the_law_in_force() -> None:
    assert profiles.resolve("expert-draft", "prc-advl-2016") is DRAFT
    assert profiles.resolve(None, "expert-draft") is DRAFT
    assert profiles.resolve(None, None) is ADVL
    with pytest.raises(profiles.UnknownProfile):
        profiles.resolve("prc-2041", None)
    assert Settings.from_env({}).legal_profile == "prc-advl-2016"
    assert Settings.from_env({"STAYAWAY_LEGAL_PROFILE": "expert-draft"}).legal_profile == "expert-draft"
    with pytest.raises(ConfigError, match="STAYAWAY_LEGAL_PROFILE"):
        Settings.from_env({"STAYAWAY_LEGAL_PROFILE": "lenient"})


def test_under_the_law_in_force_an_ordinary_order_runs_at_most_six_months_and_gets_them_by_default() -> None:
    assert order(ADVL).expires_at == datetime(2027, 5, 20, 9, 0, tzinfo=UTC)
    assert law.add_months(datetime(2026, 8, 31, tzinfo=UTC), 6) == datetime(2027, 2, 28, tzinfo=UTC)
    assert order(ADVL, datetime(2027, 5, 20, 9, 0, tzinfo=UTC)).expires_at == datetime(2027, 5, 20, 9, 0, tzinfo=UTC)
    for too_long in (datetime(2027, 5, 20, 9, 0, 1, tzinfo=UTC), datetime(2036, 11, 20, 9, 0, tzinfo=UTC)):
        with pytest.raises(LegalError) as err:
            order(ADVL, too_long)
        assert (err.value.code, err.value.field) == ("term_too_long", "expires_at")
        assert "prc-advl-2016" in err.value.message and "ADVL Art. 30" in err.value.message
    assert order(DRAFT, datetime(2027, 11, 20, 9, 0, tzinfo=UTC)).expires_at == datetime(2027, 11, 20, 9, tzinfo=UTC)
    with pytest.raises(LegalError, match="draft Art. 51"):
        order(DRAFT, datetime(2027, 11, 20, 9, 0, 1, tzinfo=UTC))


def test_a_temporary_order_under_the_law_in_force_is_undecided_and_any_expiry_it_has_is_held_to_six_months() -> None:
    temporary = order(ADVL, None, "temporary")
    assert temporary.expires_at is None and law.undecided(temporary)
    with pytest.raises(LegalError) as err:
        order(ADVL, datetime(2027, 6, 1, tzinfo=UTC), "temporary")
    assert err.value.code == "term_too_long"
    assert order(DRAFT, datetime(2027, 6, 1, tzinfo=UTC), "temporary").expires_at  # the draft gives it no term
    assert not law.undecided(order(ADVL)) and not law.undecided(replace(temporary, status=OrderStatus.SUPERSEDED))


def test_a_stored_order_beyond_its_profile_s_term_is_named_never_shortened() -> None:
    one_year = order(DRAFT)
    assert law.term_breach(one_year, DRAFT) is None
    why = law.term_breach(one_year, ADVL)
    assert why is not None and "prc-advl-2016" in why and "ADVL Art. 30" in why
    extended, _ = law.extend(order(ADVL), datetime(2027, 11, 20, 9, tzinfo=UTC), COURT, "risk", T0, ADVL)
    assert law.term_breach(extended, ADVL) is None  # its extension is on record
    assert law.term_breach(replace(order(ADVL), expires_at=None), ADVL) is not None
    assert law.term_breach(order(ADVL, None, "temporary"), ADVL) is None  # undecided, not beyond a term
    assert law.term_breach(replace(one_year, status=OrderStatus.CANCELLED), ADVL) is None


def test_under_the_law_in_force_an_order_is_extended_before_it_lapses_by_six_months_each_time() -> None:
    first, event = law.extend(order(ADVL), datetime(2027, 11, 20, 9, tzinfo=UTC), COURT, "risk", T0 + timedelta(days=9),
                              ADVL, T0 + timedelta(days=8))
    assert first.extensions == 1 and event.details["decided_at"] == T0 + timedelta(days=8)
    second, _ = law.extend(first, datetime(2028, 5, 20, 9, tzinfo=UTC), COURT, "risk", T0 + timedelta(days=300), ADVL)
    assert second.extensions == 2
    with pytest.raises(LegalError) as too_long:
        law.extend(second, datetime(2028, 11, 20, 9, 0, 1, tzinfo=UTC), COURT, "risk", T0 + timedelta(days=400), ADVL)
    assert too_long.value.code == "extension_too_long" and "ADVL Art. 30" in too_long.value.message
    lapsed = order(ADVL)
    with pytest.raises(LegalError) as late:  # entered now, decided after it lapsed
        law.extend(lapsed, datetime(2027, 8, 1, tzinfo=UTC), COURT, "risk", datetime(2027, 6, 1, tzinfo=UTC), ADVL,
                   datetime(2027, 5, 21, tzinfo=UTC))
    assert (late.value.code, late.value.field) == ("bad_decision_date", "decided_at")


def test_the_court_s_steps_take_effect_at_its_decision_date_which_lies_between_issue_and_now() -> None:
    decided = T0 + timedelta(days=5)
    cancelled, event = law.cancel(order(ADVL), COURT, "set aside", T0 + timedelta(days=9), decided)
    assert cancelled.ended_at == decided and event.at == T0 + timedelta(days=9) and event.details["decided_at"] == decided
    assert law.cancel(order(ADVL), COURT, "set aside", T0 + timedelta(days=9))[0].ended_at == T0 + timedelta(days=9)
    for bad in (T0 - timedelta(seconds=1), T0 + timedelta(days=10)):
        with pytest.raises(LegalError) as err:
            law.cancel(order(ADVL), COURT, "set aside", T0 + timedelta(days=9), bad)
        assert (err.value.code, err.value.field) == ("bad_decision_date", "decided_at")
    ended, _ = law.end_application(order(ADVL, None, "temporary"), "withdrawn", COURT, "she withdrew",
                                   T0 + timedelta(days=9), decided)
    assert ended.ended_at == decided
    event = law.modify(order(ADVL), COURT, "hearing", T0 + timedelta(days=9), ["zones"], decided, T0)
    assert event.details["decided_at"] == decided
    with pytest.raises(LegalError, match="version in force"):
        law.modify(order(ADVL), COURT, "hearing", T0 + timedelta(days=9), ["zones"], decided, T0 + timedelta(days=6))


def test_legal_fields_change_only_through_the_court_s_steps_and_the_refusal_names_the_step() -> None:
    stored = order(ADVL)
    law.check_legal_fields(stored, "ordinary", "court-xinjin", T0, stored.expires_at)  # the same: fine
    cases = [("expires_at", ("ordinary", "court-xinjin", T0, datetime(2041, 1, 1, tzinfo=UTC)), "/extend"),
             ("expires_at", ("ordinary", "court-xinjin", T0, None), "/extend"),
             ("type", ("temporary", "court-xinjin", T0, stored.expires_at), "supersedes"),
             ("issued_at", ("ordinary", "court-xinjin", T0 + timedelta(days=1), stored.expires_at), "new order"),
             ("court", ("ordinary", "court-pidu", T0, stored.expires_at), "another court")]
    for field, args, step in cases:
        with pytest.raises(LegalError) as err:
            law.check_legal_fields(stored, *args)
        assert (err.value.code, err.value.field) == ("legal_field", field) and step in err.value.message
    with pytest.raises(LegalError, match="POST /api/v1/orders/PSO-1/extend"):
        law.check_legal_fields(stored, "ordinary", "court-xinjin", T0, datetime(2041, 1, 1, tzinfo=UTC))


def test_reconsideration_is_filed_within_the_profile_s_window_at_its_court_and_suspends_nothing() -> None:
    advl = order(ADVL)
    event = law.reconsideration_filed(advl, COURT, "respondent applied", T0 + timedelta(days=9), ADVL,
                                      T0 + timedelta(days=4))
    assert event.details == {"suspends": False, "filed_at": T0 + timedelta(days=4), "court": "court-xinjin",
                             "window_ends": T0 + timedelta(days=5), "profile": "prc-advl-2016"}
    refusals = [((T0 + timedelta(days=5, seconds=1), None, None, 0), "reconsideration_window"),
                ((T0 + timedelta(days=1), "court-chengdu", None, 0), "reconsideration_court"),
                ((T0 + timedelta(days=1), None, None, 1), "reconsideration_once"),
                ((T0 + timedelta(days=30), None, None, 0), "bad_decision_date")]  # in the future
    for (filed, court, received, earlier), code in refusals:
        with pytest.raises(LegalError) as err:
            law.reconsideration_filed(advl, COURT, "why", T0 + timedelta(days=9), ADVL, filed, court, received, earlier)
        assert err.value.code == code, code
    draft = order(DRAFT)
    served = T0 + timedelta(days=2)
    with pytest.raises(LegalError) as own_court:  # the next higher court reconsiders
        law.reconsideration_filed(draft, COURT, "why", T0 + timedelta(days=9), DRAFT, None, "court-xinjin", served)
    assert own_court.value.code == "reconsideration_court" and "draft Art. 55" in own_court.value.message
    event = law.reconsideration_filed(draft, COURT, "why", T0 + timedelta(days=12), DRAFT, None, "court-chengdu",
                                      served, 1)  # 10 days of his receipt; no "once" in the draft
    assert event.details["court"] == "court-chengdu" and event.details["window_ends"] == served + timedelta(days=10)
    with pytest.raises(LegalError) as late:
        law.reconsideration_filed(draft, COURT, "why", T0 + timedelta(days=13), DRAFT, None, "court-chengdu", served)
    assert late.value.code == "reconsideration_window"
    unserved = law.reconsideration_filed(draft, COURT, "why", T0 + timedelta(days=40), DRAFT, None, "court-chengdu")
    assert unserved.details["window_ends"] is None  # his receipt is not on record: the window has not begun


def test_a_reconsideration_s_outcome_is_recorded_and_needs_a_pending_application() -> None:
    advl = order(ADVL)
    filed = law.reconsideration_filed(advl, COURT, "applied", T0 + timedelta(days=3), ADVL)
    decided = law.reconsideration_decided(advl, filed, "upheld", COURT, "no new facts", T0 + timedelta(days=8),
                                          T0 + timedelta(days=7))
    assert decided.event == "reconsideration_decided" and decided.details["outcome"] == "upheld"
    assert decided.details["decided_at"] == T0 + timedelta(days=7) and decided.details["court"] == "court-xinjin"
    with pytest.raises(LegalError) as none:
        law.reconsideration_decided(advl, None, "upheld", COURT, "x", T0 + timedelta(days=8))
    assert none.value.code == "no_reconsideration"
    with pytest.raises(LegalError) as bad:
        law.reconsideration_decided(advl, filed, "suspended", COURT, "x", T0 + timedelta(days=8))
    assert bad.value.code == "bad_outcome"
    with pytest.raises(LegalError) as early:
        law.reconsideration_decided(advl, filed, "upheld", COURT, "x", T0 + timedelta(days=8), T0 + timedelta(days=2))
    assert early.value.code == "bad_decision_date"


def test_service_follows_the_profile_s_list() -> None:
    served = {p: T0 for p in ADVL.service.parties}
    assert law.service_overdue(order(ADVL), served, T0 + timedelta(days=2), ADVL) == []
    assert law.service_overdue(order(DRAFT), served, T0 + timedelta(days=2), DRAFT) == ["anti_dv_committee"]
    law.record_service(order(DRAFT), "anti_dv_committee", T0, COURT, None, T0 + timedelta(hours=1), DRAFT)
    with pytest.raises(LegalError) as err:
        law.record_service(order(ADVL), "anti_dv_committee", T0, COURT, None, T0 + timedelta(hours=1), ADVL)
    assert err.value.code == "bad_party" and "ADVL Art. 32" in err.value.message


def test_a_temporary_order_s_expiry_is_held_to_its_profile_s_term_the_draft_s_by_the_ordinary_year() -> None:
    assert DRAFT.term.caps("temporary") and ADVL.term.caps("temporary") and "draft Art. 51" in DRAFT.term.temporary
    assert law.term_limit("temporary", T0, DRAFT) == datetime(2027, 11, 20, 9, 0, tzinfo=UTC)
    assert order(DRAFT, datetime(2027, 11, 20, 9, 0, tzinfo=UTC), "temporary").expires_at  # a year: accepted
    for too_long in (datetime(2027, 11, 20, 9, 0, 1, tzinfo=UTC), datetime(2036, 11, 20, 9, 0, tzinfo=UTC)):
        with pytest.raises(LegalError) as err:
            order(DRAFT, too_long, "temporary")
        assert (err.value.code, err.value.field) == ("term_too_long", "expires_at")
        assert "expert-draft" in err.value.message and "draft Art. 51" in err.value.message
        assert "stayaway's reading" in err.value.message and "2027-11-20T09:00:00Z" in err.value.message
    assert order(DRAFT, None, "temporary").expires_at is None  # without an expiry: undecided, as before
    stored = replace(order(DRAFT, None, "temporary"), expires_at=datetime(2036, 11, 20, 9, 0, tzinfo=UTC))
    why = law.term_breach(stored, DRAFT)  # stored before the cap held: flagged, never shortened
    assert why is not None and "draft Art. 51" in why and "stayaway's reading" in why


def test_an_order_undecided_longer_than_its_profile_s_term_is_named() -> None:
    temporary = order(ADVL, None, "temporary")
    assert law.undecided_too_long(temporary, datetime(2027, 5, 20, 9, 0, tzinfo=UTC), ADVL) is None  # 6 months
    why = law.undecided_too_long(temporary, datetime(2027, 5, 20, 9, 0, 1, tzinfo=UTC), ADVL)
    assert why is not None and "temporary order" in why and "prc-advl-2016" in why and "ADVL Art. 30" in why
    late = datetime(2027, 6, 1, tzinfo=UTC)
    assert law.undecided_too_long(order(DRAFT, None, "temporary"), late, DRAFT) is None  # the draft's year
    why = law.undecided_too_long(order(DRAFT, None, "temporary"), datetime(2027, 11, 21, tzinfo=UTC), DRAFT)
    assert why is not None and "draft Art. 51" in why and "stayaway's reading" in why
    no_expiry = replace(order(ADVL), expires_at=None)  # an ordinary order without expiry (stored data)
    assert law.undecided_too_long(no_expiry, late, ADVL) is not None
    assert law.undecided_too_long(order(ADVL), late, ADVL) is None  # decided: it has its own end
    assert law.undecided_too_long(replace(temporary, status=OrderStatus.SUPERSEDED), late, ADVL) is None

"""What her phone is told, in her language, saying only what truly happened (issue 13, items 3 and 5)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from alerts import JurisdictionIndex
from alerts.lifecycle import Actor, acknowledge, dispatch, on_scene, refer, resolve
from geofence import FrameCache
from service.domain import notices
from service.domain.directory import Directory
from service.domain.monitoring import Changes, Monitor
from service.domain.orders import parse_agencies, parse_order
from service.domain.responsibility import (
    NoPoliceAgency,
    UnknownPoliceAgency,
    require_police,
    responsible_police,
    zones_outside,
)
from service.wire import PanicPress
from tests.unit.builders import (
    T0,
    agencies_collection,
    example_order,
    north_of_home,
    seconds,
)
from tests.unit.test_monitor_rules import PHONE, TRK

COORDS = re.compile(r"\d+\.\d{3,}")  # a coordinate or a precise distance


def test_every_topic_and_word_has_both_languages() -> None:
    assert notices.check_tables() == []


@pytest.mark.parametrize(("tag", "want"), [("zh-CN", "zh"), ("zh_Hans", "zh"), ("en", "en"), ("en-GB", "en"),
                                           ("fr", "zh"), (None, "zh"), (42, "zh")])
def test_her_locale_picks_chinese_or_english_and_chinese_by_default(tag: object, want: str) -> None:
    assert notices.locale_of(tag) == want


def test_police_are_named_only_when_police_were_reached() -> None:
    assert "110" not in notices.reached("Xinjin police", "Xinjin court", "en")
    assert "Xinjin police" in notices.reached("Xinjin police", "Xinjin court", "en")
    court_only = notices.reached(None, "Xinjin court", "en")
    assert "110" in court_only and "Police" not in court_only and "could be" in court_only
    assert "110" in notices.reached(None, "法院", "zh") and "警方（" not in notices.reached(None, "法院", "zh")


# -- the responsible police agency ---------------------------------------------------------------------------------

AGENCIES = parse_agencies(agencies_collection())
INDEX = JurisdictionIndex(AGENCIES)
KINDS = {a.agency_id: a.kind for a in AGENCIES}
FAR_AWAY = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [104.5, 31.0]},  # outside both squares
            "properties": {"zone_id": "school", "kind": "school", "name": "School", "radius_m": 200}}


def with_zones(*features: dict[str, Any], **extra: Any) -> Any:
    return parse_order(example_order(zones={"type": "FeatureCollection", "features": list(features)}, **extra))


def test_the_responsible_police_is_the_order_s_own_else_her_home_s_else_a_zone_s() -> None:
    order = example_order()
    home, work = order["zones"]["features"]
    assert responsible_police(parse_order(order), INDEX, KINDS) == "police-west"  # her home is west
    assert responsible_police(with_zones(work, home), INDEX, KINDS) == "police-west"  # home first, whatever the order
    assert responsible_police(with_zones(FAR_AWAY, work), INDEX, KINDS) == "police-east"  # no home: a zone's
    assert responsible_police(parse_order(example_order(police_agency_id="police-east")), INDEX, KINDS) == "police-east"


def test_an_order_no_police_agency_answers_for_is_refused_and_a_wrong_agency_named() -> None:
    with pytest.raises(NoPoliceAgency) as refused:
        require_police(with_zones(FAR_AWAY), INDEX, KINDS)
    assert refused.value.field == "police_agency_id" and "every safety alert must reach police" in str(refused.value)
    with pytest.raises(UnknownPoliceAgency):
        responsible_police(parse_order(example_order(police_agency_id="court-xinjin")), INDEX, KINDS)
    assert require_police(with_zones(FAR_AWAY, police_agency_id="police-east"), INDEX, KINDS) == "police-east"


def test_zones_outside_every_jurisdiction_are_named() -> None:
    home, work = example_order()["zones"]["features"]
    assert zones_outside(with_zones(home, FAR_AWAY, work), INDEX) == ["school"]


# -- what the monitor tells her ------------------------------------------------------------------------------------

class Phone:
    """A monitor with one order; ``agencies`` known by name (the serve loads them)."""

    def __init__(self, body: dict[str, Any], agencies: Any = AGENCIES) -> None:
        ids = (f"alert-{n}" for n in itertools.count(1))
        self.monitor = Monitor(FrameCache(), Directory(agencies), lambda: next(ids))
        self.monitor.load_order(parse_order(body), T0)
        self.seq = 0

    def tracker(self, at_s: float, north_m: float) -> Changes:
        from service.wire import LocationReport

        self.seq += 1
        lat, lon = north_of_home(north_m)
        changes = Changes()
        ts = T0 + seconds(at_s)
        self.monitor.on_location(LocationReport(TRK, self.seq, ts, lat, lon, 5.0, ts + seconds(1), b"{}"),
                                 ts + seconds(1), changes)
        return changes

    def panic(self, at_s: float, silent: bool = False) -> Changes:
        changes = Changes()
        ts = T0 + seconds(at_s)
        lat, lon = north_of_home(0)
        self.monitor.on_panic(PanicPress(PHONE, 1, ts, ts + seconds(1), b"{}", lat, lon, 8.0, silent=silent),
                              ts + seconds(1), changes)
        return changes

    def act(self, alert_id: str, step: Any) -> Changes:
        changes = Changes()
        self.monitor.act(alert_id, step, changes)
        return changes


def told(changes: Changes) -> list[dict[str, Any]]:
    return [c.body for c in changes.commands if c.channel == "notices" and c.device_id == PHONE]


def test_her_notices_are_in_chinese_by_default_and_in_english_when_her_locale_says_so() -> None:
    zh = told(Phone(example_order(min_distance_m=None, pre_alert_m=None)).tracker(0, 0))
    en_order = example_order(min_distance_m=None, pre_alert_m=None)
    en_order["victim"]["locale"] = "en-GB"
    en = told(Phone(en_order).tracker(0, 0))
    assert [(n["topic"], n["locale"], n["kind"]) for n in zh] == [("breach", "zh", "warning")]
    assert [(n["topic"], n["locale"]) for n in en] == [("breach", "en")]
    assert "已通知警方（Police West）和法院" in zh[0]["text"]
    assert "Police (Police West) and the court have been alerted." in en[0]["text"]


def test_where_no_police_agency_was_reached_she_is_told_so_and_to_call_110() -> None:
    only_court = [a for a in AGENCIES if a.kind == "court"]
    order = example_order(min_distance_m=None, pre_alert_m=None)
    order["victim"]["locale"] = "en"
    [notice] = told(Phone(order, only_court).tracker(0, 0))
    assert "110" in notice["text"] and "Police (" not in notice["text"]


def test_a_location_outside_every_jurisdiction_reaches_the_responsible_police() -> None:
    phone = Phone(example_order(police_agency_id="police-east", min_distance_m=None, pre_alert_m=None))
    far = Changes()
    phone.monitor.on_panic(PanicPress(PHONE, 1, T0, T0 + seconds(1), b"{}", 31.0, 104.5, 8.0), T0 + seconds(1), far)
    [raised] = [e for e in far.events if e.event.alert.kind.value == "panic"]
    assert raised.recipients == ("police-east", "court-xinjin")


def test_she_follows_her_alert_from_acknowledgement_to_outcome_in_plain_words() -> None:
    order = example_order(min_distance_m=None, pre_alert_m=None)
    order["victim"]["locale"] = "en"
    phone = Phone(order)
    [raised] = [e.event.alert for e in phone.panic(0).events if e.event.alert.kind.value == "panic"]
    officer = Actor("officer-1", agency_id="police-west")
    steps = [
        lambda a: acknowledge(a, officer, T0 + seconds(30)),
        lambda a: dispatch(a, officer, T0 + seconds(60), "unit 7"),
        lambda a: on_scene(a, officer, T0 + seconds(600)),
        lambda a: resolve(a, officer, T0 + seconds(900), "respondent_warned", "warned at the door"),
    ]
    said = [told(phone.act(raised.alert_id, step)) for step in steps]
    assert [[(n["topic"], n["kind"]) for n in s] for s in said] == [
        [("acknowledged", "info")], [("dispatch", "info")], [("on_scene", "info")], [("outcome", "info")]]
    assert "Police West" in said[1][0]["text"] and "the respondent was warned" in said[3][0]["text"]
    for s in said:
        assert not COORDS.search(s[0]["text"]) and s[0]["alert_id"] == raised.alert_id


def test_a_referral_and_an_escalation_are_told_and_a_silent_panic_tells_nothing() -> None:
    order = example_order(min_distance_m=None, pre_alert_m=None)
    order["victim"]["locale"] = "en"
    phone = Phone(order)
    [raised] = [e.event.alert for e in phone.panic(0).events if e.event.alert.kind.value == "panic"]
    officer = Actor("officer-1", agency_id="police-west")
    [referral] = told(phone.act(raised.alert_id, lambda a: refer(a, officer, T0 + seconds(30), "police-east", "theirs")))
    assert referral["topic"] == "referral" and "Police East" in referral["text"]
    quiet = Phone(order)
    silent = quiet.panic(0, silent=True)
    assert told(silent) == []
    ticked = Changes()
    quiet.monitor.on_tick(T0 + seconds(3600), ticked)
    assert [e for e in ticked.events if e.event.event.value == "escalated"]  # it did escalate...
    assert told(ticked) == []  # ...and her phone showed nothing of it
    loud = Phone(order)
    loud.panic(0)
    escalated = Changes()
    loud.monitor.on_tick(T0 + seconds(3600), escalated)
    assert "escalation" in {n["topic"] for n in told(escalated)}


def test_no_notice_is_ever_sent_to_his_tracker() -> None:
    phone = Phone(example_order())
    for changes in (phone.tracker(0, 2000), phone.tracker(30, 0), phone.panic(40), phone.tracker(60, 3000)):
        assert all(c.device_id != TRK for c in changes.commands)

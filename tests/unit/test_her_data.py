"""The one cut of her data (service.domain.her_data.without_her_data), as properties: without the right,
what comes out never depends on anything but the fields listed as safe, whatever else an item holds; with
it, the item comes out whole. The moving zone's moments (F4): without the right, an alert, event or
message of the moving zone says nothing but its buckets, and the withheld windows of his track depend on
nothing else either."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from alerts import Kind
from alerts.policy import breach_continues, breach_started
from geofence import Fix
from service.domain.her_data import (
    ALERT_FIELDS,
    BUCKET,
    MAP_FIELDS,
    MARGIN,
    MOVING_ZONE_FIELDS,
    Fields,
    floor,
    is_moving_zone,
    shown_events,
    stream_message,
    withheld,
    withheld_windows,
    without_her_data,
)
from service.domain.orders import ZoneSpec
from service.wire.encode import alert_message

HER_KEYS = ("victim", "distance_m", "depth_m", "eta_s", "confidence", "victim_fix_age_s", "zones", "between_m",
            "to_zone_m", "geometry", "radius_m")
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
# objects that are kept, but only with their listed fields: a field added to one of them tomorrow stays out
OBJECTS = {id(ALERT_FIELDS): ("respondent", "zone", "escalation"), id(MAP_FIELDS): ("alerts", "distance")}

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
names = st.sampled_from(sorted(ALERT_FIELDS) + sorted(MAP_FIELDS) + list(HER_KEYS)
                        + ["lat", "lon", "acc", "ts", "t", "level"]) | st.text(max_size=10)


def items(fields: Fields) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts shaped like ``fields`` (nested dicts and lists of dicts where a rule nests), with any other keys."""
    def value(rule: Any) -> st.SearchStrategy[Any]:
        if isinstance(rule, dict):
            return json_values | items(rule) | st.lists(items(rule), max_size=3)
        return json_values

    return st.fixed_dictionaries({}, optional={k: value(rule) for k, rule in fields.items()}).flatmap(
        lambda known: st.dictionaries(names, json_values, max_size=4).map(lambda extra: {**extra, **known}))


def allowed_only(value: Any, fields: Fields) -> bool:
    """Every key in ``value`` is listed in ``fields``, and nested where a rule nests."""
    for k, v in value.items():
        rule = fields.get(k)
        if rule is None or rule is False:
            return False
        if isinstance(rule, dict):
            if isinstance(v, dict) and not allowed_only(v, rule):
                return False
            if isinstance(v, list) and not all(isinstance(x, dict) and allowed_only(x, rule) for x in v):
                return False
            if not isinstance(v, dict | list) and v is not None:
                return False
    return True


def her_part(fields: Fields) -> st.SearchStrategy[dict[str, Any]]:
    """Anything at all under keys no rule lists (her data, a field added tomorrow), top level and nested."""
    unlisted = names.filter(lambda k: k not in fields)
    return st.dictionaries(unlisted, json_values, max_size=4)


@given(st.sampled_from([ALERT_FIELDS, MAP_FIELDS]).flatmap(lambda f: st.tuples(st.just(f), items(f))))
def test_without_the_right_only_listed_fields_come_out_and_each_whole(case) -> None:  # type: ignore[no-untyped-def]
    fields, item = case
    assume(fields is not ALERT_FIELDS or not is_moving_zone(item))  # the moving zone's: below
    out = without_her_data(item, False, fields)
    assert allowed_only(out, fields)
    for k, rule in fields.items():
        if rule is True and k in item:
            assert out[k] == item[k]  # nothing safe is lost or changed
    assert without_her_data(out, False, fields) == out  # cutting twice cuts nothing more


def vary(data: st.DataObject, value: Any, fields: Fields) -> Any:
    """``value`` with whatever only she (or a field added tomorrow) decides changed: every key no rule lists,
    at any depth, dropped, replaced or added; every listed value kept."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for k, v in value.items():
        rule = fields.get(k)
        if rule is True:
            out[k] = v
        elif isinstance(rule, dict):
            out[k] = [vary(data, x, rule) for x in v] if isinstance(v, list) else vary(data, v, rule)
        elif data.draw(st.booleans()):
            out[k] = data.draw(json_values)
    return {**out, **data.draw(her_part(fields))}


@given(st.sampled_from([ALERT_FIELDS, MAP_FIELDS]).flatmap(lambda f: st.tuples(st.just(f), items(f))), st.data())
def test_without_the_right_nothing_out_depends_on_an_unlisted_field(case, data) -> None:  # type: ignore[no-untyped-def]
    fields, item = case
    assume(fields is not ALERT_FIELDS or not is_moving_zone(item))
    assert without_her_data(vary(data, item, fields), False, fields) == without_her_data(item, False, fields)
    for key in HER_KEYS:  # her data, at the top or inside an object that is kept (his fix, the zone's names)
        assert key not in without_her_data({**item, key: 1.0}, False, fields)
        for name in OBJECTS[id(fields)]:
            assert without_her_data({name: {key: 1.0}}, False, fields) == {name: {}}
            assert without_her_data({name: [{key: 1.0}]}, False, fields) == {name: [{}]}


@given(st.sampled_from([ALERT_FIELDS, MAP_FIELDS]).flatmap(items))
def test_with_the_right_the_item_comes_out_whole(item) -> None:  # type: ignore[no-untyped-def]
    out = without_her_data(item, True)
    assert out == item and out is not item


fixes = st.builds(Fix, st.floats(-80, 80), st.floats(-179, 179), st.floats(1, 500),
                  st.just(T0 - timedelta(seconds=5)))


@given(kind=st.sampled_from([Kind.ZONE_BREACH, Kind.PROXIMITY, Kind.PRE_ALERT]), update=st.booleans(),
       agency_kind=st.sampled_from(["police", "court", "support"]),
       her=st.tuples(fixes, st.floats(0, 5000), st.sampled_from(["confirmed", "possible"]), st.floats(0, 600)),
       other=st.tuples(fixes, st.floats(0, 5000), st.sampled_from(["confirmed", "possible"]), st.floats(0, 600)),
       his=fixes)
def test_an_agency_s_alert_message_cut_says_the_same_wherever_she_is(kind, update, agency_kind, her, other,
                                                                      his) -> None:  # type: ignore[no-untyped-def]
    """The real messages (``service.wire.encode``, as the stream and the timeline read them): her fix, the
    distance, the confidence and the ETA vary with where she is; the cut message does not."""
    zone = ZoneSpec("home", "home", "Her home", {"type": "Point", "coordinates": [0.0, 0.0]}, 300.0) \
        if kind != Kind.PROXIMITY else None

    def message(fix: Fix, distance: float, confidence: str, eta: float) -> dict[str, Any]:
        details = {"confidence": confidence, "eta_s": eta, "depth_m": distance, "min_distance_m": 500.0}
        event = breach_started("a-1", "PSO-1", zone and zone.zone_id, T0, T0, False, details, kind=kind)
        if update:
            event = breach_continues(event.alert, T0 + timedelta(seconds=60), T0 + timedelta(seconds=60), details)
        return alert_message(event, "police-west", agency_kind, his, fix, zone, distance)

    a, b = message(*her), message(*other)
    assert without_her_data(a, False) == without_her_data(b, False)
    cut = without_her_data(a, False)
    assert cut["kind"] == kind.value and cut.get("zone") == a.get("zone")
    if kind == Kind.PROXIMITY:  # the moving zone's: not his fix either (it lies on her circle)
        assert "respondent" not in cut and cut["coarse"] is True
    else:
        assert cut["respondent"] == a["respondent"]
    assert not set(HER_KEYS) & set(cut) and "distance_m" in a  # the message itself keeps it (contract section 2)
    assert without_her_data(a, True) == a


# -- the moving zone's moments (F4) -----------------------------------------------------------------------------

def _ts(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


instants = st.integers(0, 86_400 * 1000).map(lambda ms: T0 + timedelta(milliseconds=ms))
delays = st.integers(0, 4 * 3600).map(lambda s: timedelta(seconds=s))


def same_bucket(data: st.DataObject, at: datetime) -> datetime:
    """Another instant of ``at``'s bucket."""
    start = floor(at)
    return start + timedelta(milliseconds=data.draw(st.integers(0, int(BUCKET.total_seconds() * 1000) - 1)))


unlisted_moving = st.dictionaries(names.filter(lambda k: k not in MOVING_ZONE_FIELDS and k != "zone"), json_values,
                                  max_size=4)


@given(kind=st.sampled_from(["proximity", "pre_alert"]), raised=instants, ended=delays, steps=st.lists(delays, max_size=4),
       extra=unlisted_moving, other=unlisted_moving, data=st.data())
def test_a_moving_zone_alert_says_only_its_buckets(kind, raised, ended, steps, extra, other, data) -> None:  # type: ignore[no-untyped-def]
    """An alert of the moving zone as the lists give it: moved anywhere within the bucket of its raise and of
    its end (people answering as fast), with any other fields, it reads the same; its times are on the grid."""
    def alert(r: datetime, e: datetime, more: dict[str, Any]) -> dict[str, Any]:
        item = {**more, "alert_id": "a-1", "order_id": "PSO-1", "kind": kind, "zone_id": None, "status": "resolved",
                "condition": "ended", "event_seq": 9, "occurred_at": _ts(r), "raised_at": _ts(r),
                "last_event_at": _ts(max(e, r + max(steps, default=timedelta(0)))), "escalation_level": 2,
                "next_escalation_at": _ts(r + timedelta(seconds=120)), "recipients": ["police-west"]}
        for name, delay in zip(("acknowledged_at", "dispatched_at", "on_scene_at", "resolved_at"), steps, strict=False):
            item[name] = _ts(r + delay)
        return item

    moved, moved_end = same_bucket(data, raised), same_bucket(data, raised + ended)
    assume(moved_end >= moved)
    a = without_her_data(alert(raised, raised + ended, extra), False)
    b = without_her_data(alert(moved, moved_end, other), False)
    assert set(a) <= set(MOVING_ZONE_FIELDS) | {"coarse"} and a["coarse"] is True
    assert "event_seq" not in a and a["next_escalation_at"] is None
    for key in ("occurred_at", "raised_at", "last_event_at", "acknowledged_at", "resolved_at"):
        if key in a:
            at = datetime.fromisoformat(a[key])
            assert at == floor(at), key
    assert a == b
    assert without_her_data(alert(raised, raised + ended, extra), True)["raised_at"] == _ts(raised)


def episode(raised: datetime, ended: datetime, ack: timedelta, kind: str = "proximity") -> list[dict[str, Any]]:
    """The log of one moving-zone episode as the timeline reads it (in the log's order): raised, still
    inside every 30 s, escalations at the policy's seconds until acknowledged, the end, the officer's steps."""
    base = {"alert_id": f"{kind}-1", "kind": kind, "severity": "critical", "zone_id": None, "by": "system",
            "source": "monitor", "recipients": ["police-west", "court-xinjin"], "min_distance_m": 500}
    fix = {"lat": 30.4, "lon": 103.8, "acc": 5.0}
    log: list[tuple[datetime, dict[str, Any]]] = [(raised, {"event": "raised", "status": "open", "condition": "active"})]
    t = raised + timedelta(seconds=30)
    while t < ended:
        log.append((t, {"event": "updated", "status": "open", "condition": "active"}))
        t += timedelta(seconds=30)
    log.append((ended, {"event": "updated", "status": "open", "condition": "ended", "ended_at": _ts(ended)}))
    for seconds, level, action in ((60, 1, "renotify"), (120, 2, "supervisor"), (300, 3, "next_agency")):
        if timedelta(seconds=seconds) < ack:
            log.append((raised + timedelta(seconds=seconds), {"event": "escalated", "status": "open", "action": action,
                                                              "escalation": {"level": level, "action": action}}))
    log.append((raised + ack, {"event": "acknowledged", "status": "acknowledged", "by": "officer-li", "source": "api"}))
    log.append((raised + ack + timedelta(minutes=15), {"event": "resolved", "status": "resolved", "by": "officer-li",
                                                       "source": "api", "outcome": "respondent_warned"}))
    log.sort(key=lambda x: x[0])
    return [{**base, **e, "at": _ts(at), "respondent": {**fix, "ts": _ts(min(at, ended))}} for at, e in log]


@given(raised=instants, stay=st.integers(10, 3000), ack=st.integers(5, 900), data=st.data())
def test_a_moving_zone_episode_reads_the_same_wherever_it_fell_in_its_buckets(raised, stay, ack, data) -> None:  # type: ignore[no-untyped-def]
    """The timeline's events of an episode moved within the buckets of its start and end (officers answering
    as fast): the same events, the same times, the same order; none with his fix, none saying he is still
    inside, none placed by a time of its own (an escalation, an officer's step: by the raise's bucket)."""
    ended = raised + timedelta(seconds=stay)
    moved = same_bucket(data, raised)
    moved_end = same_bucket(data, ended)
    assume(moved_end > moved)
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=3)
    a = shown_events(episode(raised, ended, timedelta(seconds=ack)), False, since, until, {"proximity-1": raised})
    b = shown_events(episode(moved, moved_end, timedelta(seconds=ack)), False, since, until, {"proximity-1": moved})
    assert a == b
    assert all(e["coarse"] is True and "respondent" not in e and "event_seq" not in e for e in a)
    assert not [e for e in a if e["event"] == "updated" and e.get("condition") == "active"]
    assert [e["event"] for e in a][:2] == ["raised", "updated"] or floor(ended) > floor(raised)
    seen = shown_events(episode(raised, ended, timedelta(seconds=ack)), True, since, until)
    assert [e["at"] for e in seen] == sorted(e["at"] for e in seen) and all("respondent" in e for e in seen)


@given(spans=st.lists(st.tuples(instants, st.one_of(st.none(), delays)), max_size=4),
       latest=st.one_of(st.none(), instants), data=st.data())
def test_his_track_is_withheld_around_every_episode_by_its_buckets_only(spans, latest, data) -> None:  # type: ignore[no-untyped-def]
    """Every moment from ``MARGIN`` before an episode's start to ``MARGIN`` after its end (for ever while it
    lasts) is withheld, and from ``MARGIN`` before his latest fix on; moving the episodes within their
    buckets withholds the same."""
    episodes = [(a, None if d is None else a + d) for a, d in spans]
    windows = withheld_windows(episodes, latest)
    for a, b in episodes:
        for at in (a - MARGIN, a, a + (b - a) / 2 if b else a + timedelta(days=30), (b or a) + MARGIN - timedelta(milliseconds=1)):
            if b is not None or at >= a - MARGIN:
                assert withheld(at, windows)
    if latest is not None:
        assert withheld(latest - MARGIN, windows) and withheld(latest + timedelta(days=365), windows)
    moved = [(same_bucket(data, a), None if b is None else same_bucket(data, b)) for a, b in episodes]
    assume(all(b is None or b >= a for a, b in moved))
    assert withheld_windows(moved, None if latest is None else same_bucket(data, latest)) == windows


def test_a_supervisor_s_stream_message_of_the_moving_zone_has_no_fix_of_his_nor_a_time_of_its_own() -> None:
    fix = {"lat": 30.4, "lon": 103.8, "acc": 5.0, "ts": "2026-11-21T10:00:05.000Z"}
    common = {"alert_id": "a-1", "order_id": "PSO-1", "severity": "critical", "status": "open", "at": "2026-11-21T10:00:07.250Z",
              "occurred_at": "2026-11-21T10:00:05.000Z", "respondent": fix, "event_seq": 3, "event_id": "a-1:3"}
    breach = stream_message({**common, "kind": "zone_breach", "event": "raised", "condition": "active",
                             "zone": {"zone_id": "home", "kind": "home", "name": "Home"}, "distance_m": 12.0})
    assert breach is not None and breach["respondent"] == fix and "distance_m" not in breach and breach["at"] == common["at"]
    tamper = stream_message({**common, "kind": "strap_tamper", "event": "raised", "condition": "active"})
    assert tamper is not None and tamper["respondent"] == fix
    near = stream_message({**common, "kind": "proximity", "event": "raised", "condition": "active", "distance_m": 480.0})
    assert near is not None and "respondent" not in near and near["at"] == "2026-11-21T10:00:00.000Z"
    assert "event_seq" not in near and "event_id" not in near and near["coarse"] is True
    assert stream_message({**common, "kind": "proximity", "event": "updated", "condition": "active"}) is None
    assert stream_message({**common, "kind": "pre_alert", "event": "updated", "condition": "ended"}) is not None

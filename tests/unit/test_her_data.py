"""The one cut of her data (service.domain.her_data.without_her_data), as properties: without the right,
what comes out never depends on anything but the fields listed as safe, whatever else an item holds; with
it, the item comes out whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from alerts import Kind
from alerts.policy import breach_continues, breach_started
from geofence import Fix
from service.domain.her_data import ALERT_FIELDS, MAP_FIELDS, Fields, without_her_data
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
    assert cut["respondent"] == a["respondent"] and cut["kind"] == kind.value and cut.get("zone") == a.get("zone")
    assert not set(HER_KEYS) & set(cut) and "distance_m" in a  # the message itself keeps it (contract section 2)
    assert without_her_data(a, True) == a

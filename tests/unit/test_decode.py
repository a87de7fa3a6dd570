"""service.wire.decode against contract section 1: every rejection reason, flags, panic leniency, privacy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.wire import (
    MAX_ARRAY_ITEMS,
    Decoded,
    InvalidMessage,
    LocationReport,
    PanicPress,
    Reason,
    StatusReport,
    decode,
)
from service.wire.decode import MAX_PAYLOAD_BYTES

RECEIVED_AT = datetime(2026, 11, 21, 8, 16, 0, tzinfo=UTC)
DEVICE = "trk-001"
LOCATION_TOPIC = f"stayaway/v1/devices/{DEVICE}/location"
STATUS_TOPIC = f"stayaway/v1/devices/{DEVICE}/status"
PANIC_TOPIC = f"stayaway/v1/devices/{DEVICE}/panic"

LAT, LON = 30.4310123, 103.8615456  # privacy tests look for "30.431" and "103.861"
LOCATION = {"seq": 7, "ts": "2026-11-21T08:15:30.250Z", "lat": LAT, "lon": LON, "acc": 12.5,
            "spd": 1.4, "hdg": 270.0, "batt": 81, "src": "gps"}
STATUS = {"seq": 8, "ts": "2026-11-21T08:15:30Z", "batt": 80, "charging": False, "strap": "closed",
          "case": "closed", "gps": "fix"}
PANIC = {"seq": 9, "ts": "2026-11-21T08:15:30Z", "lat": LAT, "lon": LON, "acc": 8.0}
OMIT = object()


def message(base: dict[str, Any] = LOCATION, **overrides: Any) -> dict[str, Any]:
    """``base`` with ``overrides`` applied; a field set to OMIT is removed."""
    out = {**base, **overrides}
    return {k: v for k, v in out.items() if v is not OMIT}


def build_message(base: dict[str, Any] = LOCATION, **overrides: Any) -> bytes:
    return json.dumps(message(base, **overrides)).encode()


def only_report(decoded: Decoded) -> Any:
    assert decoded.rejections == []
    assert len(decoded.reports) == 1
    return decoded.reports[0]


def only_rejection(decoded: Decoded) -> InvalidMessage:
    assert decoded.reports == []
    assert len(decoded.rejections) == 1
    return decoded.rejections[0]


def rejected(payload: bytes, topic: str = LOCATION_TOPIC) -> tuple[Reason, str | None, int | None]:
    r = only_rejection(decode(topic, payload, RECEIVED_AT))
    assert r.payload == payload and r.topic == topic and r.received_at == RECEIVED_AT
    return r.reason, r.field, r.item_index


# -- accepted messages ---------------------------------------------------------------

def test_valid_single_location_is_decoded_field_by_field():
    payload = build_message()
    report = only_report(decode(LOCATION_TOPIC, payload, RECEIVED_AT))
    assert report == LocationReport(
        device_id=DEVICE, seq=7, ts=datetime(2026, 11, 21, 8, 15, 30, 250_000, tzinfo=UTC), lat=LAT, lon=LON,
        acc_m=12.5, received_at=RECEIVED_AT, raw=payload, spd_mps=1.4, hdg_deg=270.0, batt_pct=81, src="gps",
        flags=(),
    )


def test_valid_status_is_decoded():
    report = only_report(decode(STATUS_TOPIC, build_message(STATUS), RECEIVED_AT))
    assert isinstance(report, StatusReport)
    assert (report.seq, report.batt_pct, report.charging, report.strap, report.case, report.gps) == (
        8, 80, False, "closed", "closed", "fix")


@pytest.mark.parametrize("field, value", [
    ("lat", 90), ("lat", -90), ("lon", 180), ("lon", -180), ("acc", 0.001), ("spd", 0), ("hdg", 0),
    ("hdg", 360), ("batt", 0), ("batt", 100), ("seq", 0), ("src", "wifi"), ("src", "cell"),
])
def test_values_on_the_edge_of_their_range_are_accepted(field, value):
    report = only_report(decode(LOCATION_TOPIC, build_message(**{field: value}), RECEIVED_AT))
    assert report.flags == ()


def test_array_of_three_with_one_bad_element_keeps_the_two_good_ones():
    items = [message(seq=1), message(seq=2, acc=OMIT), message(seq=3)]
    decoded = decode(LOCATION_TOPIC, json.dumps(items).encode(), RECEIVED_AT)
    assert [r.seq for r in decoded.reports] == [1, 3]
    assert [json.loads(r.raw) for r in decoded.reports] == [items[0], items[2]]  # each keeps its own raw bytes
    assert [(r.reason, r.field, r.item_index) for r in decoded.rejections] == [(Reason.MISSING_FIELD, "acc", 1)]


def test_array_of_the_maximum_length_is_accepted():
    items = [message(seq=i) for i in range(MAX_ARRAY_ITEMS)]
    decoded = decode(LOCATION_TOPIC, json.dumps(items).encode(), RECEIVED_AT)
    assert decoded.rejections == [] and len(decoded.reports) == MAX_ARRAY_ITEMS == 1000


def test_payload_of_exactly_the_maximum_size_is_accepted():
    payload = build_message(pad="")
    payload = build_message(pad="x" * (MAX_PAYLOAD_BYTES - len(payload)))
    assert len(payload) == MAX_PAYLOAD_BYTES
    assert only_report(decode(LOCATION_TOPIC, payload, RECEIVED_AT)).flags == ("unknown_fields",)


def test_unknown_extra_field_is_accepted_and_flagged():
    report = only_report(decode(LOCATION_TOPIC, build_message(floor=3), RECEIVED_AT))
    assert report.seq == 7 and report.flags == ("unknown_fields",)


def test_device_id_in_payload_matching_the_topic_is_not_an_unknown_field():
    assert only_report(decode(LOCATION_TOPIC, build_message(device_id=DEVICE), RECEIVED_AT)).flags == ()


def test_ts_with_offset_is_normalised_to_utc():
    report = only_report(decode(LOCATION_TOPIC, build_message(ts="2026-11-21T16:15:30+08:00"), RECEIVED_AT))
    assert report.ts.utcoffset() == timedelta(0) and report.ts.tzinfo == UTC
    assert (report.ts.year, report.ts.day, report.ts.hour, report.ts.minute) == (2026, 21, 8, 15)


@pytest.mark.parametrize("topic, base", [(LOCATION_TOPIC, LOCATION), (STATUS_TOPIC, STATUS), (PANIC_TOPIC, PANIC)])
def test_ts_more_than_thirty_seconds_in_the_future_is_flagged(topic, base):
    ahead = RECEIVED_AT + timedelta(seconds=30, milliseconds=1)
    report = only_report(decode(topic, build_message(base, ts=ahead.isoformat()), RECEIVED_AT))
    assert report.ts == ahead and report.flags == ("ts_future",)


def test_ts_exactly_thirty_seconds_ahead_is_tolerated():
    ahead = RECEIVED_AT + timedelta(seconds=30)
    assert only_report(decode(LOCATION_TOPIC, build_message(ts=ahead.isoformat()), RECEIVED_AT)).flags == ()


def test_ts_in_1901_is_flagged_implausible():
    report = only_report(decode(LOCATION_TOPIC, build_message(ts="1901-06-01T00:00:00Z"), RECEIVED_AT))
    assert report.ts.year == 1901 and report.flags == ("ts_implausible",)


# -- rejections: topic and envelope --------------------------------------------------

@pytest.mark.parametrize("topic", [
    "stayaway/v2/devices/trk-001/location",
    "stayaway/v1/devices/trk-001/commands",
    "stayaway/v1/devices/trk-001/location/extra",
    "stayaway/v1/devices/a/b/location",
    "other/topic",
])
def test_topic_unknown(topic):
    r = only_rejection(decode(topic, build_message(), RECEIVED_AT))
    assert (r.reason, r.field, r.item_index, r.device_id) == (Reason.TOPIC_UNKNOWN, None, None, None)


def test_topic_with_a_trailing_newline_is_unknown():
    # BUG: the topic regex ends in "$", which also matches before a final "\n".
    r = only_rejection(decode(LOCATION_TOPIC + "\n", build_message(), RECEIVED_AT))
    assert r.reason == Reason.TOPIC_UNKNOWN


@pytest.mark.parametrize("device_id", ["a" * 65, "trk 001", "", "trk+001", "tr\u00e4k"])
def test_device_id_invalid(device_id):
    r = only_rejection(decode(f"stayaway/v1/devices/{device_id}/location", build_message(), RECEIVED_AT))
    assert (r.reason, r.field, r.item_index, r.device_id) == (Reason.DEVICE_ID_INVALID, None, None, None)


def test_device_id_of_64_characters_is_accepted():
    device_id = "a" * 64
    assert only_report(decode(f"stayaway/v1/devices/{device_id}/status", build_message(STATUS),
                              RECEIVED_AT)).device_id == device_id


def test_payload_too_large():
    payload = build_message(pad="")
    payload = build_message(pad="x" * (MAX_PAYLOAD_BYTES + 1 - len(payload)))
    assert rejected(payload) == (Reason.PAYLOAD_TOO_LARGE, None, None)


@pytest.mark.parametrize("payload", [
    b'{"seq": 1, "ts": "2026-11-21T08:15:30Z", "lat": 30.4, "lon": 103.8, "acc": 5',  # truncated
    b'{"seq": 1, "ts": "2026-11-21T08:15:30Z", "lat": NaN, "lon": 103.8, "acc": 5}',  # NaN literal
    b'{"seq": 1, "note": "\xff\xfe", "ts": "2026-11-21T08:15:30Z", "lat": 1, "lon": 1, "acc": 5}',  # bad UTF-8
    b"",
])
def test_invalid_json(payload):
    assert rejected(payload) == (Reason.INVALID_JSON, None, None)


@pytest.mark.parametrize("topic, payload", [
    (STATUS_TOPIC, json.dumps([STATUS]).encode()),
    (PANIC_TOPIC, json.dumps([PANIC]).encode()),
    (LOCATION_TOPIC, b'"a string"'),
    (LOCATION_TOPIC, b"42"),
    (PANIC_TOPIC, b"null"),
])
def test_wrong_shape(topic, payload):
    assert rejected(payload, topic) == (Reason.WRONG_SHAPE, None, None)


def test_wrong_shape_of_one_array_element_names_its_index():
    payload = json.dumps([message(seq=1), [1, 2], message(seq=3)]).encode()
    decoded = decode(LOCATION_TOPIC, payload, RECEIVED_AT)
    assert [r.seq for r in decoded.reports] == [1, 3]
    assert [(r.reason, r.field, r.item_index) for r in decoded.rejections] == [(Reason.WRONG_SHAPE, None, 1)]


def test_array_empty():
    assert rejected(b"[]") == (Reason.ARRAY_EMPTY, None, None)


def test_array_too_long():
    payload = json.dumps([message(seq=i) for i in range(MAX_ARRAY_ITEMS + 1)]).encode()
    assert len(payload) <= MAX_PAYLOAD_BYTES  # so the length, not the size, is what is refused
    assert rejected(payload) == (Reason.ARRAY_TOO_LONG, None, None)


# -- rejections: fields --------------------------------------------------------------

@pytest.mark.parametrize("field", ["seq", "ts", "lat", "lon", "acc"])
def test_missing_required_location_field(field):
    assert rejected(build_message(**{field: OMIT})) == (Reason.MISSING_FIELD, field, None)


@pytest.mark.parametrize("field", ["seq", "ts"])
def test_missing_required_status_field(field):
    assert rejected(build_message(STATUS, **{field: OMIT}), STATUS_TOPIC) == (Reason.MISSING_FIELD, field, None)


@pytest.mark.parametrize("topic, base, field, value", [
    (LOCATION_TOPIC, LOCATION, "seq", 1.0),
    (LOCATION_TOPIC, LOCATION, "seq", True),
    (LOCATION_TOPIC, LOCATION, "lat", "30.4310123"),
    (LOCATION_TOPIC, LOCATION, "acc", False),
    (LOCATION_TOPIC, LOCATION, "batt", 50.5),
    (STATUS_TOPIC, STATUS, "batt", 50.5),
    (STATUS_TOPIC, STATUS, "charging", "yes"),
    (STATUS_TOPIC, STATUS, "charging", 1),
])
def test_wrong_type(topic, base, field, value):
    assert rejected(build_message(base, **{field: value}), topic) == (Reason.WRONG_TYPE, field, None)


@pytest.mark.parametrize("topic, base, field, value", [
    (LOCATION_TOPIC, LOCATION, "lat", 90.0001),
    (LOCATION_TOPIC, LOCATION, "lat", -90.0001),
    (LOCATION_TOPIC, LOCATION, "lon", -180.5),
    (LOCATION_TOPIC, LOCATION, "acc", 0),
    (LOCATION_TOPIC, LOCATION, "acc", -1),
    (LOCATION_TOPIC, LOCATION, "spd", -1),
    (LOCATION_TOPIC, LOCATION, "hdg", 360.5),
    (LOCATION_TOPIC, LOCATION, "hdg", -0.5),
    (LOCATION_TOPIC, LOCATION, "batt", 101),
    (LOCATION_TOPIC, LOCATION, "seq", -1),
    (LOCATION_TOPIC, LOCATION, "src", "gnss"),
    (STATUS_TOPIC, STATUS, "strap", "broken"),
    (STATUS_TOPIC, STATUS, "case", "ajar"),
    (STATUS_TOPIC, STATUS, "gps", "3d"),
    (STATUS_TOPIC, STATUS, "batt", -1),
])
def test_out_of_range(topic, base, field, value):
    assert rejected(build_message(base, **{field: value}), topic) == (Reason.OUT_OF_RANGE, field, None)


@pytest.mark.parametrize("ts", [
    "2026-11-21T08:15:30",  # no offset
    "2026-11-21",  # date only
    "2026-13-01T00:00:00Z",  # month 13
    "2026-02-30T00:00:00Z",
    "2026-11-21 08:15:30Z",
    "yesterday",
])
def test_ts_invalid(ts):
    assert rejected(build_message(ts=ts)) == (Reason.TS_INVALID, "ts", None)


def test_ts_with_a_trailing_newline_is_invalid():
    # BUG: the RFC 3339 regex in service/wire/rfc3339.py ends in "$", which also matches before a final "\n".
    assert rejected(build_message(ts="2026-11-21T08:15:30Z\n")) == (Reason.TS_INVALID, "ts", None)


@pytest.mark.parametrize("ts", [1763712930, 1763712930.25, ["2026-11-21T08:15:30Z"]])
def test_ts_that_is_not_a_string_is_a_wrong_type(ts):
    # Consistent with every other field: a JSON value of the wrong type is wrong_type, not ts_invalid.
    assert rejected(build_message(ts=ts)) == (Reason.WRONG_TYPE, "ts", None)


def test_device_topic_mismatch():
    r = only_rejection(decode(LOCATION_TOPIC, build_message(device_id="trk-002"), RECEIVED_AT))
    assert (r.reason, r.field, r.item_index, r.device_id) == (Reason.DEVICE_TOPIC_MISMATCH, "device_id", None, DEVICE)


def test_device_topic_mismatch_in_an_array_names_the_element():
    payload = json.dumps([message(seq=1), message(seq=2, device_id="trk-002")]).encode()
    decoded = decode(LOCATION_TOPIC, payload, RECEIVED_AT)
    assert [r.seq for r in decoded.reports] == [1]
    assert [(r.reason, r.field, r.item_index) for r in decoded.rejections] == [
        (Reason.DEVICE_TOPIC_MISMATCH, "device_id", 1)]


# -- panic leniency ------------------------------------------------------------------

def panic(**overrides: Any) -> PanicPress:
    report = only_report(decode(PANIC_TOPIC, build_message(PANIC, **overrides), RECEIVED_AT))
    assert isinstance(report, PanicPress)
    return report


def test_valid_panic_with_position():
    press = panic()
    assert (press.seq, press.lat, press.lon, press.acc_m, press.silent, press.flags) == (9, LAT, LON, 8.0, False, ())
    assert press.ts == datetime(2026, 11, 21, 8, 15, 30, tzinfo=UTC)


def test_panic_with_a_bad_seq_keeps_its_ts():
    press = panic(seq="x")
    assert (press.seq, press.flags) == (None, ("seq_invalid",))
    assert press.ts == datetime(2026, 11, 21, 8, 15, 30, tzinfo=UTC)


def test_panic_with_a_bad_seq_and_bad_ts_falls_back_to_the_receive_time():
    press = panic(seq="x", ts="soon")
    assert (press.seq, press.ts, press.flags) == (None, RECEIVED_AT, ("seq_invalid", "ts_invalid"))


def test_panic_without_ts_falls_back_to_the_receive_time():
    press = panic(ts=OMIT)
    assert (press.seq, press.ts, press.flags) == (9, RECEIVED_AT, ("ts_invalid",))


def test_panic_with_lat_but_no_acc_has_no_position():
    press = panic(acc=OMIT)
    assert (press.lat, press.lon, press.acc_m, press.flags) == (None, None, None, ("position_invalid",))


def test_panic_without_any_position_is_not_flagged():
    press = panic(lat=OMIT, lon=OMIT, acc=OMIT)
    assert (press.lat, press.flags) == (None, ())


def test_panic_with_a_non_boolean_silent_is_treated_as_silent():
    press = panic(silent="yes")
    assert (press.silent, press.flags) == (True, ("silent_invalid",))


# -- privacy -------------------------------------------------------------------------

LAT_TEXT, LON_TEXT = "30.431", "103.861"
PRIVACY_CASES = {
    "missing_field": build_message(acc=OMIT),
    "out_of_range": build_message(acc=0),
    "wrong_type_lat": build_message(lat=str(LAT)),
    "wrong_type_seq": build_message(seq=str(LON)),
    "ts_invalid": build_message(ts="2026-11-21T08:15:30"),
    "device_topic_mismatch": build_message(device_id="trk-002"),
    "invalid_json_truncated": build_message()[:-1],
    "invalid_json_after_lat": build_message()[:-1] + b", lat}",
    "invalid_json_bad_utf8": build_message()[:-1] + b', "x": "\xff"}',
    "wrong_shape_item": json.dumps([message(), [LAT, LON]]).encode(),
    "array_item_missing": json.dumps([message(), message(acc=OMIT)]).encode(),
}


@pytest.mark.parametrize("payload", PRIVACY_CASES.values(), ids=PRIVACY_CASES.keys())
def test_rejection_detail_never_carries_coordinates(payload):
    assert LAT_TEXT.encode() in payload and LON_TEXT.encode() in payload
    decoded = decode(LOCATION_TOPIC, payload, RECEIVED_AT)
    assert decoded.rejections
    for r in decoded.rejections:
        assert LAT_TEXT not in r.detail and LON_TEXT not in r.detail, r.detail

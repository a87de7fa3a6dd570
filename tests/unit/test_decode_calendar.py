"""Times at the ends of the calendar (issue 12, finding 4): every time parser is total and keeps what it
accepts within the years 1900-2199, so no later arithmetic can leave ``datetime``'s calendar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.wire import PanicPress, Reason, decode
from service.wire.decode import FUTURE_TOLERANCE, fallback_panic
from service.wire.owntracks import MAX_TST, decode_owntracks
from service.wire.rfc3339 import EARLIEST, END, outside_window, parse_ts

RECEIVED_AT = datetime(2026, 11, 21, 8, 16, 0, tzinfo=UTC)
LOCATION_TOPIC = "stayaway/v1/devices/trk-001/location"
STATUS_TOPIC = "stayaway/v1/devices/trk-001/status"
PANIC_TOPIC = "stayaway/v1/devices/phone-001/panic"
OWNTRACKS_TOPIC = "owntracks/alice/phone"
CALENDAR_ENDS = ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01", "0001-01-01T00:00:00Z",
                 "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999999999+23:59", "0000-01-01T00:00:00Z",
                 "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "1900-01-01T00:30:00+01:00",
                 "2199-12-31T23:30:00-01:00"]


def location(ts: str) -> bytes:
    return json.dumps({"seq": 7, "ts": ts, "lat": 30.4310123, "lon": 103.8615456, "acc": 12.5}).encode()


# -- parse_ts --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", CALENDAR_ENDS)
def test_a_well_formed_time_outside_the_window_is_no_time(text):
    assert parse_ts(text) is None and outside_window(text)


@pytest.mark.parametrize("text, expected", [
    ("1900-01-01T00:00:00Z", EARLIEST),
    ("1900-01-01T01:00:00+01:00", EARLIEST),
    ("2199-12-31T23:59:59.999999Z", END - timedelta(microseconds=1)),
    ("2200-01-01T00:59:59+01:00", END - timedelta(seconds=1)),
    ("1899-12-31T23:59:59-00:01", EARLIEST + timedelta(seconds=59)),
    ("1901-12-13T20:45:52.207Z", datetime(1901, 12, 13, 20, 45, 52, 207000, tzinfo=UTC)),
])
def test_the_window_s_edges_are_times(text, expected):
    assert parse_ts(text) == expected and not outside_window(text)


@pytest.mark.parametrize("value", [None, 1763712930, 1.5, b"2026-11-21T08:15:30Z", ["2026-11-21T08:15:30Z"], {},
                                   "2026-11-21T08:15:30." + "0" * 100 + "Z", "9999-13-01T00:00:00Z",
                                   "0001-02-29T00:00:00+00:01", "9999-12-31T23:59:60Z", "9999-12-31T23:59:59+24:00"])
def test_anything_else_is_no_time_and_not_outside_the_window(value):
    assert parse_ts(value) is None and not outside_window(value)


_OFFSETS = st.one_of(st.sampled_from(["Z", "z"]), st.builds(
    lambda sign, h, m: f"{sign}{h:02d}:{m:02d}", st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)))
_RFC3339_SHAPED = st.builds(
    lambda y, mo, d, h, mi, s, frac, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{off}",
    st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24), st.integers(0, 60),
    st.integers(0, 60), st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)), _OFFSETS)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(text=st.one_of(_RFC3339_SHAPED, st.text(max_size=50)))
def test_parse_ts_is_total_and_what_it_returns_survives_any_arithmetic(text):
    ts = parse_ts(text)
    if ts is None:
        return
    assert ts.tzinfo is UTC and EARLIEST <= ts < END
    for delta in (FUTURE_TOLERANCE, timedelta(days=366 * 10), timedelta(days=-366 * 10)):
        assert (ts + delta).astimezone(timezone(timedelta(hours=-23, minutes=-59))).year > 1


@settings(max_examples=500, derandomize=True, deadline=None)
@given(y=st.integers(1901, 2198), mo=st.integers(1, 12), d=st.integers(1, 28), h=st.integers(0, 23),
       mi=st.integers(0, 59), s=st.integers(0, 59), us=st.integers(0, 999_999), off_min=st.integers(-1439, 1439))
def test_inside_the_window_parse_ts_gives_the_time_the_text_names(y, mo, d, h, mi, s, us, off_min):
    sign, a = ("+" if off_min >= 0 else "-"), abs(off_min)
    text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{us:06d}{sign}{a // 60:02d}:{a % 60:02d}"
    expected = datetime(y, mo, d, h, mi, s, us, tzinfo=UTC) - timedelta(minutes=off_min)
    assert parse_ts(text) == expected


# -- the decoders ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("ts", CALENDAR_ENDS)
@pytest.mark.parametrize("topic", [LOCATION_TOPIC, STATUS_TOPIC])
def test_a_report_dated_outside_the_window_is_rejected_naming_ts(topic, ts):
    payload = json.dumps({"seq": 7, "ts": ts, "lat": 30.4310123, "lon": 103.8615456, "acc": 12.5, "batt": 50}
                         if topic == LOCATION_TOPIC else {"seq": 7, "ts": ts, "batt": 50}).encode()
    decoded = decode(topic, payload, RECEIVED_AT)
    assert decoded.reports == []
    [r] = decoded.rejections
    assert (r.reason, r.field, r.detail) == (Reason.TS_INVALID, "ts", "ts lies outside the years 1900-2199")
    assert r.payload == payload


def test_a_backfill_array_loses_only_its_items_dated_outside_the_window():
    payload = b"[" + b",".join(location(ts) for ts in [CALENDAR_ENDS[0], "2026-11-21T08:15:30Z", CALENDAR_ENDS[1]]) + b"]"
    decoded = decode(LOCATION_TOPIC, payload, RECEIVED_AT)
    assert [r.ts for r in decoded.reports] == [datetime(2026, 11, 21, 8, 15, 30, tzinfo=UTC)]
    assert [(r.reason, r.field, r.item_index) for r in decoded.rejections] == [
        (Reason.TS_INVALID, "ts", 0), (Reason.TS_INVALID, "ts", 2)]


@pytest.mark.parametrize("ts", CALENDAR_ENDS)
def test_a_panic_dated_outside_the_window_is_a_press_at_its_receive_time(ts):
    payload = json.dumps({"seq": 9, "ts": ts, "lat": 30.4310123, "lon": 103.8615456, "acc": 8.0}).encode()
    [press] = decode(PANIC_TOPIC, payload, RECEIVED_AT).reports
    assert isinstance(press, PanicPress)
    assert (press.seq, press.ts, press.flags, press.lat, press.silent) == (9, RECEIVED_AT, ("ts_invalid",), 30.4310123, False)


def test_a_panic_half_a_minute_ahead_keeps_its_time_and_is_flagged():
    ahead = RECEIVED_AT + timedelta(seconds=31)
    payload = json.dumps({"seq": 9, "ts": ahead.isoformat()}).encode()
    [press] = decode(PANIC_TOPIC, payload, RECEIVED_AT).reports
    assert (press.ts, press.flags) == (ahead, ("ts_future",))


@pytest.mark.parametrize("tst, reason", [(2**40, Reason.OUT_OF_RANGE), (MAX_TST + 1, Reason.OUT_OF_RANGE),
                                         (2**63 - 1, Reason.OUT_OF_RANGE), (-1, Reason.OUT_OF_RANGE),
                                         (1764489600.5, Reason.WRONG_TYPE)])
def test_an_owntracks_tst_outside_the_window_is_rejected_naming_tst(tst, reason):
    payload = json.dumps({"_type": "location", "lat": 30.4310123, "lon": 103.8615456, "tst": tst}).encode()
    decoded = decode_owntracks(OWNTRACKS_TOPIC, payload, RECEIVED_AT, "phone-001")
    assert decoded.reports == []
    assert [(r.reason, r.field) for r in decoded.rejections] == [(reason, "tst")]


def test_the_last_owntracks_tst_of_the_window_is_a_report_from_the_future():
    payload = json.dumps({"_type": "location", "lat": 30.43, "lon": 103.86, "tst": MAX_TST}).encode()
    [r] = decode_owntracks(OWNTRACKS_TOPIC, payload, RECEIVED_AT, "phone-001").reports
    assert (r.seq, r.ts, r.flags) == (MAX_TST, datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC), ("acc_missing", "ts_future"))


def test_an_owntracks_type_that_is_not_a_word_is_not_quoted():
    payload = b'{"_type":[30.4310123,103.8615456],"lat":30.4310123,"lon":103.8615456,"tst":1764489600}'
    [r] = decode_owntracks(OWNTRACKS_TOPIC, payload, RECEIVED_AT, "phone-001").rejections
    assert r.reason == Reason.UNSUPPORTED_TYPE and "30.431" not in r.detail and "103.861" not in r.detail
    [named] = decode_owntracks(OWNTRACKS_TOPIC, b'{"_type":"waypoint"}', RECEIVED_AT, "phone-001").rejections
    assert "'waypoint'" in named.detail


# -- the panic the pipeline raises when a decoder fails ---------------------------------------------------

def test_fallback_panic_is_a_silent_press_at_the_receive_time():
    payload = b'{"seq":9,"ts":"2026-11-21T08:15:30Z","silent":false}'
    press = fallback_panic(PANIC_TOPIC, payload, RECEIVED_AT)
    assert press == PanicPress("phone-001", None, RECEIVED_AT, RECEIVED_AT, payload, silent=True,
                               flags=("decode_failed",))


@pytest.mark.parametrize("topic, payload", [
    (LOCATION_TOPIC, b"{}"), ("stayaway/v1/devices/bad id/panic", b"{}"), (PANIC_TOPIC, b"[]"),
    (PANIC_TOPIC, b"{"), (PANIC_TOPIC, b'{"device_id":"phone-002"}'), (PANIC_TOPIC, b" " * (256 * 1024 + 1)),
])
def test_fallback_panic_only_for_a_json_object_on_a_device_s_own_panic_topic(topic, payload):
    assert fallback_panic(topic, payload, RECEIVED_AT) is None

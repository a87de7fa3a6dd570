"""The msgspec fast path and the detailed decoder must agree on every location payload."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from service.wire.decode import decode, decode_detailed

TOPIC = "stayaway/v1/devices/trk-001/location"
RECEIVED = datetime(2026, 11, 21, 8, 15, 30, tzinfo=UTC)

values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["gps", "wifi", "cell", "gnss", "", "trk-001"]),
    st.sampled_from(["2026-11-21T08:15:30.250Z", "2026-11-21T16:15:30+08:00", "2026-11-21T08:15:30", "x",
                     "1901-12-13T20:45:52.207Z", "2036-01-01T00:00:00Z", "2026-11-21T08:15:30Z\n"]),
    st.lists(st.integers(), max_size=2),
)
fields = st.sampled_from(["seq", "ts", "lat", "lon", "acc", "spd", "hdg", "batt", "src", "device_id", "extra"])
valid = st.fixed_dictionaries({
    "seq": st.integers(min_value=0, max_value=2**63 - 1), "ts": st.just("2026-11-21T08:15:30.250Z"),
    "lat": st.floats(-90, 90), "lon": st.floats(-180, 180), "acc": st.floats(0.1, 5000),
}, optional={"spd": st.floats(0, 100), "hdg": st.floats(0, 360), "batt": st.integers(0, 100),
             "src": st.sampled_from(["gps", "wifi", "cell"])})


@settings(max_examples=400, derandomize=True, deadline=None)
@given(base=valid, changes=st.dictionaries(fields, values, max_size=3), drop=st.lists(fields, max_size=2))
def test_fast_and_detailed_paths_agree(base, changes, drop) -> None:  # type: ignore[no-untyped-def]
    body = {**base, **changes}
    for name in drop:
        body.pop(name, None)
    payload = json.dumps(body).encode()
    assert decode(TOPIC, payload, RECEIVED) == decode_detailed(TOPIC, payload, RECEIVED)


def test_valid_reports_take_the_fast_path_and_keep_the_raw_bytes() -> None:
    payload = b'{"seq":5,"ts":"2026-11-21T08:15:30.250Z","lat":30.4,"lon":103.8,"acc":5}'
    (report,) = decode(TOPIC, payload, RECEIVED).reports
    assert report.raw == payload and report.acc_m == 5.0 and report.flags == ()

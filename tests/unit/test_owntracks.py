"""OwnTracks JSON (contract section 1) decoded for the device enrolled with its topic."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import orjson
import pytest

from service.wire import LocationReport, Reason
from service.wire.owntracks import NO_ACCURACY_M, decode_owntracks, is_owntracks_topic

TOPIC = "owntracks/alice/phone"
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def decode(body: object) -> tuple[list, list]:
    d = decode_owntracks(TOPIC, orjson.dumps(body), NOW, "phone-001")
    return d.reports, d.rejections


def test_a_location_becomes_the_enrolled_device_s_report_with_tst_as_its_seq():
    [r], [] = decode({"_type": "location", "acc": 35, "batt": 75, "lat": 30.43, "lon": 103.86, "tst": 1764489600,
                      "vel": 36, "cog": 90, "tid": "A1", "conn": "w"})
    assert isinstance(r, LocationReport)
    assert (r.device_id, r.seq, r.ts, r.lat, r.lon, r.acc_m, r.spd_mps, r.hdg_deg, r.batt_pct) == (
        "phone-001", 1764489600, datetime.fromtimestamp(1764489600, UTC), 30.43, 103.86, 35.0, 10.0, 90.0, 75)


@pytest.mark.parametrize("acc", [None, -1, 0])
def test_a_fix_without_accuracy_is_taken_as_poor_and_flagged(acc):
    body = {"_type": "location", "lat": 30.43, "lon": 103.86, "tst": 1764489600}
    [r], [] = decode(body if acc is None else body | {"acc": acc})
    assert r.acc_m == NO_ACCURACY_M and "acc_missing" in r.flags


def test_a_transition_is_a_position_too_and_lwt_and_other_types_are_kept_as_evidence():
    [r], [] = decode({"_type": "transition", "acc": 6, "event": "enter", "lat": 61.19, "lon": 9.68, "tst": 1701264368,
                      "wtst": 1610104404, "t": "b", "tid": "SG"})
    assert r.seq == 1701264368
    [], [lwt] = decode({"_type": "lwt", "tst": 1699882482})
    assert lwt.reason == Reason.NOT_A_REPORT and lwt.device_id == "phone-001"
    [], [card] = decode({"_type": "card", "name": "x"})
    assert card.reason == Reason.UNSUPPORTED_TYPE


def test_an_array_is_several_messages_each_judged_on_its_own():
    reports, rejections = decode([{"_type": "location", "lat": 8, "lon": 9, "tst": 1000}, {"_type": "lwt", "tst": 1000},
                                  {"_type": "location", "lon": 9, "tst": 1001}])
    assert [r.seq for r in reports] == [1000]
    assert [(x.reason, x.item_index, x.field) for x in rejections] == [
        (Reason.NOT_A_REPORT, 1, "_type"), (Reason.MISSING_FIELD, 2, "lat")]


def test_bad_json_is_a_rejection_naming_no_coordinates():
    d = decode_owntracks(TOPIC, b'{"_type":"location","lat":30.4321,', NOW, "phone-001")
    assert [x.reason for x in d.rejections] == [Reason.INVALID_JSON] and "30.43" not in d.rejections[0].detail


def test_only_three_level_owntracks_topics_are_theirs():
    assert is_owntracks_topic("owntracks/alice/phone")
    for t in ("owntracks/alice", "owntracks/alice/phone/event", "owntracks/+/phone", "stayaway/v1/devices/x/location"):
        assert not is_owntracks_topic(t)


def test_the_upstream_examples_decode_as_their_schema_says(shared_data) -> None:  # type: ignore[no-untyped-def]
    """OwnTracks' own JSON Schema examples (../shared/data, MIT): each valid location/transition gives a
    report, each invalid one a rejection; lwt is kept as evidence."""
    root = shared_data / "mqtt" / "owntracks_json_schema"
    with (root / "expectations.tsv").open() as f:
        expectations = {row[0]: row[2] for row in csv.reader(f, delimiter="\t") if row}
    checked = 0
    for name, verdict in expectations.items():
        if not name.startswith(("l.", "l2.", "location", "transition", "lwt")):
            continue
        d = decode_owntracks(TOPIC, (root / "examples" / name).read_bytes(), NOW, "phone-001")
        body = json.loads((root / "examples" / name).read_text())
        if verdict == "valid" and body.get("_type") in ("location", "transition"):
            assert len(d.reports) == 1 and not d.rejections, name
        else:
            assert not d.reports and d.rejections, name
        checked += 1
    assert checked >= 10

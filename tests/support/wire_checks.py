"""What every decoder must do with any input, as one check shared by the unit tests, the corpus replay
(tests/unit/test_wire_corpus.py) and the long-form fuzzers (tests/fuzz/fuzz_decode.py).

``check(topic, payload)`` decodes one message as the pipeline would (OwnTracks topics for an enrolled
phone) and asserts, raising AssertionError otherwise:

- the decoder returns (it never raises);
- every report has an aware UTC time within the years 1900-2199 (``rfc3339.EARLIEST`` .. ``END``), so
  the monitor's arithmetic on it stays inside the calendar, and the receive time it was given;
- a v1 location takes the fast path or the detailed one with the same answer;
- a JSON object on a v1 panic topic (of an allowed size, naming no other device) is one panic press;
  when its ts could not be used, the press is at the receive time;
- every rejection has a stable reason, a short detail, and quotes no coordinate-like number of the
  payload (a decimal number with three or more decimals).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from service.wire import (
    Decoded,
    InvalidMessage,
    LocationReport,
    PanicPress,
    Reason,
    StatusReport,
)
from service.wire.decode import (
    MAX_PAYLOAD_BYTES,
    decode,
    decode_detailed,
    device_of_topic,
)
from service.wire.owntracks import decode_owntracks
from service.wire.rfc3339 import EARLIEST, END

RECEIVED_AT = datetime(2026, 11, 21, 8, 16, 0, tzinfo=UTC)
OWNTRACKS_DEVICE = "phone-001"
MAX_DETAIL = 200
_DECIMAL = re.compile(rb"-?[0-9]+\.[0-9]{3,}")
CORPUS = Path(__file__).resolve().parents[1] / "unit" / "corpus" / "wire"


def check(topic: str, payload: bytes, received_at: datetime = RECEIVED_AT) -> Decoded:
    if topic.startswith("owntracks/"):
        decoded = decode_owntracks(topic, payload, received_at, OWNTRACKS_DEVICE)
    else:
        decoded = decode(topic, payload, received_at)
        if topic.endswith("/location"):
            assert decoded == decode_detailed(topic, payload, received_at), "fast and detailed paths differ"
    assert isinstance(decoded, Decoded)
    for report in decoded.reports:
        assert isinstance(report, (LocationReport, StatusReport, PanicPress))
        assert report.ts.tzinfo is UTC and EARLIEST <= report.ts < END, "a time outside the window"
        assert report.received_at == received_at
    for r in decoded.rejections:
        assert isinstance(r, InvalidMessage) and isinstance(r.reason, Reason)
        assert isinstance(r.detail, str) and 0 < len(r.detail) <= MAX_DETAIL
        quoted = [n for n in _DECIMAL.findall(payload) if n.decode() in r.detail]
        assert not quoted, f"detail of {r.reason.value} quotes a number of the payload"
    if _is_panic_object(topic, payload):
        assert decoded.rejections == [] and len(decoded.reports) == 1, "a panic press was not kept"
        press = decoded.reports[0]
        assert isinstance(press, PanicPress)
        if "ts_invalid" in press.flags:
            assert press.ts == received_at
    return decoded


def _is_panic_object(topic: str, payload: bytes) -> bool:
    device = device_of_topic(topic)
    if device is None or not topic.endswith("/panic") or len(payload) > MAX_PAYLOAD_BYTES:
        return False
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and body.get("device_id", device) == device


def outcome(decoded: Decoded) -> list[list[Any]]:
    """A short, stable summary: ``["report", kind, flags]`` and ``["reject", reason, field, index]``."""
    return ([["report", type(r).__name__, list(r.flags)] for r in decoded.reports]
            + [["reject", r.reason.value, r.field, r.item_index] for r in decoded.rejections])


# -- the corpus: one JSON file per message ---------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    topic: str
    payload: bytes
    why: str
    expect: list[list[Any]] | None  # the outcome, once someone has checked it; None for a fresh find


def load_case(path: Path) -> Case:
    o = json.loads(path.read_text(encoding="utf-8"))
    payload = base64.b64decode(o["payload_b64"]) if "payload_b64" in o else o["payload"].encode("utf-8")
    return Case(path.stem, o["topic"], payload, o.get("why", ""), o.get("expect"))


def case_json(topic: str, payload: bytes, why: str, expect: list[list[Any]] | None) -> str:
    o: dict[str, Any] = {"why": why, "topic": topic}
    try:
        o["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        o["payload_b64"] = base64.b64encode(payload).decode("ascii")
    if expect is not None:
        o["expect"] = expect
    return json.dumps(o, ensure_ascii=True, indent=1) + "\n"

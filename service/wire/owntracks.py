"""OwnTracks JSON on ``owntracks/{user}/{device}`` (contract section 1), for a device enrolled with that
topic (the order's party names it: ``owntracks_topic``). Pure, like ``decode``.

- ``_type: location`` and ``transition`` are position reports: ``lat``, ``lon``, ``tst`` (Unix seconds,
  the fix's time) required; ``acc`` in metres; ``vel`` km/h (stored as m/s), ``cog`` degrees, ``batt``.
  OwnTracks has no sequence number: ``tst`` is the report's ``seq`` (a repeat of the same fix is a
  duplicate). A fix without ``acc`` (or with ``acc`` ≤ 0, as some trackers send -1) is taken as
  1,000 m (it never confirms a breach alone) and flagged ``acc_missing``.
- ``tst`` lies in the years 1970-2199 (``rfc3339.END``), like every time the service reads; a later one is
  ``out_of_range``, so no arithmetic on it can leave the calendar.
- ``_type: lwt`` is the broker's notice that the app disconnected: a hint, not a report (the silence
  watchdog decides), kept as evidence with reason ``not_a_report``; any other ``_type`` (waypoints,
  cards, commands, ...) likewise with ``unsupported_type``.
- A JSON array holds several messages (OwnTracks' ``messages.json``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from service.wire.decode import (
    MAX_PAYLOAD_BYTES,
    Decoded,
    _Bad,
    _integer,
    _number,
    _ts_flags,
    load_payload,
)
from service.wire.messages import InvalidMessage, LocationReport, Reason
from service.wire.rfc3339 import END

TOPIC_PREFIX = "owntracks/"
NO_ACCURACY_M = 1000.0
MAX_ITEMS = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TST = int((END - EPOCH).total_seconds()) - 1  # 2199-12-31T23:59:59Z
_TYPE_NAME = re.compile(r"[A-Za-z_]{1,20}")


def is_owntracks_topic(topic: str) -> bool:
    parts = topic.split("/")
    return len(parts) == 3 and parts[0] == "owntracks" and all(parts[1:]) and not any(c in topic for c in "+#")


def decode_owntracks(topic: str, payload: bytes, received_at: datetime, device_id: str,
                     max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> Decoded:
    out = Decoded()

    def reject(reason: Reason, detail: str, field_name: str | None = None, index: int | None = None) -> None:
        out.rejections.append(InvalidMessage(topic, payload, received_at, reason, detail, device_id, field_name, index))

    if not payload:
        reject(Reason.NOT_A_REPORT, "empty: a retained message being cleared")
        return out
    try:
        body = load_payload(payload, max_payload_bytes)
    except _Bad as bad:
        reject(bad.reason, bad.detail)
        return out
    items = body if isinstance(body, list) else [body]
    if len(items) > MAX_ITEMS:
        reject(Reason.ARRAY_TOO_LONG, f"{len(items)} messages, at most {MAX_ITEMS}")
        return out
    for i, item in enumerate(items):
        index = i if isinstance(body, list) else None
        try:
            out.reports.append(_message(device_id, item, orjson.dumps(item) if index is not None else payload,
                                        received_at))
        except _Bad as bad:
            reject(bad.reason, bad.detail, bad.field, index)
    return out


def _message(device_id: str, o: Any, raw: bytes, received_at: datetime) -> LocationReport:
    if not isinstance(o, dict):
        raise _Bad(Reason.WRONG_SHAPE, None, "an OwnTracks message is a JSON object")
    kind = o.get("_type")
    if kind == "lwt":
        raise _Bad(Reason.NOT_A_REPORT, "_type", "lwt: the broker's notice that the app disconnected, not a report")
    if kind not in ("location", "transition"):
        named = f" {kind!r}" if isinstance(kind, str) and _TYPE_NAME.fullmatch(kind) else ""  # a word, never a value
        raise _Bad(Reason.UNSUPPORTED_TYPE, "_type", f"OwnTracks _type{named} carries no position report")
    lat = _number(o, "lat", -90.0, 90.0)
    lon = _number(o, "lon", -180.0, 180.0)
    tst = _integer(o, "tst", 0, MAX_TST)
    assert lat is not None and lon is not None and tst is not None
    flags: list[str] = []
    acc = _number(o, "acc", -float("inf"), float("inf"), required=False)
    if acc is None or acc <= 0:  # missing, or -1: trackers speaking OwnTracks say "unknown" that way
        acc = NO_ACCURACY_M
        flags.append("acc_missing")
    vel = _number(o, "vel", 0.0, 2000.0, required=False)
    cog = _number(o, "cog", 0.0, 360.0, required=False)
    batt = _integer(o, "batt", 0, 100, required=False)
    ts = EPOCH + timedelta(seconds=tst)
    _ts_flags(ts, received_at, flags)
    return LocationReport(device_id, tst, ts, lat, lon, acc, received_at, raw, vel / 3.6 if vel is not None else None,
                          cog, batt, None, tuple(flags))

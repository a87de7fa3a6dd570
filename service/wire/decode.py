"""Strict decoding of device messages (contract section 1).

``decode(topic, payload, received_at)`` never raises on bad input: it
returns the typed reports it could read and an :class:`InvalidMessage` for
everything else. In a backfill array each element stands alone, so one bad
element never costs the good ones. Unknown extra fields are tolerated and
flagged (``unknown_fields``), because the contract allows optional additions.
Detail texts name fields, never their values, so no coordinate reaches a log.

Hot path: a single-object location message is first decoded by msgspec into a
strict typed struct (~1.5 us, in C). Only what that accepts takes the fast
path; everything else (arrays, unknown fields, any doubt) goes through the
detailed decoder below, which gives the exact rejection reason. A property
test checks that both paths give identical results.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import orjson

from service.wire.messages import (
    InvalidMessage,
    LocationReport,
    PanicPress,
    Reason,
    StatusReport,
)
from service.wire.rfc3339 import WINDOW, outside_window, parse_ts

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_ARRAY_ITEMS = 1000
FUTURE_TOLERANCE = timedelta(seconds=30)  # a device clock further ahead of the server's: flagged ts_future
EARLIEST_PLAUSIBLE = datetime.fromisoformat("2000-01-01T00:00:00+00:00")

_TOPIC = re.compile(r"stayaway/v1/devices/([A-Za-z0-9._-]{1,64})/(location|status|panic)")
_DEVICE_TOPIC = re.compile(r"stayaway/v1/devices/([^/]*)/(location|status|panic)")

LOCATION_FIELDS = frozenset({"seq", "ts", "lat", "lon", "acc", "spd", "hdg", "batt", "src", "device_id"})
STATUS_FIELDS = frozenset({"seq", "ts", "batt", "charging", "strap", "case", "gps", "device_id"})
PANIC_FIELDS = frozenset({"seq", "ts", "lat", "lon", "acc", "silent", "device_id"})


@dataclass(slots=True)
class Decoded:
    reports: list[LocationReport | StatusReport | PanicPress] = field(default_factory=list)
    rejections: list[InvalidMessage] = field(default_factory=list)


class _FastLocation(msgspec.Struct, forbid_unknown_fields=True):
    seq: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    ts: str
    lat: Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
    lon: Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
    acc: Annotated[float, msgspec.Meta(gt=0.0)]
    spd: Annotated[float, msgspec.Meta(ge=0.0)] | None = None
    hdg: Annotated[float, msgspec.Meta(ge=0.0, le=360.0)] | None = None
    batt: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    src: Literal["gps", "wifi", "cell"] | None = None
    device_id: str | None = None


_FAST_LOCATION = msgspec.json.Decoder(_FastLocation)


class _Bad(Exception):
    def __init__(self, reason: Reason, field_name: str | None, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.field, self.detail = reason, field_name, detail


def decode(topic: str, payload: bytes, received_at: datetime, max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> Decoded:
    if topic.endswith("/location") and len(payload) <= max_payload_bytes:
        m = _TOPIC.fullmatch(topic)
        if m is not None:
            report = _fast_location(m.group(1), payload, received_at)
            if report is not None:
                return Decoded([report])
    return decode_detailed(topic, payload, received_at, max_payload_bytes)


def _fast_location(device_id: str, payload: bytes, received_at: datetime) -> LocationReport | None:
    """The typed fast path; None whenever the detailed decoder must decide."""
    try:
        f = _FAST_LOCATION.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if f.device_id is not None and f.device_id != device_id:
        return None
    ts = parse_ts(f.ts)
    if ts is None:
        return None
    flags: list[str] = []
    _ts_flags(ts, received_at, flags)
    return LocationReport(device_id, f.seq, ts, f.lat, f.lon, f.acc, received_at, payload, f.spd, f.hdg, f.batt,
                          f.src, tuple(flags))


def decode_detailed(topic: str, payload: bytes, received_at: datetime,
                    max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> Decoded:
    out = Decoded()
    m = _TOPIC.fullmatch(topic)
    if m is None:
        dm = _DEVICE_TOPIC.fullmatch(topic)
        reason = Reason.DEVICE_ID_INVALID if dm else Reason.TOPIC_UNKNOWN
        detail = "device_id must be 1-64 of A-Z a-z 0-9 . _ -" if dm else "not a v1 device topic"
        out.rejections.append(InvalidMessage(topic, payload, received_at, reason, detail))
        return out
    device_id, kind = m.group(1), m.group(2)

    def reject(reason: Reason, detail: str, field_name: str | None = None, index: int | None = None,
               raw: bytes | None = None) -> None:
        """``raw``: an array element's own bytes (re-serialised, values unchanged), kept instead of the whole
        payload: a 1,000-element array of bad elements must not store its payload 1,000 times."""
        out.rejections.append(
            InvalidMessage(topic, payload if raw is None else raw, received_at, reason, detail, device_id,
                           field_name, index)
        )

    try:
        body = load_payload(payload, max_payload_bytes)
    except _Bad as bad:
        reject(bad.reason, bad.detail)
        return out

    if kind == "location" and isinstance(body, list):
        if not body:
            reject(Reason.ARRAY_EMPTY, "location array is empty")
        elif len(body) > MAX_ARRAY_ITEMS:
            reject(Reason.ARRAY_TOO_LONG, f"location array has {len(body)} items, at most {MAX_ARRAY_ITEMS}")
        else:
            for i, item in enumerate(body):
                _one(out, reject, _location, device_id, item, orjson.dumps(item), received_at, i)
        return out
    if not isinstance(body, dict):
        allowed = "a JSON object or an array of them" if kind == "location" else "a JSON object"
        reject(Reason.WRONG_SHAPE, f"{kind} payload must be {allowed}")
        return out
    decoder = {"location": _location, "status": _status, "panic": _panic}[kind]
    _one(out, reject, decoder, device_id, body, payload, received_at, None)
    return out


def device_of_topic(topic: str) -> str | None:
    """The device id of a v1 device topic, else None."""
    m = _TOPIC.fullmatch(topic)
    return m.group(1) if m else None


def fallback_panic(topic: str, payload: bytes, received_at: datetime,
                   max_payload_bytes: int = MAX_PAYLOAD_BYTES) -> PanicPress | None:
    """A press at the receive time, silent, flagged ``decode_failed``, for a JSON object on a v1 panic topic
    (naming no other device); else None. The pipeline raises it when the decoder itself failed on a panic (a
    bug): a panic press is never lost to a defect in reading its fields."""
    m = _TOPIC.fullmatch(topic)
    if m is None or m.group(2) != "panic":
        return None
    try:
        body = load_payload(payload, max_payload_bytes)
    except _Bad:
        return None
    if not isinstance(body, dict) or body.get("device_id", m.group(1)) != m.group(1):
        return None
    return PanicPress(m.group(1), None, received_at, received_at, payload, silent=True, flags=("decode_failed",))


def load_payload(payload: bytes, max_payload_bytes: int) -> Any:
    """The payload's JSON, or ``_Bad`` (``payload_too_large``, ``invalid_json``) quoting no byte of it."""
    if len(payload) > max_payload_bytes:
        raise _Bad(Reason.PAYLOAD_TOO_LARGE, None, f"payload of {len(payload)} bytes exceeds {max_payload_bytes}")
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise _Bad(Reason.INVALID_JSON, None, f"not UTF-8 JSON ({_json_error_kind(exc)})") from None


def _one(out: Decoded, reject: Any, decoder: Any, device_id: str, item: Any, raw: bytes,
         received_at: datetime, index: int | None) -> None:
    try:
        if not isinstance(item, dict):
            raise _Bad(Reason.WRONG_SHAPE, None, "each array item must be a JSON object")
        claimed = item.get("device_id")
        if claimed is not None and claimed != device_id:
            raise _Bad(Reason.DEVICE_TOPIC_MISMATCH, "device_id", "payload device_id differs from the topic's")
        report = decoder(device_id, item, raw, received_at)
        if index is not None:  # an element of a backfill array: uploaded after the device was offline
            report = msgspec.structs.replace(report, flags=(*report.flags, "backfill"))
        out.reports.append(report)
    except _Bad as bad:
        reject(bad.reason, bad.detail, bad.field, index, raw if index is not None else None)


def _location(device_id: str, o: dict[str, Any], raw: bytes, received_at: datetime) -> LocationReport:
    flags = _common_flags(o, LOCATION_FIELDS)
    seq = _seq(o)
    ts = _ts(o, received_at, flags)
    lat = _number(o, "lat", -90.0, 90.0)
    lon = _number(o, "lon", -180.0, 180.0)
    acc = _number(o, "acc", 0.0, math.inf, lo_open=True)
    spd = _number(o, "spd", 0.0, math.inf, required=False)
    hdg = _number(o, "hdg", 0.0, 360.0, required=False)
    batt = _integer(o, "batt", 0, 100, required=False)
    src = _choice(o, "src", ("gps", "wifi", "cell"))
    return LocationReport(device_id, seq, ts, lat, lon, acc, received_at, raw, spd, hdg, batt, src, tuple(flags))


def _status(device_id: str, o: dict[str, Any], raw: bytes, received_at: datetime) -> StatusReport:
    flags = _common_flags(o, STATUS_FIELDS)
    seq = _seq(o)
    ts = _ts(o, received_at, flags)
    return StatusReport(
        device_id, seq, ts, received_at, raw,
        batt_pct=_integer(o, "batt", 0, 100, required=False),
        charging=_boolean(o, "charging"),
        strap=_choice(o, "strap", ("closed", "open")),
        case=_choice(o, "case", ("closed", "open")),
        gps=_choice(o, "gps", ("fix", "no_fix")),
        flags=tuple(flags),
    )


def _panic(device_id: str, o: dict[str, Any], raw: bytes, received_at: datetime) -> PanicPress:
    """Lenient on purpose: a panic press is never dropped for a bad field."""
    flags = _common_flags(o, PANIC_FIELDS)
    try:
        seq: int | None = _seq(o)
    except _Bad:
        seq, _ = None, flags.append("seq_invalid")
    try:
        ts = _ts(o, received_at, flags)
    except _Bad:
        ts, _ = received_at, flags.append("ts_invalid")
    lat = lon = acc = None
    if any(k in o for k in ("lat", "lon", "acc")):
        try:
            lat, lon = _number(o, "lat", -90.0, 90.0), _number(o, "lon", -180.0, 180.0)
            acc = _number(o, "acc", 0.0, math.inf, lo_open=True)
        except _Bad:
            lat = lon = acc = None
            flags.append("position_invalid")
    silent = o.get("silent", False)
    if not isinstance(silent, bool):
        silent = True  # when in doubt, give the respondent nothing to see on the phone
        flags.append("silent_invalid")
    return PanicPress(device_id, seq, ts, received_at, raw, lat, lon, acc, silent, tuple(flags))


def _common_flags(o: dict[str, Any], known: frozenset[str]) -> list[str]:
    return ["unknown_fields"] if not known.issuperset(o.keys()) else []


def _seq(o: dict[str, Any]) -> int:
    return _integer(o, "seq", 0, 2**63 - 1)  # type: ignore[return-value]


def _ts(o: dict[str, Any], received_at: datetime, flags: list[str]) -> datetime:
    value = o.get("ts")
    if value is None:
        raise _Bad(Reason.MISSING_FIELD, "ts", "ts is required")
    if not isinstance(value, str):
        raise _Bad(Reason.WRONG_TYPE, "ts", "ts must be an RFC 3339 string")
    ts = parse_ts(value)
    if ts is None:
        if outside_window(value):
            raise _Bad(Reason.TS_INVALID, "ts", f"ts lies outside {WINDOW}")
        raise _Bad(Reason.TS_INVALID, "ts", "ts is not an RFC 3339 date-time with a UTC offset")
    _ts_flags(ts, received_at, flags)
    return ts


def _ts_flags(ts: datetime, received_at: datetime, flags: list[str]) -> None:
    if ts > received_at + FUTURE_TOLERANCE:
        flags.append("ts_future")
    elif ts < EARLIEST_PLAUSIBLE:
        flags.append("ts_implausible")


def _number(o: dict[str, Any], name: str, lo: float, hi: float, required: bool = True,
            lo_open: bool = False) -> float | None:
    value = o.get(name)
    if value is None:
        if required:
            raise _Bad(Reason.MISSING_FIELD, name, f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(Reason.WRONG_TYPE, name, f"{name} must be a number")
    value = float(value)
    if not math.isfinite(value) or value > hi or value < lo or (lo_open and value == lo):
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise _Bad(Reason.OUT_OF_RANGE, name, f"{name} must be within {bound}")
    return value


def _integer(o: dict[str, Any], name: str, lo: int, hi: int, required: bool = True) -> int | None:
    value = o.get(name)
    if value is None:
        if required:
            raise _Bad(Reason.MISSING_FIELD, name, f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(Reason.WRONG_TYPE, name, f"{name} must be an integer")
    if value < lo or value > hi:
        raise _Bad(Reason.OUT_OF_RANGE, name, f"{name} must be within [{lo}, {hi}]")
    return value


def _boolean(o: dict[str, Any], name: str) -> bool | None:
    value = o.get(name)
    if value is not None and not isinstance(value, bool):
        raise _Bad(Reason.WRONG_TYPE, name, f"{name} must be true or false")
    return value


def _choice(o: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = o.get(name)
    if value is not None and value not in allowed:
        raise _Bad(Reason.OUT_OF_RANGE, name, f"{name} must be one of {', '.join(allowed)}")
    return value


def _json_error_kind(exc: orjson.JSONDecodeError) -> str:
    # orjson's message quotes a snippet of the input, which may hold coordinates: keep only its position.
    return f"error at byte {exc.pos}" if getattr(exc, "pos", None) is not None else "syntax error"

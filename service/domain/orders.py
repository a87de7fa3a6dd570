"""Protection orders and agencies as the contract's files describe them (section 4).

Parsing is strict and pure: a bad file raises :class:`InvalidInput` naming the
field, e.g. ``zones.features[1].properties.radius_m``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.escalation import parse_steps
from alerts.model import Kind, Severity
from alerts.routing import Agency
from geofence.datum import DATUMS, geometry_to_wgs84, to_wgs84
from geofence.schedule import DAYS, Window, parse_hhmm
from service.errors import InvalidInput
from service.wire.rfc3339 import parse_ts

_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_OWNTRACKS = re.compile(r"owntracks/[A-Za-z0-9._-]{1,64}/[A-Za-z0-9._-]{1,64}")
_HTTP_URL = re.compile(r"https?://[^\s/?#@]+(?::\d{1,5})?(?:[/?#]\S*)?", re.IGNORECASE)  # user:pass@ is refused
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}")
ORDER_TYPES = ("temporary", "ordinary")
AGENCY_KINDS = ("police", "court", "support")
MAX_POSSIBLES_TO_BREACH = 20


@dataclass(frozen=True, slots=True)
class Party:
    role: str  # respondent | victim
    person_id: str
    device_id: str | None
    report_interval_s: int
    home: tuple[float, float] | None = None  # (lon, lat) WGS-84: the respondent's registered address
    owntracks_topic: str | None = None  # owntracks/{user}/{device}: this party's device is the OwnTracks app
    locale: str | None = None  # the language of what her phone is told (zh, en; service.domain.notices)


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    zone_id: str
    kind: str
    name: str
    geometry: dict[str, Any]  # GeoJSON, WGS-84 (converted from the order's datum)
    radius_m: float | None
    schedule: tuple[Window, ...] | None = None  # weekly windows in force, in the order's time zone


@dataclass(frozen=True, slots=True)
class OrderSpec:
    order_id: str
    type: str
    court_id: str
    issued_at: datetime
    expires_at: datetime | None
    respondent: Party
    victim: Party
    zones: tuple[ZoneSpec, ...]
    min_distance_m: float | None
    pre_alert_m: float | None
    exit_margin_m: float | None
    datum: str
    body: dict[str, Any]
    timezone: str | None = None  # IANA name; required when a zone has a schedule
    possibles_to_breach: int | None = None  # possible checks in a row that make a breach (default 3)
    police_agency_id: str | None = None  # the police agency that answers for it (service.domain.responsibility)

    def parties(self) -> tuple[Party, Party]:
        return (self.respondent, self.victim)


def parse_order(body: Any) -> OrderSpec:
    if not isinstance(body, dict):
        raise InvalidInput("an order must be a JSON object")
    order_id = _id(body, "order_id")
    otype = body.get("type")
    if otype not in ORDER_TYPES:
        raise InvalidInput("type must be temporary or ordinary", "type")
    issued_at = _time(body, "issued_at", required=True)
    expires_at = _time(body, "expires_at", required=otype == "ordinary")
    if expires_at is not None and issued_at is not None and expires_at <= issued_at:
        raise InvalidInput("expires_at must be after issued_at", "expires_at")
    datum = body.get("datum", "wgs84")
    if datum not in DATUMS:
        raise InvalidInput("datum must be wgs84, gcj02 or bd09", "datum")
    zones = _zones(body.get("zones"), datum)
    timezone = body.get("timezone")
    if timezone is not None:
        if not isinstance(timezone, str) or not _tz_ok(timezone):
            raise InvalidInput("timezone must be an IANA time zone name such as Asia/Shanghai", "timezone")
    elif any(z.schedule for z in zones):
        raise InvalidInput("a zone has a schedule: the order needs a timezone (e.g. Asia/Shanghai)", "timezone")
    possibles = body.get("possibles_to_breach")
    if possibles is not None and (isinstance(possibles, bool) or not isinstance(possibles, int)
                                  or not 1 <= possibles <= MAX_POSSIBLES_TO_BREACH):
        raise InvalidInput(f"possibles_to_breach must be an integer from 1 to {MAX_POSSIBLES_TO_BREACH}",
                           "possibles_to_breach")
    respondent = _party(body, "respondent", device_required=True)
    if respondent.home is not None and datum != "wgs84":  # drawn on the same map as the zones
        respondent = replace(respondent, home=to_wgs84(*respondent.home, datum))
    return OrderSpec(
        order_id=order_id, type=otype, court_id=_id(body, "court"), issued_at=issued_at,  # type: ignore[arg-type]
        expires_at=expires_at,
        respondent=respondent,
        victim=_party(body, "victim", device_required=False),
        zones=zones,
        min_distance_m=_positive(body, "min_distance_m"), pre_alert_m=_positive(body, "pre_alert_m", zero=True),
        exit_margin_m=_positive(body, "exit_margin_m", zero=True), datum=datum, body=body,
        timezone=timezone, possibles_to_breach=possibles,
        police_agency_id=_id(body, "police_agency_id") if body.get("police_agency_id") is not None else None,
    )


def _tz_ok(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_agencies(collection: Any) -> list[Agency]:
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise InvalidInput("the agencies file must be a GeoJSON FeatureCollection")
    features = collection.get("features")
    if not isinstance(features, list):
        raise InvalidInput("features must be an array", "features")
    agencies, seen = [], set()
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            raise InvalidInput("a feature needs properties", f"{where}.properties")
        agency_id = _id(props, "agency_id", f"{where}.properties.")
        if agency_id in seen:
            raise InvalidInput(f"agency_id {agency_id} appears twice", f"{where}.properties.agency_id")
        seen.add(agency_id)
        kind = props.get("kind")
        if kind not in AGENCY_KINDS:
            raise InvalidInput("kind must be police, court or support", f"{where}.properties.kind")
        geometry = feature.get("geometry")
        if kind == "police" and (not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon")):
            raise InvalidInput("a police agency needs a Polygon or MultiPolygon jurisdiction", f"{where}.geometry")
        name = props.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidInput("name must be a non-empty string", f"{where}.properties.name")
        webhook = props.get("webhook_url")
        if webhook is not None and (not isinstance(webhook, str) or not _HTTP_URL.fullmatch(webhook)):
            raise InvalidInput("webhook_url must be an http(s) URL", f"{where}.properties.webhook_url")
        escalation = props.get("escalation")
        if escalation is not None:
            _check_escalation(escalation, f"{where}.properties.escalation")
        escalate_to = props.get("escalate_to", [])
        if not isinstance(escalate_to, list) or not all(isinstance(a, str) and a for a in escalate_to):
            raise InvalidInput("escalate_to must be a list of agency ids", f"{where}.properties.escalate_to")
        if agency_id in escalate_to:
            raise InvalidInput("an agency can't escalate to itself", f"{where}.properties.escalate_to")
        response, legal_profile = _response_and_profile(props, kind, where)
        agencies.append(Agency(agency_id, name, kind, geometry if isinstance(geometry, dict) else None, webhook,
                               escalation or None, tuple(dict.fromkeys(escalate_to)), legal_profile, response=response))
    ids = {a.agency_id for a in agencies}
    for i, a in enumerate(agencies):
        missing = [x for x in a.escalate_to if x not in ids]
        if missing:
            raise InvalidInput(f"escalate_to names agencies not in this file: {', '.join(missing)}",
                               f"features[{i}].properties.escalate_to")
    return agencies


def _response_and_profile(props: dict[str, Any], kind: str, where: str) -> tuple[dict[str, float] | None, str | None]:
    """An agency's response deadlines (``{"dispatch_s", "on_scene_s"}``) and legal profile (a court's), checked."""
    response = props.get("response")
    if response is not None:
        from alerts.escalation import parse_response

        try:
            dispatch_s, on_scene_s = parse_response(response)
        except ValueError as exc:
            raise InvalidInput(str(exc), f"{where}.properties.response") from exc
        response = {"dispatch_s": dispatch_s, "on_scene_s": on_scene_s}
    legal_profile = props.get("legal_profile")
    if legal_profile is not None:
        from service.domain import profiles

        if kind != "court":
            raise InvalidInput("legal_profile is a court's property", f"{where}.properties.legal_profile")
        if legal_profile not in profiles.PROFILES:
            raise InvalidInput(f"unknown legal profile {str(legal_profile)[:40]!r}: one of "
                               f"{', '.join(profiles.PROFILES)}", f"{where}.properties.legal_profile")
    return response, legal_profile


def _check_escalation(raw: Any, where: str) -> None:
    keys = {k.value for k in Kind} | {s.value for s in Severity}
    if not isinstance(raw, dict):
        raise InvalidInput("escalation must be an object: {kind or severity: [[seconds, action], ...]}", where)
    for key, steps in raw.items():
        if key not in keys:
            raise InvalidInput(f"escalation: {key} is neither an alert kind nor a severity", f"{where}.{key}")
        try:
            if not isinstance(steps, list):
                raise ValueError("steps must be a list")
            parse_steps(steps)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"escalation: {exc}", f"{where}.{key}") from None


def _party(body: dict[str, Any], role: str, device_required: bool) -> Party:
    p = body.get(role)
    if not isinstance(p, dict):
        raise InvalidInput(f"{role} must be an object", role)
    device_id = p.get("device_id")
    if device_id is not None or device_required:
        device_id = _id(p, "device_id", f"{role}.")
    interval = p.get("report_interval_s", 60)
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= 86400:
        raise InvalidInput("report_interval_s must be an integer from 1 to 86400", f"{role}.report_interval_s")
    home = p.get("home")
    if home is not None:
        _coords(home, f"{role}.home")
        home = (float(home[0]), float(home[1]))
    owntracks = p.get("owntracks_topic")
    if owntracks is not None:
        if not isinstance(owntracks, str) or not _OWNTRACKS.fullmatch(owntracks):
            raise InvalidInput("owntracks_topic must be owntracks/{user}/{device}", f"{role}.owntracks_topic")
        if device_id is None:
            raise InvalidInput("an OwnTracks topic needs the party's device_id it stands for", f"{role}.device_id")
    locale = p.get("locale")
    if locale is not None and (not isinstance(locale, str) or not _LOCALE.fullmatch(locale)):
        raise InvalidInput("locale must be a language tag such as zh-CN or en", f"{role}.locale")
    return Party(role, _id(p, "person_id", f"{role}."), device_id, interval, home, owntracks, locale)


def _zones(fc: Any, datum: str = "wgs84") -> tuple[ZoneSpec, ...]:
    if not isinstance(fc, dict) or fc.get("type") != "FeatureCollection" or not isinstance(fc.get("features"), list):
        raise InvalidInput("zones must be a GeoJSON FeatureCollection", "zones")
    zones, seen = [], set()
    for i, f in enumerate(fc["features"]):
        where = f"zones.features[{i}]"
        props, geom = (f.get("properties"), f.get("geometry")) if isinstance(f, dict) else (None, None)
        if not isinstance(props, dict) or not isinstance(geom, dict):
            raise InvalidInput("a zone feature needs properties and a geometry", where)
        zone_id = _id(props, "zone_id", f"{where}.properties.")
        if zone_id in seen:
            raise InvalidInput(f"zone_id {zone_id} appears twice", f"{where}.properties.zone_id")
        seen.add(zone_id)
        radius = props.get("radius_m")
        if geom.get("type") == "Point":
            if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not 0 < radius <= 100_000:
                raise InvalidInput("a Point zone needs radius_m in (0, 100000]", f"{where}.properties.radius_m")
            _coords(geom.get("coordinates"), f"{where}.geometry.coordinates")
        elif geom.get("type") in ("Polygon", "MultiPolygon"):
            _rings(geom.get("coordinates"), 2 if geom["type"] == "Polygon" else 3, f"{where}.geometry.coordinates")
        else:
            raise InvalidInput("zone geometry must be Point, Polygon or MultiPolygon", f"{where}.geometry.type")
        kind, name = props.get("kind", "other"), props.get("name", zone_id)
        if not isinstance(kind, str) or not isinstance(name, str):
            raise InvalidInput("kind and name must be strings", f"{where}.properties")
        wgs84 = geom if datum == "wgs84" else geometry_to_wgs84(geom, datum)
        zones.append(ZoneSpec(zone_id, kind, name, wgs84, float(radius) if geom["type"] == "Point" else None,
                              _schedule(props.get("schedule"), f"{where}.properties.schedule")))
    return tuple(zones)


def _schedule(value: Any, where: str) -> tuple[Window, ...] | None:
    """``[{"days": ["mon", ...], "start": "07:00", "end": "18:00"}, ...]``, or absent: always in force."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidInput("schedule must be a non-empty array of windows", where)
    windows = []
    for i, w in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(w, dict):
            raise InvalidInput("a schedule window must be an object", at)
        days = w.get("days", list(DAYS))
        if not isinstance(days, list) or not days or not all(isinstance(d, str) and d in DAYS for d in days):
            raise InvalidInput("days must be a non-empty array of mon tue wed thu fri sat sun", f"{at}.days")
        try:
            start, end = parse_hhmm(w.get("start", "")), parse_hhmm(w.get("end", ""))
        except (ValueError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"start and end must be HH:MM ({exc})", at) from exc
        windows.append(Window(frozenset(DAYS.index(d) for d in days), start, end))
    return tuple(windows)


def _rings(c: Any, depth: int, where: str) -> None:
    """Polygon (depth 2) or MultiPolygon (depth 3) coordinates: non-empty arrays of [lon, lat] positions."""
    if not isinstance(c, list) or not c:
        raise InvalidInput("polygon coordinates must be non-empty arrays of [lon, lat] positions", where)
    for part in c:
        if depth == 1:
            _coords(part, where)
        else:
            _rings(part, depth - 1, where)


def _coords(c: Any, where: str) -> None:
    ok = isinstance(c, list) and len(c) >= 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c[:2])
    if not ok or not (-180 <= c[0] <= 180 and -90 <= c[1] <= 90):
        raise InvalidInput("coordinates must be [lon, lat] in WGS-84 range", where)


def _id(o: dict[str, Any], name: str, prefix: str = "") -> str:
    value = o.get(name)
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidInput(f"{name} must be 1-64 of A-Z a-z 0-9 . _ -", prefix + name)
    return value


def _time(o: dict[str, Any], name: str, required: bool) -> datetime | None:
    value = o.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"{name} is required", name)
        return None
    ts = parse_ts(value) if isinstance(value, str) else None
    if ts is None:
        raise InvalidInput(f"{name} must be an RFC 3339 date-time", name)
    return ts


def _positive(o: dict[str, Any], name: str, zero: bool = False) -> float | None:
    value = o.get(name)
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0
            or (value == 0 and not zero)):
        raise InvalidInput(f"{name} must be a {'non-negative' if zero else 'positive'} number", name)
    return float(value)

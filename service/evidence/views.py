"""The bundle's readable views of its records: ``timeline.json`` (the order, its legal history, its service
and the alert events), ``timeline.geojson`` (her zones in the full edition, the respondent's track, where
each alert event happened), ``timeline.csv`` and ``report.pdf``. The redacted edition's records come
already cut (``service.evidence.redaction``); no distance to her or into her zones is written from them."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from service.evidence import report
from service.evidence.records import plain
from service.wire.rfc3339 import format_ts, parse_ts

BREACHES = ("zone_breach", "proximity")


def views(order: dict[str, Any], records: list[dict[str, Any]], locale: str, edition: str) -> dict[str, bytes]:
    respondent_devices = {((v.get("body") or {}).get("respondent") or {}).get("device_id")
                          for v in records if v["record"] == "order_version"}
    his = [r for r in records if r["record"] == "location_report" and r["device_id"] in respondent_devices]
    rows = _event_rows(records)
    service = [{"party": r["party"], "served_at": format_ts(r["served_at"]), "method": r.get("method"),
                "served_by": r["served_by"]} for r in records if r["record"] == "service_record"]
    for row in rows:
        row["served_before"] = _served_before(row, service) if row["kind"] in BREACHES else None
    latest = next((r["body"] for r in reversed(records) if r["record"] == "order_version"
                   and isinstance(r.get("body"), dict) and "zones" in r["body"]), {})
    zones = latest.get("zones") or {}
    names = {z.get("zone_id"): z.get("name") or z.get("kind") for z in (  # the redacted edition's: the kind
        zones if isinstance(zones, list) else [f.get("properties") or {} for f in zones.get("features") or []])}
    timeline = {"edition": edition,
                "order": {k: order[k] for k in ("order_id", "type", "court_id", "issued_at", "expires_at", "status",
                                                 "version")},
                "history": [{k: r.get(k) for k in ("event", "at", "actor_id", "role", "reason", "details")}
                            for r in records if r["record"] == "order_event"],
                "service": service,
                "events": rows}
    features = _features(zones, his, rows, edition)
    if edition == "redacted":
        for row in rows:
            row.pop("distance_m", None)  # never there: no distance to her or into her zones
    return {"timeline.json": orjson.dumps(timeline, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2, default=plain),
            "timeline.geojson": orjson.dumps({"type": "FeatureCollection", "features": features},
                                             option=orjson.OPT_SORT_KEYS),
            "timeline.csv": _table(rows, edition),
            "report.pdf": report.pdf(order, timeline, names, len(records), len(his), locale)}


def _event_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per alert event: from the alert log (the full edition), or the redacted edition's cut events."""
    rows = []
    for e in records:
        if e["record"] == "alert_log":
            message = next(iter((e.get("message") or {}).values()), {})
            rows.append({"at": format_ts(e["at"]), "alert_id": e["alert_id"], "event_seq": e["event_seq"],
                         "kind": message.get("kind"), "event": e["event"], "status": e["status"], "by": e["actor"],
                         "source": e["source"], "zone_id": (message.get("zone") or {}).get("zone_id"),
                         "distance_m": message.get("distance_m"), "respondent": message.get("respondent"),
                         "occurred_at": message.get("occurred_at"), "note": e.get("note")})
        elif e["record"] == "alert_event":  # the redacted edition's, already cut
            rows.append({"at": e["at"], "alert_id": e["alert_id"], "event_seq": e.get("event_seq"),
                         "kind": e.get("kind"), "event": e.get("event"), "status": e.get("status"), "by": e.get("by"),
                         "source": e.get("source"), "zone_id": e.get("zone_id"), "respondent": e.get("respondent"),
                         "occurred_at": e.get("occurred_at") or e.get("raised_at"), "note": e.get("note")})
    return rows


def _features(zones: Any, his: list[dict[str, Any]], rows: list[dict[str, Any]], edition: str) -> list[dict[str, Any]]:
    """The map layer: her zones (the full edition only), his track, where each alert event happened."""
    features = [] if edition == "redacted" else [
        {"type": "Feature", "geometry": f.get("geometry"), "properties": {"layer": "zone", **(f.get("properties") or {})}}
        for f in (zones.get("features") or [] if isinstance(zones, dict) else [])]
    if his:
        features.append({"type": "Feature", "geometry": {"type": "LineString",
                                                        "coordinates": [[r["lon"], r["lat"]] for r in his]},
                         "properties": {"layer": "respondent_track", "from": format_ts(his[0]["device_ts"]),
                                        "to": format_ts(his[-1]["device_ts"]), "points": len(his)}})
    for row in rows:
        fix = row["respondent"]
        if isinstance(fix, dict) and fix.get("lon") is not None:
            features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [fix["lon"], fix["lat"]]},
                             "properties": {"layer": "alert_event", **{k: row[k] for k in ("at", "alert_id", "kind",
                                                                                            "event")}}})
    return features


def _table(rows: list[dict[str, Any]], edition: str) -> bytes:
    """The alert events as CSV (the redacted edition without a distance column)."""
    table = io.StringIO()
    writer = csv.writer(table)
    columns = ("at", "alert_id", "event_seq", "kind", "event", "status", "by", "source", "zone_id",
               *(() if edition == "redacted" else ("distance_m",)), "note", "served_before")
    writer.writerow(columns)
    for row in rows:
        served = row["served_before"]
        writer.writerow([("" if served is None else "yes" if served else "no") if k == "served_before" else row[k]
                         for k in columns])
    return table.getvalue().encode()


def _served_before(row: dict[str, Any], service: list[dict[str, Any]]) -> dict[str, Any] | bool:
    """The respondent's first service at or before the breach (its ``occurred_at``, else its event's time),
    or False."""
    at = parse_ts(row.get("occurred_at") or row["at"]) or parse_ts(row["at"])
    served = [s for s in service if s["party"] == "respondent" and parse_ts(s["served_at"]) <= at]
    return min(served, key=lambda s: parse_ts(s["served_at"])) if served else False

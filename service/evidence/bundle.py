"""An order's evidence bundle: one zip a court can check with nothing but the zip.

Contents (``FORMAT`` 1):

- ``records.jsonl``: every append-only record involved, one canonical JSON object per line (sorted
  keys, UTC times, raw device payloads in base64): the devices' location, status and panic reports
  for the periods they stood for the order's parties, the alert log, the order's versions and legal
  history, and the access audit of the order;
- ``timeline.json``, ``timeline.geojson``, ``timeline.csv``: the same case as a timeline, a map
  layer (zones, the respondent's track, where each alert event happened) and a table;
- ``report.pdf``: a readable report, in Simplified Chinese (the default) or English (``locale``), set in
  Noto Sans CJK (the ``noto-cjk-sans-otc`` package, SIL OFL 1.1; only the glyphs used are embedded);
- ``manifest.json``: the SHA-256 of every file, each record's leaf hash, the records' Merkle root
  (RFC 6962) and hash-chain head, and the server's Ed25519 public key;
- ``manifest.sig``: the server's Ed25519 signature over ``manifest.json``.

Two editions (``manifest.json`` says which): ``full``, for the court, every record as stored; and
``redacted``, for disclosure to the respondent's side, without her data (``service.domain.her_data``): only
his devices' reports, no panic press of hers, the order without its zones' shapes, each alert event cut by
``her_data.shown_events`` as for a reader who may not see her (no position of hers, no distance to her or
into her zones; the moving zone's events at their rounded times), his fixes near the moving zone's episodes
withheld, no access audit. Free text that may name her places is withheld too (:data:`WITHHELD`): the
reasons of the order's versions and legal history, a version's source (an import file's path, also in an
import's actor id), the notes on alert events, and her zones' names (a zone is its id and kind, e.g.
``home``). Its ``records.jsonl`` holds those cut records, signed like the full edition's.

:func:`verify` checks, in order: the signature over the manifest; each file's hash; each record
against its signed leaf hash (so a changed, removed, inserted or reordered record is named by
position and kind); the Merkle root and the chain head. It returns what failed, where.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy.engine import Connection, Engine

from service.adapters.db import schema as t
from service.adapters.db import timeline_repo
from service.errors import NotFound
from service.evidence.merkle import chain_head, leaf_hash, merkle_root
from service.wire.rfc3339 import format_ts, parse_ts

FORMAT = "stayaway-evidence/1"
FILES = ("records.jsonl", "timeline.json", "timeline.geojson", "timeline.csv", "report.pdf")


# -- the signing key -------------------------------------------------------------------------------------

def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The server's evidence key (PEM, PKCS#8); made on first use, readable by its owner only."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# -- export ------------------------------------------------------------------------------------------------

def canonical(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(type(value).__name__)


def collect(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    """Every append-only record of the order, in a fixed order (kind, then row id)."""
    if conn.execute(sa.select(t.orders.c.order_id).where(t.orders.c.order_id == order_id)).first() is None:
        raise NotFound(f"no order {order_id}")
    records: list[dict[str, Any]] = []

    def add(kind: str, rows: Iterable[Any]) -> None:
        # plain str keys: column names are SQLAlchemy's quoted_name, a str subclass orjson refuses as a key
        records.extend({"record": kind, **{str(k): v for k, v in r.items()}} for r in rows)

    add("order_version", conn.execute(sa.select(t.order_versions).where(t.order_versions.c.order_id == order_id)
                                      .order_by(t.order_versions.c.id)).mappings())
    add("order_event", conn.execute(sa.select(t.order_events).where(t.order_events.c.order_id == order_id)
                                    .order_by(t.order_events.c.id)).mappings())
    periods = timeline_repo.device_periods(conn, [order_id]).get(order_id, [])
    for table, kind in ((t.location_reports, "location_report"), (t.status_reports, "status_report"),
                        (t.panic_presses, "panic_press")):
        by_id: dict[int, Any] = {}  # a device may stand for both periods' parties: each row once
        for p in periods:
            q = sa.select(table).where(table.c.device_id == p.device_id, table.c.device_ts >= p.start)
            if p.end is not None:
                q = q.where(table.c.device_ts < p.end)
            by_id.update((r["id"], r) for r in conn.execute(q).mappings())
        add(kind, [by_id[i] for i in sorted(by_id)])
    alert_ids = [a for (a,) in conn.execute(sa.select(t.alerts.c.alert_id).where(t.alerts.c.order_id == order_id))]
    add("alert_log", conn.execute(sa.select(t.alert_log).where(t.alert_log.c.alert_id.in_(alert_ids))
                                  .order_by(t.alert_log.c.id)).mappings() if alert_ids else [])
    add("service_record", conn.execute(sa.select(t.service_records).where(t.service_records.c.order_id == order_id)
                                       .order_by(t.service_records.c.id)).mappings())
    add("access_audit", conn.execute(sa.select(t.access_audit).where(t.access_audit.c.object_id == order_id)
                                     .order_by(t.access_audit.c.id)).mappings())
    return records


EDITIONS = ("full", "redacted")


def export(engine: Engine, order_id: str, key: Ed25519PrivateKey, clock: Callable[[], datetime],
           exported_by: str, locale: str = "zh-CN", edition: str = "full") -> bytes:
    """The bundle as zip bytes: ``edition`` ``full`` (the court's) or ``redacted`` (without her data); the
    report's labels in ``locale`` (``zh-CN``, ``en``; anything else: Chinese)."""
    if edition not in EDITIONS:
        raise ValueError(f"edition: one of {', '.join(EDITIONS)}")
    locale = locale if locale in TEXTS["title"] else "zh-CN"
    with engine.connect() as conn:
        records = collect(conn, order_id)
        order = dict(conn.execute(sa.select(t.orders).where(t.orders.c.order_id == order_id)).mappings().one())
        if edition == "redacted":
            records = redact(conn, order_id, records)
    lines = [canonical(r) for r in records]
    leaves = [leaf_hash(line) for line in lines]
    files = {"records.jsonl": b"".join(line + b"\n" for line in lines)}
    files.update(_views(order, records, locale, edition))
    public = key.public_key()
    manifest = {
        "format": FORMAT, "edition": edition, "order_id": order_id, "created_at": format_ts(clock()),
        "exported_by": exported_by,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "records": {"count": len(lines), "kinds": [r["record"] for r in records],
                    "leaf_hashes": [x.hex() for x in leaves], "merkle_root": merkle_root(leaves).hex(),
                    "chain_head": chain_head(leaves).hex()},
        "signature": {"algorithm": "Ed25519", "key_id": key_id(public), "public_key": base64.b64encode(
            public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()},
    }
    manifest_bytes = orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in FILES:
            z.writestr(_entry(name), files[name])
        z.writestr(_entry("manifest.json"), manifest_bytes)
        z.writestr(_entry("manifest.sig"), base64.b64encode(key.sign(manifest_bytes)) + b"\n")
    return out.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed time (the zip's own would be the wall clock's): the same bytes for the same case."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


# -- the redacted edition: what the respondent's side may see ---------------------------------------------

# allow-lists, as in service.domain.her_data: a field not named here stays out of the redacted edition
_ORDER_BODY = ("order_id", "type", "court", "issued_at", "expires_at", "min_distance_m", "pre_alert_m",
               "exit_margin_m", "datum", "timezone", "possibles_to_breach", "police_agency_id")
_ZONE = ("zone_id", "kind")  # her places by id and kind (home, work...): never their shapes, nor their names
_SERVED = ("party", "served_at", "method")
WITHHELD = "[withheld: free text]"  # a free-text field of the redacted edition (it may name her places)
_IMPORT_ACTOR = "import:"  # an import's actor id: "import:" and the file's path (service.importing)


def _withheld(value: Any) -> Any:
    return None if value is None else WITHHELD


def _actor(actor_id: Any) -> Any:
    return "import:" + WITHHELD if isinstance(actor_id, str) and actor_id.startswith(_IMPORT_ACTOR) else actor_id


def redact(conn: Connection, order_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records without her data (module docstring): each one cut from a stored record, in the same order."""
    from service.adapters.db import config_repo
    from service.domain import her_data

    periods = [p for p in timeline_repo.device_periods(conn, [order_id]).get(order_id, []) if p.role == "respondent"]
    since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    watched = any(s.min_distance_m is not None for s in config_repo.load_orders(conn, [order_id]))
    windows = her_data.withheld_windows(
        timeline_repo.moving_zone_spans(conn, order_id, since, until),
        timeline_repo.latest_fix_ts(conn, periods, "respondent") if watched else None)
    events = timeline_repo.alert_events(conn, order_id, since, until)

    def his(r: dict[str, Any]) -> bool:
        return any(r["device_id"] == p.device_id and r["device_ts"] >= p.start and (p.end is None or r["device_ts"] < p.end)
                   for p in periods)

    out: list[dict[str, Any]] = []
    for r in records:
        kind = r["record"]
        if kind == "order_version":
            out.append({**r, "body": _cut_body(r.get("body")), "reason": _withheld(r.get("reason")),
                        "source": _withheld(r.get("source")), "actor_id": _actor(r.get("actor_id"))})
        elif kind == "order_event":
            details = r.get("details") if isinstance(r.get("details"), dict) else {}
            out.append({**r, "reason": _withheld(r.get("reason")), "actor_id": _actor(r.get("actor_id")),
                        "details": {k: details[k] for k in _SERVED if k in details} if r["event"] == "served" else None})
        elif kind == "location_report":
            if his(r) and not her_data.withheld_fix(r["device_ts"], r.get("received_at"),
                                                    [f for f in (r.get("flags") or "").split(",") if f], windows):
                out.append(r)
        elif kind in ("status_report", "panic_press"):
            if his(r):  # her phone's reports and her panic presses (where she was) stay out
                out.append(r)
        elif kind == "service_record":
            out.append(r)
        # alert_log (its messages carry her fix, distances, her zones' edges) and access_audit: below / left out
    raised = {e["alert_id"]: e["raised_at"] for e in events}
    shown = her_data.shown_events([_alert_event(e) for e in events], False, since, until, raised, windows)
    out.extend({"record": "alert_event", **_cut_event(e)} for e in shown)
    return out


def _cut_event(e: dict[str, Any]) -> dict[str, Any]:
    """An alert event shown without its free text: the officer's note, the zone's name."""
    out = {**e, "by": _actor(e.get("by"))}
    if "note" in out:
        out["note"] = _withheld(out["note"])
    if isinstance(out.get("zone"), dict):
        out["zone"] = {k: v for k, v in out["zone"].items() if k in _ZONE}
    return out


def _cut_body(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    out: dict[str, Any] = {k: body[k] for k in _ORDER_BODY if k in body}
    if isinstance(body.get("respondent"), dict):
        out["respondent"] = body["respondent"]  # his own
    if isinstance(body.get("victim"), dict):
        out["victim"] = {k: v for k, v in body["victim"].items() if k == "person_id"}
    if isinstance(body.get("zones"), dict):
        out["zones"] = [{k: (f.get("properties") or {}).get(k) for k in _ZONE}
                        for f in body["zones"].get("features") or [] if isinstance(f, dict)]
    return out


# the fields of an alert message the timeline shows (cut again by her_data.shown_events)
_EVENT_FIELDS = ("distance_m", "condition", "confidence", "retroactive", "escalation", "action", "unit", "outcome",
                 "referred_to", "device_id", "ended_at", "silent", "flips", "respondent", "zone", "victim",
                 "occurred_at")


def _alert_event(e: dict[str, Any]) -> dict[str, Any]:
    message = next(iter((e["message"] or {}).values()), {})
    out = {"at": format_ts(e["at"]), "alert_id": e["alert_id"], "event_seq": e["event_seq"], "kind": e["kind"],
           "severity": e["severity"], "event": e["event"], "status": e["status"], "zone_id": e["zone_id"],
           "by": e["actor"], "source": e["source"], "raised_at": format_ts(e["raised_at"])}
    out.update({k: message[k] for k in _EVENT_FIELDS if k in message})
    if e.get("note"):
        out["note"] = e["note"]
    return out


# -- the readable views ----------------------------------------------------------------------------------

def _views(order: dict[str, Any], records: list[dict[str, Any]], locale: str, edition: str) -> dict[str, bytes]:
    respondent_devices = {((v.get("body") or {}).get("respondent") or {}).get("device_id")
                          for v in records if v["record"] == "order_version"}
    his = [r for r in records if r["record"] == "location_report" and r["device_id"] in respondent_devices]
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
    if edition == "redacted":
        for row in rows:
            row.pop("distance_m", None)  # never there: no distance to her or into her zones
    table = io.StringIO()
    writer = csv.writer(table)
    columns = ("at", "alert_id", "event_seq", "kind", "event", "status", "by", "source", "zone_id",
               *(() if edition == "redacted" else ("distance_m",)), "note", "served_before")
    writer.writerow(columns)
    for row in rows:
        served = row["served_before"]
        writer.writerow([("" if served is None else "yes" if served else "no") if k == "served_before" else row[k]
                         for k in columns])
    return {"timeline.json": orjson.dumps(timeline, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2, default=_plain),
            "timeline.geojson": orjson.dumps({"type": "FeatureCollection", "features": features},
                                             option=orjson.OPT_SORT_KEYS),
            "timeline.csv": table.getvalue().encode(),
            "report.pdf": _pdf(order, timeline, names, len(records), len(his), locale)}


BREACHES = ("zone_breach", "proximity")


def _served_before(row: dict[str, Any], service: list[dict[str, Any]]) -> dict[str, Any] | bool:
    """The respondent's first service at or before the breach (its ``occurred_at``, else its event's time),
    or False."""
    at = parse_ts(row.get("occurred_at") or row["at"]) or parse_ts(row["at"])
    served = [s for s in service if s["party"] == "respondent" and parse_ts(s["served_at"]) <= at]
    return min(served, key=lambda s: parse_ts(s["served_at"])) if served else False


# -- the report ------------------------------------------------------------------------------------------

# every text of the report, in both languages (the words of the API, such as alert kinds and statuses, come
# from the web app's catalogue: service.web.i18n.LABELS)
TEXTS: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "保护令 {order_id} 证据报告", "en": "Protection order {order_id}: evidence report"},
    "full": {"zh-CN": "完整版（供法院使用）：包含全部记录", "en": "Full edition (for the court): every record"},
    "redacted": {"zh-CN": "删减版（向被申请人一方披露）：不含受害人的位置、禁止区域的形状，以及与受害人或其区域之间的距离；"
                          "临近移动区域事件前后的被申请人位置不予显示，这些事件的时间向下取整至 30 分钟",
                 "en": "Redacted edition (for disclosure to the respondent's side): no positions of the victim, no "
                       "shapes of her zones, no distances to her or into her zones; his positions near the moving "
                       "zone's episodes are withheld and those episodes' times rounded down to 30 minutes"},
    "type": {"zh-CN": "类型", "en": "Type"},
    "court": {"zh-CN": "法院", "en": "Court"},
    "issued": {"zh-CN": "签发时间", "en": "Issued"},
    "expires": {"zh-CN": "到期时间", "en": "Expires"},
    "status": {"zh-CN": "状态", "en": "Status"},
    "records": {"zh-CN": "记录数", "en": "Records"},
    "points": {"zh-CN": "被申请人轨迹点数", "en": "Respondent track points"},
    "history": {"zh-CN": "法律程序记录", "en": "Legal history"},
    "service": {"zh-CN": "送达记录", "en": "Service"},
    "no_service": {"zh-CN": "尚无送达记录", "en": "No service recorded"},
    "service_line": {"zh-CN": "{at}  向{party}送达，方式：{method}（记录人：{by}）",
                     "en": "{at}  served on the {party} by {method} (recorded by {by})"},
    "no_method": {"zh-CN": "未记录", "en": "a method not recorded"},
    "events": {"zh-CN": "警报事件", "en": "Alert events"},
    "by": {"zh-CN": "操作人", "en": "by"},
    "zone": {"zh-CN": "区域", "en": "zone"},
    "metres": {"zh-CN": "{d:.0f} 米", "en": "{d:.0f} m"},
    "served_yes": {"zh-CN": "此前是否已向被申请人送达：是（{at}，方式：{method}）",
                   "en": "served before: yes ({at} by {method})"},
    "served_no": {"zh-CN": "此前是否已向被申请人送达：否，尚未送达", "en": "served before: no: not yet served"},
    "served_details": {"zh-CN": "（{party}，方式：{method}）", "en": " ({party}, by {method})"},
    "none": {"zh-CN": "无", "en": "-"},
    "footer": {"zh-CN": "本报告所依据的每一条记录均在 records.jsonl 中；manifest.json 保存其哈希值、默克尔根和哈希链头，"
                        "并由服务器签名（manifest.sig）。核验命令：stayaway evidence verify FILE",
               "en": "Every record behind this report is in records.jsonl; manifest.json holds their hashes, "
                     "Merkle root and chain head, signed by the server (manifest.sig). "
                     "Check with: stayaway evidence verify FILE"},
}
FONT_FACE = 2  # Noto Sans CJK SC: Simplified Chinese glyph forms, in the package's OpenType collection


def _text(locale: str, key: str, **values: Any) -> str:
    return TEXTS[key][locale].format(**values)


@functools.lru_cache(maxsize=2)
def _catalogue(locale: str) -> Any:
    from service.web.i18n import load_catalogues

    catalogues = load_catalogues()
    return catalogues.get(locale, catalogues["en"])


def _label(locale: str, value: Any) -> str:
    from service.web.i18n import LABELS

    if value in LABELS:
        return str(_catalogue(locale).gettext(LABELS[value]))
    return "" if value is None else str(value)


def _pdf(order: dict[str, Any], timeline: dict[str, Any], zone_names: dict[Any, Any], n_records: int,
         n_points: int, locale: str) -> bytes:
    from importlib.resources import as_file

    from fpdf import FPDF
    from noto_cjk_sans_otc import FONT_PATH

    def say(key: str, **values: Any) -> str:
        return _text(locale, key, **values)

    def line(text: str, size: float = 8, h: float = 4) -> None:
        pdf.set_font("cjk", size=size)
        pdf.multi_cell(0, h, text, new_x="LMARGIN", new_y="NEXT", align="L")

    pdf = FPDF()
    pdf.set_creation_date(order["issued_at"])  # the same bytes for the same case: no wall clock inside
    with as_file(FONT_PATH) as font:
        pdf.add_font("cjk", "", font, collection_font_number=FONT_FACE)
        pdf.add_page()
        line(say("title", order_id=order["order_id"]), 14, 9)
        line(say(timeline["edition"]), 8)
        pdf.ln(2)
        for key, value in (("type", _label(locale, order["type"])), ("court", order["court_id"]),
                           ("issued", format_ts(order["issued_at"])),
                           ("expires", format_ts(order["expires_at"]) if order["expires_at"] else say("none")),
                           ("status", _label(locale, order["status"])), ("records", n_records), ("points", n_points)):
            line(f"{say(key)}: {value}", 9, 5)
        pdf.ln(3)
        line(say("history"), 11, 7)
        for h in timeline["history"]:
            details = h.get("details") if isinstance(h.get("details"), dict) else {}
            served = say("served_details", party=_label(locale, details.get("party")),
                         method=details.get("method") or say("no_method")) if h["event"] == "served" and details else ""
            line(f"{format_ts(h['at'])}  {_label(locale, h['event'])}{served}  {say('by')} {h['actor_id']} "
                 f"({_label(locale, h['role'])})" + (f": {h['reason']}" if h["reason"] else ""))
        pdf.ln(3)
        line(say("service"), 11, 7)
        for s in timeline["service"]:
            line(say("service_line", at=s["served_at"], party=_label(locale, s["party"]),
                     method=s["method"] or say("no_method"), by=s["served_by"]))
        if not timeline["service"]:
            line(say("no_service"))
        pdf.ln(3)
        line(say("events"), 11, 7)
        for e in timeline["events"]:
            zone = e["zone_id"]
            where = f"  {say('zone')} {zone}" + (f" ({zone_names[zone]})" if zone_names.get(zone) else "") if zone else ""
            dist = f", {say('metres', d=e['distance_m'])}" if isinstance(e.get("distance_m"), (int, float)) else ""
            note = f"  “{e['note']}”" if e.get("note") else ""
            line(f"{e['at']}  {_label(locale, e['kind'])} {_label(locale, e['event'])} -> {_label(locale, e['status'])}"
                 f"{where}{dist}  {say('by')} {e['by']}{note}")
            if e["served_before"] is not None and e["event"] == "raised":
                served = e["served_before"]
                line("    " + (say("served_yes", at=served["served_at"], method=served["method"] or say("no_method"))
                               if served else say("served_no")))
        pdf.ln(3)
        line(say("footer"))
        return bytes(pdf.output())


# -- verification (stand-alone: the zip and nothing else) ------------------------------------------------

@dataclass
class Verdict:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    order_id: str | None = None
    key_id: str | None = None
    records: int = 0
    edition: str | None = None  # full | redacted (a bundle made before editions: full)

    def fail(self, where: str) -> None:
        self.ok = False
        self.problems.append(where)


def verify(data: bytes, expected_key_id: str | None = None) -> Verdict:
    v = Verdict()
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = set(z.namelist())
    except zipfile.BadZipFile:
        v.fail("not a zip file (or a damaged one)")
        return v
    for needed in ("manifest.json", "manifest.sig"):
        if needed not in names:
            v.fail(f"{needed} is missing")
    if not v.ok:
        return v
    try:
        manifest_bytes, sig = z.read("manifest.json"), base64.b64decode(z.read("manifest.sig").strip(), validate=True)
        manifest = orjson.loads(manifest_bytes)
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(manifest["signature"]["public_key"]))
    except (zipfile.BadZipFile, ValueError, KeyError, TypeError) as exc:
        v.fail(f"manifest unreadable ({type(exc).__name__})")
        return v
    v.order_id, v.key_id, v.edition = manifest.get("order_id"), key_id(public), manifest.get("edition", "full")
    try:
        public.verify(sig, manifest_bytes)
    except InvalidSignature:
        v.fail("manifest.json: the server's signature does not match (the manifest or its signature was changed)")
        return v
    if manifest.get("format") != FORMAT:
        v.fail(f"manifest.json: unknown format {manifest.get('format')!r}")
    if v.edition not in EDITIONS:
        v.fail(f"manifest.json: unknown edition {v.edition!r}")
    if expected_key_id is not None and v.key_id != expected_key_id:
        v.fail(f"signed with key {v.key_id}, not the expected {expected_key_id}")
    for name, digest in manifest.get("files", {}).items():
        if name not in names:
            v.fail(f"{name}: missing from the bundle")
            continue
        try:
            body = z.read(name)
        except zipfile.BadZipFile:
            v.fail(f"{name}: damaged in the zip")
            continue
        if hashlib.sha256(body).hexdigest() != digest:
            v.fail(f"{name}: its SHA-256 differs from the signed manifest")
    extra = names - set(manifest.get("files", {})) - {"manifest.json", "manifest.sig"}
    for name in sorted(extra):
        v.fail(f"{name}: not in the signed manifest (added)")
    _verify_records(z, names, manifest.get("records", {}), v)
    return v


def _verify_records(z: zipfile.ZipFile, names: set[str], signed: dict[str, Any], v: Verdict) -> None:
    if "records.jsonl" not in names:
        return
    try:
        lines = z.read("records.jsonl").splitlines()
    except zipfile.BadZipFile:
        return
    expected = [bytes.fromhex(x) for x in signed.get("leaf_hashes", [])]
    kinds = signed.get("kinds", [])
    v.records = len(lines)
    if merkle_root(expected).hex() != signed.get("merkle_root") or chain_head(expected).hex() != signed.get(
            "chain_head") or len(expected) != signed.get("count"):
        v.fail("manifest.json: leaf hashes do not give its Merkle root and chain head")
    leaves = [leaf_hash(line) for line in lines]
    if len(leaves) != len(expected):
        v.fail(f"records.jsonl: {len(leaves)} records, the signed manifest has {len(expected)} "
               f"({'some removed' if len(leaves) < len(expected) else 'some inserted'})")
    for i, (got, want) in enumerate(zip(leaves, expected, strict=False)):
        if got != want:
            kind = kinds[i] if i < len(kinds) else "?"
            moved = want in leaves
            v.fail(f"records.jsonl line {i + 1}: differs from signed record {i + 1} ({kind})"
                   + (": records reordered, removed or inserted here" if moved or len(leaves) != len(expected)
                      else ": record changed"))
            break
    if leaves and merkle_root(leaves).hex() != signed.get("merkle_root"):
        v.fail("records.jsonl: the Merkle root of its records differs from the signed one")
    if chain_head(leaves).hex() != signed.get("chain_head"):
        v.fail("records.jsonl: the hash chain over its records differs from the signed head")

"""An order's evidence bundle: one zip a court can check with nothing but the zip.

Contents (``FORMAT`` 1):

- ``records.jsonl``: every append-only record involved, one canonical JSON object per line (sorted
  keys, UTC times, raw device payloads in base64): the devices' location, status and panic reports
  for the periods they stood for the order's parties, the alert log, the order's versions and legal
  history, and the access audit of the order;
- ``timeline.json``, ``timeline.geojson``, ``timeline.csv``: the same case as a timeline, a map
  layer (zones, the respondent's track, where each alert event happened) and a table;
- ``report.pdf``: a readable report;
- ``manifest.json``: the SHA-256 of every file, each record's leaf hash, the records' Merkle root
  (RFC 6962) and hash-chain head, and the server's Ed25519 public key;
- ``manifest.sig``: the server's Ed25519 signature over ``manifest.json``.

:func:`verify` checks, in order: the signature over the manifest; each file's hash; each record
against its signed leaf hash (so a changed, removed, inserted or reordered record is named by
position and kind); the Merkle root and the chain head. It returns what failed, where.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
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
from service.wire.rfc3339 import format_ts

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
    add("access_audit", conn.execute(sa.select(t.access_audit).where(t.access_audit.c.object_id == order_id)
                                     .order_by(t.access_audit.c.id)).mappings())
    return records


def export(engine: Engine, order_id: str, key: Ed25519PrivateKey, clock: Callable[[], datetime],
           exported_by: str) -> bytes:
    """The bundle as zip bytes."""
    with engine.connect() as conn:
        records = collect(conn, order_id)
        order = dict(conn.execute(sa.select(t.orders).where(t.orders.c.order_id == order_id)).mappings().one())
    lines = [canonical(r) for r in records]
    leaves = [leaf_hash(line) for line in lines]
    files = {"records.jsonl": b"".join(line + b"\n" for line in lines)}
    files.update(_views(order, records))
    public = key.public_key()
    manifest = {
        "format": FORMAT, "order_id": order_id, "created_at": format_ts(clock()), "exported_by": exported_by,
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
            z.writestr(name, files[name])
        z.writestr("manifest.json", manifest_bytes)
        z.writestr("manifest.sig", base64.b64encode(key.sign(manifest_bytes)) + b"\n")
    return out.getvalue()


def _views(order: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, bytes]:
    events = [r for r in records if r["record"] == "alert_log"]
    track = [r for r in records if r["record"] == "location_report"]
    respondent_devices = {((v.get("body") or {}).get("respondent") or {}).get("device_id")
                          for v in records if v["record"] == "order_version"}
    his = [r for r in track if r["device_id"] in respondent_devices]
    rows = []
    for e in events:
        message = next(iter((e.get("message") or {}).values()), {})
        rows.append({"at": format_ts(e["at"]), "alert_id": e["alert_id"], "event_seq": e["event_seq"],
                     "kind": message.get("kind"), "event": e["event"], "status": e["status"], "by": e["actor"],
                     "source": e["source"], "zone_id": (message.get("zone") or {}).get("zone_id"),
                     "distance_m": message.get("distance_m"), "respondent": message.get("respondent"),
                     "note": e.get("note")})
    timeline = {"order": {k: order[k] for k in ("order_id", "type", "court_id", "issued_at", "expires_at", "status",
                                                 "version")},
                "history": [{k: r[k] for k in ("event", "at", "actor_id", "role", "reason")}
                            for r in records if r["record"] == "order_event"],
                "events": rows}
    latest = next((r["body"] for r in reversed(records) if r["record"] == "order_version"
                   and isinstance(r.get("body"), dict) and "zones" in r["body"]), {})
    features = [{"type": "Feature", "geometry": f.get("geometry"),
                 "properties": {"layer": "zone", **(f.get("properties") or {})}}
                for f in ((latest.get("zones") or {}).get("features") or [])]
    if his:
        features.append({"type": "Feature", "geometry": {"type": "LineString",
                                                        "coordinates": [[r["lon"], r["lat"]] for r in his]},
                         "properties": {"layer": "respondent_track", "from": format_ts(his[0]["device_ts"]),
                                        "to": format_ts(his[-1]["device_ts"]), "points": len(his)}})
    for row in rows:
        if row["respondent"]:
            features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [
                row["respondent"]["lon"], row["respondent"]["lat"]]},
                "properties": {"layer": "alert_event", **{k: row[k] for k in ("at", "alert_id", "kind", "event")}}})
    table = io.StringIO()
    writer = csv.writer(table)
    columns = ("at", "alert_id", "event_seq", "kind", "event", "status", "by", "source", "zone_id", "distance_m", "note")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[k] for k in columns])
    return {"timeline.json": orjson.dumps(timeline, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2, default=_plain),
            "timeline.geojson": orjson.dumps({"type": "FeatureCollection", "features": features},
                                             option=orjson.OPT_SORT_KEYS),
            "timeline.csv": table.getvalue().encode(),
            "report.pdf": _pdf(order, timeline, len(records), len(his))}


def _pdf(order: dict[str, Any], timeline: dict[str, Any], n_records: int, n_points: int) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(order["issued_at"])  # the same bytes for the same case: no wall clock inside
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, f"Protection order {order['order_id']}: evidence report", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    for label, value in (("Type", order["type"]), ("Court", order["court_id"]),
                         ("Issued", format_ts(order["issued_at"])),
                         ("Expires", format_ts(order["expires_at"]) if order["expires_at"] else "-"),
                         ("Status", order["status"]), ("Records", n_records),
                         ("Respondent track points", n_points)):
        pdf.cell(0, 5, _latin(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Legal history", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    for h in timeline["history"]:
        pdf.multi_cell(0, 4, _latin(f"{format_ts(h['at'])}  {h['event']}  by {h['actor_id']} ({h['role']})"
                                    + (f": {h['reason']}" if h["reason"] else "")), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Alert events", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    for e in timeline["events"]:
        where = f" zone {e['zone_id']}" if e["zone_id"] else ""
        dist = f", {e['distance_m']:.0f} m" if isinstance(e["distance_m"], (int, float)) else ""
        note = f'  "{e["note"]}"' if e.get("note") else ""
        pdf.multi_cell(0, 4, _latin(f"{e['at']}  {e['kind']} {e['event']} -> {e['status']}{where}{dist}  by {e['by']}"
                                    f"{note}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.multi_cell(0, 4, "Every record behind this report is in records.jsonl; manifest.json holds their hashes, "
                         "Merkle root and chain head, signed by the server (manifest.sig). "
                         "Check with: stayaway evidence verify FILE", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _latin(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")  # the core PDF fonts: Latin-1 only


# -- verification (stand-alone: the zip and nothing else) ------------------------------------------------

@dataclass
class Verdict:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    order_id: str | None = None
    key_id: str | None = None
    records: int = 0

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
    v.order_id, v.key_id = manifest.get("order_id"), key_id(public)
    try:
        public.verify(sig, manifest_bytes)
    except InvalidSignature:
        v.fail("manifest.json: the server's signature does not match (the manifest or its signature was changed)")
        return v
    if manifest.get("format") != FORMAT:
        v.fail(f"manifest.json: unknown format {manifest.get('format')!r}")
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

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

The modules: ``records`` (collect, canonical JSON), ``redaction`` (the redacted edition), ``views`` (the
timeline, map layer and table), ``report`` (the PDF), ``manifest`` (the key, the signed manifest, the zip),
``verification``. This module puts a bundle together (:func:`export`) and exports the names callers use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from service.adapters.db import schema as t
from service.evidence.manifest import (
    EDITIONS,
    FILES,
    FORMAT,
    key_id,
    load_or_create_key,
    manifest,
    signed_zip,
)
from service.evidence.merkle import leaf_hash
from service.evidence.records import canonical, collect
from service.evidence.redaction import WITHHELD, redact
from service.evidence.report import TEXTS
from service.evidence.verification import Verdict, verify
from service.evidence.views import BREACHES, views
from service.wire.rfc3339 import format_ts

__all__ = ["BREACHES", "EDITIONS", "FILES", "FORMAT", "TEXTS", "WITHHELD", "Verdict", "canonical", "collect",
           "export", "key_id", "load_or_create_key", "redact", "verify"]


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
    files.update(views(order, records, locale, edition))
    signed = manifest(order_id, edition, format_ts(clock()), exported_by, files, [r["record"] for r in records],
                      leaves, key.public_key())
    return signed_zip(files, signed, key)

"""Evidence bundles: made from pipeline data, verified with nothing but the zip; every kind of tampering
is caught, and the message says where."""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.evidence.bundle import FILES, export, key_id, verify
from service.evidence.merkle import leaf_hash, merkle_root, node_hash
from tests.integration.test_pipeline import T0, make_pipeline, msg, walk_in
from tests.support.zips import entries, rezip

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def bundle(engine) -> bytes:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())  # a breach at her home
    pipeline.process([msg("phone-001", "panic", {"seq": 1, "ts": "2026-11-21T08:01:00Z", "lat": 30.4311,
                                                 "lon": 103.8616, "acc": 9.0})])
    return export(engine, "PSO-2026-0001", KEY, lambda: T0 + timedelta(days=2), "cli:test")


def test_an_untouched_bundle_verifies_and_holds_every_file(bundle) -> None:  # type: ignore[no-untyped-def]
    v = verify(bundle)
    assert v.ok, v.problems
    files = entries(bundle)
    assert set(files) == {*FILES, "manifest.json", "manifest.sig"}
    kinds = [orjson.loads(line)["record"] for line in files["records.jsonl"].splitlines()]
    assert {"order_version", "order_event", "location_report", "panic_press", "alert_log"} <= set(kinds)
    assert v.records == len(kinds) and v.key_id == key_id(KEY.public_key())
    assert files["report.pdf"].startswith(b"%PDF")
    assert b"zone_breach" in files["timeline.csv"] and b"respondent_track" in files["timeline.geojson"]
    assert verify(bundle, expected_key_id=key_id(KEY.public_key())).ok


def test_any_flipped_byte_in_any_file_fails(bundle) -> None:  # type: ignore[no-untyped-def]
    files = entries(bundle)
    rng = random.Random(20261130)
    caught = 0
    for name, body in files.items():
        for pos in rng.sample(range(len(body)), min(25, len(body))):
            changed = bytearray(body)
            changed[pos] ^= 1 << rng.randrange(8)
            v = verify(rezip({**files, name: bytes(changed)}))
            assert not v.ok, (name, pos)
            caught += 1
    assert caught >= 150


@pytest.mark.parametrize("mutation, where", [
    ("remove", "some removed"), ("insert", "some inserted"), ("reorder", "reordered"), ("change", "record changed"),
])
def test_removed_inserted_reordered_or_changed_records_are_named(bundle, mutation, where) -> None:  # type: ignore[no-untyped-def]
    files = entries(bundle)
    lines = files["records.jsonl"].splitlines()
    if mutation == "remove":
        del lines[3]
    elif mutation == "insert":
        lines.insert(3, lines[5])
    elif mutation == "reorder":
        lines[3], lines[4] = lines[4], lines[3]
    else:
        record = orjson.loads(lines[4])
        record["seq" if "seq" in record else "id"] = 999_999
        lines[4] = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    body = b"".join(line + b"\n" for line in lines)
    # even with the file's hash fixed up in the manifest, the signature no longer matches; without it, the records
    # themselves say what happened and where
    manifest = orjson.loads(files["manifest.json"])
    manifest["files"]["records.jsonl"] = hashlib.sha256(body).hexdigest()
    v = verify(rezip({**files, "records.jsonl": body}))
    assert not v.ok and any(where in p for p in v.problems), v.problems
    assert any("line 4" in p or "line 5" in p for p in v.problems) or mutation in ("remove", "insert"), v.problems
    resigned = rezip({**files, "records.jsonl": body,
                      "manifest.json": orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)})
    assert any("signature" in p for p in verify(resigned).problems)


def test_a_bundle_signed_with_another_key_verifies_only_against_that_key(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    pipeline.process(walk_in())
    other = Ed25519PrivateKey.generate()
    data = export(engine, "PSO-2026-0001", other, lambda: T0, "cli:someone")
    assert verify(data).ok  # consistent on its own
    v = verify(data, expected_key_id=key_id(KEY.public_key()))
    assert not v.ok and "not the expected" in v.problems[0]


def test_an_added_or_missing_file_fails(bundle) -> None:  # type: ignore[no-untyped-def]
    files = entries(bundle)
    assert any("added" in p for p in verify(rezip({**files, "note.txt": b"x"})).problems)
    assert any("missing" in p for p in verify(rezip({k: v for k, v in files.items() if k != "timeline.csv"})).problems)
    assert verify(b"not a zip").problems == ["not a zip file (or a damaged one)"]


def test_the_merkle_tree_is_rfc_6962_s() -> None:
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert merkle_root([a]) == a and merkle_root([a, b]) == node_hash(a, b)
    assert merkle_root([a, b, c]) == node_hash(node_hash(a, b), c)  # split at the largest power of two below n
    assert merkle_root([]) == hashlib.sha256(b"").digest()
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()


def test_the_command_line_exports_audits_and_verifies(tmp_path, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    import json
    import os

    import sqlalchemy as sa

    from service.adapters.db import schema as t
    from tests.support import builders
    from tests.support.serve import run_cli

    env = {**os.environ, "STAYAWAY_DATABASE_URL": sqlite_url, "STAYAWAY_DATA_DIR": str(tmp_path),
           "STAYAWAY_EVIDENCE_KEY": str(tmp_path / "keys" / "evidence.pem")}
    (tmp_path / "a.json").write_text(json.dumps(builders.AGENCIES))
    (tmp_path / "o.json").write_text(json.dumps(builders.order()))
    run_cli(["agencies", "import", str(tmp_path / "a.json")], env)
    run_cli(["orders", "import", str(tmp_path / "o.json")], env)
    out = tmp_path / "PSO-2026-0001.zip"
    made = run_cli(["evidence", "export", "PSO-2026-0001", "--out", str(out), "--reason", "hearing on 3 Dec"], env)
    key = run_cli(["evidence", "key"], env).stdout.split()[2]
    assert f"signed with key {key}" in made.stdout
    assert oct((tmp_path / "keys" / "evidence.pem").stat().st_mode & 0o777) == "0o600"
    ok = run_cli(["evidence", "verify", str(out), "--key-id", key], {k: v for k, v in env.items()
                                                                     if not k.startswith("STAYAWAY_")})
    assert ok.returncode == 0 and ok.stdout.startswith("OK: order PSO-2026-0001") and "records" in ok.stdout
    files = entries(out.read_bytes())
    out.write_bytes(rezip({**files, "timeline.csv": files["timeline.csv"] + b"x"}))
    bad = run_cli(["evidence", "verify", str(out)], env, check=False)
    assert bad.returncode == 1 and "timeline.csv" in bad.stderr
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        audit = conn.execute(sa.select(t.access_audit.c.action, t.access_audit.c.object_id)
                             .where(t.access_audit.c.action == "export")).all()
    engine.dispose()
    assert [tuple(a) for a in audit] == [("export", "PSO-2026-0001")]

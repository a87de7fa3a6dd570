"""Verification, stand-alone: the zip and nothing else. The signature over the manifest, each file's hash,
each record against its signed leaf hash, the Merkle root and the chain head; what failed, where."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service.evidence.manifest import EDITIONS, FORMAT, key_id
from service.evidence.merkle import chain_head, leaf_hash, merkle_root


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

"""The bundle's signed manifest and its zip: the format, the files, the editions, the server's Ed25519
key, the manifest (file hashes, leaf hashes, Merkle root, chain head, public key) and the zip with fixed
entry times (the same bytes for the same case)."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from service.evidence.merkle import chain_head, merkle_root

FORMAT = "stayaway-evidence/1"
FILES = ("records.jsonl", "timeline.json", "timeline.geojson", "timeline.csv", "report.pdf")
EDITIONS = ("full", "redacted")


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


# -- the manifest and the zip ------------------------------------------------------------------------------

def manifest(order_id: str, edition: str, created_at: str, exported_by: str, files: dict[str, bytes],
             kinds: list[Any], leaves: list[bytes], public: Ed25519PublicKey) -> bytes:
    """The manifest's bytes (sorted keys, indented): what the server signs."""
    body = {
        "format": FORMAT, "edition": edition, "order_id": order_id, "created_at": created_at,
        "exported_by": exported_by,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "records": {"count": len(leaves), "kinds": kinds,
                    "leaf_hashes": [x.hex() for x in leaves], "merkle_root": merkle_root(leaves).hex(),
                    "chain_head": chain_head(leaves).hex()},
        "signature": {"algorithm": "Ed25519", "key_id": key_id(public), "public_key": base64.b64encode(
            public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()},
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


def signed_zip(files: dict[str, bytes], manifest_bytes: bytes, key: Ed25519PrivateKey) -> bytes:
    """The bundle's zip: ``FILES`` in their order, the manifest and the server's signature over it."""
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

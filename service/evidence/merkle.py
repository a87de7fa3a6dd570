"""RFC 6962 Merkle tree hashes and a hash chain over records (pure).

Leaf hash ``SHA-256(0x00 || record)``, interior node ``SHA-256(0x01 || left || right)``, and the tree
hash of n leaves splits at the largest power of two below n (RFC 6962 section 2.1), so any removed,
inserted, reordered or changed record changes the root. The chain runs ``h0 = 32 zero bytes``,
``h_i = SHA-256(h_{i-1} || leaf_i)``: its head commits to the order of the records as well.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(record: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + record).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The tree hash of already-hashed leaves (the empty tree: SHA-256 of nothing)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def chain_head(leaves: Sequence[bytes]) -> bytes:
    h = bytes(32)
    for leaf in leaves:
        h = hashlib.sha256(h + leaf).digest()
    return h

"""How much of a rejected message is kept: all of it, within a budget per device (pure).

Every bad message is stored as evidence with its raw bytes. A device (or anyone holding its
credentials) may send bad messages as fast as the network allows; kept whole, they would fill
the disk (an attack review stored 1 GB from four messages before array elements kept their own
bytes). So each device's rejected bytes are kept whole up to ``full_bytes_per_hour`` in each hour
of receive time; past that, and for any payload over the size limit, a rejection keeps the first
``keep_bytes`` bytes, and its detail says how long the payload was and its SHA-256, so whoever
holds the original can still prove it is the one received. The rejection itself is never dropped.
"""

from __future__ import annotations

import hashlib

import msgspec

from service.wire.messages import InvalidMessage, Reason

FULL_BYTES_PER_HOUR = 8 * 1024 * 1024  # per device: ~30 full-size bad messages, thousands of ordinary ones
KEEP_BYTES = 1024
MAX_TRACKED = 100_000  # devices remembered at once (older hours are forgotten first)


class RejectionBudget:
    def __init__(self, full_bytes_per_hour: int = FULL_BYTES_PER_HOUR, keep_bytes: int = KEEP_BYTES) -> None:
        self.full_bytes_per_hour = full_bytes_per_hour
        self.keep_bytes = keep_bytes
        self._spent: dict[str, tuple[int, int]] = {}  # device (or "?") -> (hour of receive time, bytes kept whole)

    def bound(self, r: InvalidMessage) -> InvalidMessage:
        """``r`` as it is to be stored: whole, or its first ``keep_bytes`` bytes with length and hash."""
        size = len(r.payload)
        if size <= self.keep_bytes:
            return r
        key = r.device_id or "?"
        hour = int(r.received_at.timestamp() // 3600)
        spent_hour, spent = self._spent.get(key, (hour, 0))
        if spent_hour != hour:
            spent = 0
        if r.reason is not Reason.PAYLOAD_TOO_LARGE and spent + size <= self.full_bytes_per_hour:
            self._remember(key, hour, spent + size)
            return r
        self._remember(key, hour, spent)
        digest = hashlib.sha256(r.payload).hexdigest()
        why = "over the size limit" if r.reason is Reason.PAYLOAD_TOO_LARGE else "over this device's hourly budget"
        return msgspec.structs.replace(r, payload=r.payload[:self.keep_bytes], detail=(
            f"{r.detail} [payload of {size} bytes, sha256 {digest}; first {self.keep_bytes} bytes kept: {why}]"))

    def _remember(self, key: str, hour: int, spent: int) -> None:
        if key not in self._spent and len(self._spent) >= MAX_TRACKED:
            for old in [k for k, (h, _) in self._spent.items() if h != hour] or list(self._spent)[:1]:
                del self._spent[old]
        self._spent[key] = (hour, spent)

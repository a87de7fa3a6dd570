"""service.wire.evidence: every rejection is kept, its payload whole within a per-device budget."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from service.wire import decode
from service.wire.evidence import RejectionBudget
from service.wire.messages import InvalidMessage, Reason

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def bad(size: int, at: datetime = T0, device: str | None = "trk-001", reason: Reason = Reason.INVALID_JSON,
        fill: bytes = b"x") -> InvalidMessage:
    return InvalidMessage(f"stayaway/v1/devices/{device}/location", fill * size, at, reason, "not UTF-8 JSON", device)


def test_within_the_budget_a_payload_is_kept_whole_and_past_it_its_head_length_and_hash() -> None:
    budget = RejectionBudget(full_bytes_per_hour=10_000, keep_bytes=100)
    first = budget.bound(bad(6_000))
    second = budget.bound(bad(6_000, fill=b"y"))
    assert first.payload == b"x" * 6_000 and first.detail == "not UTF-8 JSON"
    assert second.payload == b"y" * 100
    assert f"payload of 6000 bytes, sha256 {hashlib.sha256(b'y' * 6_000).hexdigest()}" in second.detail
    assert budget.bound(bad(6_000, device="trk-002")).payload == b"x" * 6_000  # another device has its own
    assert budget.bound(bad(6_000, at=T0 + timedelta(hours=1))).payload == b"x" * 6_000  # a new hour
    assert budget.bound(bad(50)).payload == b"x" * 50  # small ones always whole


def test_a_payload_over_the_size_limit_keeps_only_its_head() -> None:
    kept = RejectionBudget().bound(bad(300_000, reason=Reason.PAYLOAD_TOO_LARGE))
    assert len(kept.payload) == 1024 and "payload of 300000 bytes" in kept.detail and "size limit" in kept.detail


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 300_000), max_size=60), devices=st.lists(st.sampled_from(["a", "b", None])))
def test_the_bytes_kept_per_device_and_hour_are_bounded_and_nothing_is_dropped(sizes, devices) -> None:  # type: ignore[no-untyped-def]
    budget = RejectionBudget(full_bytes_per_hour=1_000_000, keep_bytes=1024)
    kept: dict[str | None, int] = {}
    for i, size in enumerate(sizes):
        device = devices[i % len(devices)] if devices else "a"
        out = budget.bound(bad(size, device=device))
        assert out.reason == Reason.INVALID_JSON and out.topic.endswith("/location")
        assert out.payload == b"x" * min(size, len(out.payload)) and (len(out.payload) in (size, 1024))
        kept[device] = kept.get(device, 0) + len(out.payload)
    for total in kept.values():
        assert total <= 1_000_000 + 1024 * len(sizes)


def test_each_bad_element_of_an_array_keeps_its_own_bytes_not_the_whole_payload() -> None:
    body = [{"seq": i, "ts": "2026-12-02T08:00:00Z", "lat": 91.0, "lon": 0.0, "acc": 5.0, "pad": "p" * 200}
            for i in range(1000)]
    payload = orjson.dumps(body)
    out = decode("stayaway/v1/devices/trk-001/location", payload, T0, 512 * 1024)
    assert len(out.rejections) == 1000 and not out.reports
    assert all(r.payload == orjson.dumps(body[r.item_index]) for r in out.rejections)
    assert sum(len(r.payload) for r in out.rejections) < 1.1 * len(payload)

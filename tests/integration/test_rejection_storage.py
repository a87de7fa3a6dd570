"""Bad input is kept as evidence without letting one device fill the disk (attack review F3), on a real database."""

from __future__ import annotations

from datetime import timedelta

import orjson
import sqlalchemy as sa

from service.adapters.db import schema as t
from simulators.walk import offset
from tests.integration.test_pipeline import T0, make_pipeline, msg
from tests.support import builders


def stored_bytes(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count(), sa.func.sum(sa.func.length(t.rejected_messages.c.payload)))
                            ).one()
    return int(rows[0]), int(rows[1] or 0)


def test_an_array_of_a_thousand_bad_elements_is_not_stored_a_thousand_times(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    body = [{"seq": i, "ts": "2026-11-21T08:00:00Z", "lat": 91.0, "lon": 0.0, "acc": 5.0, "pad": "p" * 150}
            for i in range(1000)]
    payload = orjson.dumps(body)
    assert 200_000 < len(payload) < 256 * 1024
    result = pipeline.process([msg("trk-001", "location", body, at=T0)])  # type: ignore[arg-type]
    assert result.rejected == {"out_of_range": 1000}
    count, size = stored_bytes(engine)
    assert count == 1000 and size < 1.1 * len(payload)  # was 1000 x the payload: 256 MB


def test_a_flood_of_big_bad_messages_keeps_every_rejection_and_a_bounded_number_of_bytes(engine) -> None:  # type: ignore[no-untyped-def]
    pipeline = make_pipeline(engine)
    junk = b"{" + b"9" * 250_000  # not JSON: invalid_json, whole payload
    batch = [msg("trk-001", "location", {}, at=T0) for _ in range(100)]
    batch = [type(m)(m.topic, junk, m.received_at) for m in batch]
    for i in range(0, 100, 10):
        pipeline.process(batch[i:i + 10])
    count, size = stored_bytes(engine)
    assert count == 100  # every one kept
    assert size <= 8 * 1024 * 1024 + 100 * 1024  # whole within the device's hourly budget, then heads
    # and another order's breach still goes through at once
    inside = offset(*builders.HOME, 100, 0)
    result = pipeline.process([msg("trk-001", "location", builders.location(1, *inside, ts=T0 + timedelta(seconds=1)))])
    assert result.accepted == 1 and any("/agencies/" in o.topic for o in result.outbox)

"""The ingest loop on a real SQLite database: nothing it has taken is ever dropped.

The pipeline below is a fake that subclasses the real one (the real database and
monitor do the work); it fails on one poison message, and fails to store that
message's evidence the first time, as a broken disk or a bug would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa

from service.adapters.db import schema as t
from service.ingest import IngestLoop
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.wire import Inbound
from tests.integration.test_pipeline import make_pipeline, msg, walk_in


class PoisonedPipeline(Pipeline):
    def __init__(self, real: Pipeline) -> None:
        super().__init__(real.engine, real.monitor, real.clock, real.max_payload_bytes)
        self.store_failures = 1

    def process(self, items: Sequence[Inbound]):  # type: ignore[no-untyped-def]
        if any(i.topic.endswith("/poison/location") for i in items):
            raise RuntimeError("a bug on this message")
        return super().process(items)

    def store_poison(self, item: Inbound, error: BaseException) -> None:
        if self.store_failures:
            self.store_failures -= 1
            raise RuntimeError("cannot store the evidence yet")
        super().store_poison(item, error)


def test_a_poison_message_whose_evidence_cannot_be_stored_drops_nothing(engine) -> None:
    pipeline = PoisonedPipeline(make_pipeline(engine))
    acked: list[Inbound] = []
    loop = IngestLoop(pipeline, acked.extend, lambda rows: None, lambda: None, Metrics(), retry_s=0.05)
    reports = walk_in()
    poison = msg("poison", "location", {"seq": 1, "ts": "2026-11-21T08:00:00Z"})
    for item in [reports[0], poison, *reports[1:]]:
        loop.submit(item)
    loop.start()
    deadline = time.monotonic() + 20
    while len(acked) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    loop.stop()
    assert sorted(a.topic for a in acked) == sorted(i.topic for i in [*reports, poison])
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(t.location_reports)).scalar()
        reasons = [r for (r,) in conn.execute(sa.select(t.rejected_messages.c.reason))]
    assert stored == 5 and reasons == ["internal_error"]


class SlowPipeline(Pipeline):
    """The real pipeline, one millisecond slower per message (an expensive batch), recording its batches."""

    def __init__(self, real: Pipeline) -> None:
        super().__init__(real.engine, real.monitor, real.clock, real.max_payload_bytes)
        self.batches: list[list[str]] = []

    def process(self, items: Sequence[Inbound]):  # type: ignore[no-untyped-def]
        self.batches.append([i.topic.rsplit("/", 1)[-1] for i in items])
        time.sleep(0.001 * len(items))
        return super().process(items)


def test_batches_fit_the_time_budget_and_a_panic_goes_before_the_rest(engine) -> None:
    pipeline = SlowPipeline(make_pipeline(engine))
    acked: list[Inbound] = []
    loop = IngestLoop(pipeline, acked.extend, lambda rows: None, lambda: None, Metrics(), max_batch=400,
                      batch_budget_s=0.1)
    statuses = [msg("trk-001", "status", {"seq": i, "ts": "2026-11-21T08:00:00Z", "batt": 80}) for i in range(1, 1201)]
    for item in statuses:
        loop.submit(item)
    loop.start()
    while len(pipeline.batches) < 3:
        time.sleep(0.001)
    loop.submit(msg("phone-001", "panic", {"seq": 1, "ts": "2026-11-21T08:00:00Z"}))
    deadline = time.monotonic() + 30
    while len(acked) < 1201 and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.stop()
    sizes = [len(b) for b in pipeline.batches]
    assert sizes[0] == 400  # no cost known yet: the most a batch may hold
    ordinary = [len(b) for b in pipeline.batches[1:] if b != ["panic"]]
    assert all(50 <= n <= 100 for n in ordinary[:-1]), sizes  # ~0.1 s at >= 1 ms a message; the last is what is left
    panic_at = next(i for i, b in enumerate(pipeline.batches) if "panic" in b)
    assert pipeline.batches[panic_at] == ["panic"]  # a batch of its own ...
    assert panic_at <= 4 and sum(sizes[panic_at + 1:]) > 0  # ... taken before the backlog behind it
    assert len(acked) == 1201

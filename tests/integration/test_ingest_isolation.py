"""A batch that fails all the same (a bug further in than the decoders) on a real database: the ingest
loop splits it in halves until the failing message is alone, so the good messages around it still go in
few transactions, in arrival order, and a panic arriving meanwhile goes first.

The pipeline is the real one subclassed, as in test_ingest_loop.py: it fails on every batch holding the
poison message, as a bug on that message would, and counts the batches it was given."""

from __future__ import annotations

import time
from collections.abc import Sequence

import sqlalchemy as sa

from service.adapters.db import schema as t
from service.ingest import SPLIT_ABOVE, IngestLoop
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.wire import Inbound
from tests.integration.test_pipeline import make_pipeline, msg


class PoisonedPipeline(Pipeline):
    def __init__(self, real: Pipeline, on_batch=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(real.engine, real.monitor, real.clock, real.max_payload_bytes)
        self.sizes: list[int] = []
        self.on_batch = on_batch

    def process(self, items: Sequence[Inbound]):  # type: ignore[no-untyped-def]
        self.sizes.append(len(items))
        if self.on_batch is not None:
            self.on_batch(len(self.sizes))
        if any(i.topic.endswith("/poison/status") for i in items):
            raise RuntimeError("a bug on this message")
        return super().process(items)


def statuses(n: int) -> list[Inbound]:
    return [msg("trk-001", "status", {"seq": i, "ts": "2026-11-21T08:00:00Z", "batt": 80}) for i in range(1, n + 1)]


def run_until(loop: IngestLoop, acked: list, n: int) -> None:
    loop.start()
    deadline = time.monotonic() + 60
    while len(acked) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.stop()


def test_one_poison_message_in_a_large_batch_costs_few_transactions_and_keeps_the_order(engine) -> None:
    pipeline = PoisonedPipeline(make_pipeline(engine))
    acked: list[Inbound] = []
    reloads: list[int] = []
    loop = IngestLoop(pipeline, acked.extend, lambda rows: None, lambda: reloads.append(1), Metrics(), max_batch=1000,
                      retry_s=0.05, batch_budget_s=60.0)
    good = statuses(999)
    poison = msg("poison", "status", {"seq": 1, "ts": "2026-11-21T08:00:00Z"})
    for item in [*good[:600], poison, *good[600:]]:
        loop.submit(item)
    run_until(loop, acked, 1000)
    assert len(acked) == 1000
    with engine.connect() as conn:
        seqs = [s for (s,) in conn.execute(sa.select(t.status_reports.c.seq).order_by(t.status_reports.c.id))]
        reasons = [r for (r,) in conn.execute(sa.select(t.rejected_messages.c.reason))]
    assert seqs == list(range(1, 1000)) and reasons == ["internal_error"]  # every good one, in arrival order
    # halving 1000 down to at most SPLIT_ABOVE takes 7 failed batches, then at most SPLIT_ABOVE alone
    assert pipeline.sizes[0] == 1000 and len(pipeline.sizes) <= 2 * 7 + SPLIT_ABOVE + 1, pipeline.sizes
    assert sum(1 for n in pipeline.sizes if n == 1) <= SPLIT_ABOVE
    assert len(reloads) <= 9  # one after each failure


def test_a_panic_arriving_while_a_failed_batch_is_split_goes_before_the_rest_of_it(engine) -> None:
    acked: list[Inbound] = []
    panic = msg("phone-001", "panic", {"seq": 1, "ts": "2026-11-21T08:00:00Z"})
    loop_box: list[IngestLoop] = []

    def on_batch(n: int) -> None:
        if n == 2:  # the first half of the failed batch is being taken: a panic comes in
            loop_box[0].submit(panic)

    pipeline = PoisonedPipeline(make_pipeline(engine), on_batch)
    loop = IngestLoop(pipeline, acked.extend, lambda rows: None, lambda: None, Metrics(), max_batch=400,
                      retry_s=0.05, batch_budget_s=60.0)
    loop_box.append(loop)
    good = statuses(399)
    for item in [*good[:300], msg("poison", "status", {"seq": 1, "ts": "2026-11-21T08:00:00Z"}), *good[300:]]:
        loop.submit(item)
    run_until(loop, acked, 401)
    assert len(acked) == 401
    panic_at = acked.index(panic)
    assert panic_at < 400  # the panic was acknowledged before the last part of the failed batch
    assert pipeline.sizes[:3] == [400, 200, 1]  # the whole, its first half (which holds no poison), the panic

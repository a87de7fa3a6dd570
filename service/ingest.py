"""The ingest loop: micro-batches from the broker, committed, then acknowledged.

The paho thread only calls :meth:`IngestLoop.submit`. One loop thread takes
whatever has arrived (at most ``max_batch`` messages, and no more than it can
handle in about ``batch_budget_s`` at the recent cost per message; panics
jump the queue and go in a batch of their own, before any other task), runs
it through the pipeline, and only after the commit acknowledges the messages
and hands new outbox rows to the dispatcher. Reports of one device are
therefore handled in arrival order. The budget bounds how long a panic that
arrives mid-batch waits for the batch in hand: a flood from one faulty
device can't bury another order's panic.

Bad input never fails a batch: the decoders turn it into rejections, one message
at a time. Should a batch fail all the same (a bug), the in-memory state is
rebuilt from the database and the batch is split in halves, each taken again
as a batch of its own ahead of everything that arrived after it (panics still
go first), until the message that fails is alone: it is stored as an
``internal_error`` rejection and acknowledged, so one poison message can never
stall ingestion, and the good messages around it still go in few transactions.
While the database is unreachable nothing is acknowledged and the loop keeps
retrying.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from service.adapters.db.alerts_repo import OutboxItem
from service.adapters.db.transaction import storage_errors
from service.errors import StorageUnavailable
from service.metrics import Metrics
from service.pipeline import BatchResult, Pipeline
from service.wire import Inbound

log = logging.getLogger(__name__)
PANIC_SUFFIX = "/panic"
PANIC_LANE = 1
MIN_BATCH = 50  # the budget never shrinks a batch below this (per-transaction costs would dominate)
SPLIT_ABOVE = 8  # a failed batch larger than this is split in halves; a smaller one is tried message by message


class IngestLoop:
    def __init__(self, pipeline: Pipeline, ack: Callable[[Sequence[Inbound]], None],
                 dispatch: Callable[[list[OutboxItem]], None], reload_state: Callable[[], None],
                 metrics: Metrics, max_batch: int = 2000, retry_s: float = 1.0, batch_budget_s: float = 0.03) -> None:
        self.pipeline, self._ack, self._dispatch, self._reload = pipeline, ack, dispatch, reload_state
        self.metrics, self.max_batch, self.retry_s = metrics, max_batch, retry_s
        self.batch_budget_s = batch_budget_s
        self._cost_s = 0.0  # recent processing time per message (moving average); 0 until measured
        self._urgent: deque[Inbound] = deque()
        self._normal: deque[Inbound] = deque()
        self._suspect: deque[list[Inbound]] = deque()  # parts of a failed batch, in order, before _normal
        self._suspect_n = 0  # messages in _suspect (read by other threads: backlog)
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._tasks: deque[Callable[[], None]] = deque()
        self._stale = False
        self._idle = False
        self._thread = threading.Thread(target=self._run, name="stayaway-ingest", daemon=True)

    # -- called from other threads ------------------------------------------
    def submit(self, item: Inbound) -> None:
        """Called on paho's thread for every message: append, and wake the loop only if it sleeps."""
        (self._urgent if _is_urgent(item) else self._normal).append(item)
        if self._idle:
            with self._cv:
                self._cv.notify()

    def call_soon(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the loop thread between batches (state reloads)."""
        with self._cv:
            self._tasks.append(task)
            self._cv.notify()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        self._thread.join(timeout)

    def backlog(self) -> int:
        return len(self._urgent) + len(self._normal) + self._suspect_n

    # -- the loop ------------------------------------------------------------
    def batch_limit(self) -> int:
        """Messages in the next ordinary batch: what fits in the budget at the recent cost per message."""
        if self._cost_s <= 0:
            return self.max_batch
        return max(min(MIN_BATCH, self.max_batch), min(self.max_batch, int(self.batch_budget_s / self._cost_s)))

    def _run(self) -> None:
        while not self._stop.is_set():
            batch, tasks = self._take()
            urgent = bool(batch) and _is_urgent(batch[0])
            if not urgent:
                for task in tasks:
                    self._guarded(task)
            if batch:
                try:
                    self._handle(batch)
                except _PutBack:
                    self._stop.wait(1.0)  # what was not handled is back in the queue: try again shortly
                except Exception:
                    self._stale = True
                    log.exception("unexpected failure handling a batch of %d; putting it back", len(batch))
                    self._requeue(batch)
                    self._stop.wait(1.0)
            if urgent:  # a panic before bookkeeping
                for task in tasks:
                    self._guarded(task)

    def _take(self) -> tuple[list[Inbound], list[Callable[[], None]]]:
        with self._cv:
            while not (self._urgent or self._normal or self._suspect or self._tasks or self._stop.is_set()):
                self._idle = True
                if not (self._urgent or self._normal):  # re-check: submit appends without the lock
                    self._cv.wait(0.5)
                self._idle = False
            tasks = list(self._tasks)
            self._tasks.clear()
        if not self._urgent and self._suspect:  # a part of a failed batch, as it is
            part = self._suspect.popleft()
            self._suspect_n -= len(part)
            return part, tasks
        source = self._urgent if self._urgent else self._normal
        n = min(len(source), self.max_batch if source is self._urgent else self.batch_limit())
        return [source.popleft() for _ in range(n)], tasks

    def _handle(self, batch: list[Inbound]) -> None:
        """Commit ``batch``; on failure split it (a large ordinary batch: its halves go back to the front,
        each to be taken as a batch) or go message by message. Raises only with every message still
        unhandled put back at the front of its queue."""
        try:
            self._commit_until_done(batch)
            return
        except Exception:
            split = len(batch) > SPLIT_ABOVE and not _is_urgent(batch[0])
            log.exception("batch of %d failed; retrying %s", len(batch), "its halves" if split else "message by message")
            self.metrics.add("batch_failures")
        if split:
            half = len(batch) // 2
            self._suspect.extendleft([batch[half:], batch[:half]])  # extendleft reverses: first half first
            self._suspect_n += len(batch)
            return
        for i, item in enumerate(batch):
            try:
                self._commit_until_done([item])
            except Exception as exc:
                log.exception("message on %s failed on its own; storing it as evidence", _topic(item))
                try:  # the lambda binds its values now: the except name is unbound after the block
                    self._until_done(lambda item=item, failure=exc: self._store_poison(item, failure),
                                     needs_state=False)
                except Exception as store_exc:
                    log.exception("cannot store the failed message yet; %d messages go back to the queue",
                                  len(batch) - i)
                    self._requeue(batch[i:])
                    raise _PutBack from store_exc

    def _requeue(self, items: list[Inbound]) -> None:
        """Back to the front: panics to theirs; the rest as one part ahead of any other part and _normal."""
        for item in reversed(items):
            if _is_urgent(item):
                self._urgent.appendleft(item)
        rest = [item for item in items if not _is_urgent(item)]
        if rest:
            self._suspect.appendleft(rest)
            self._suspect_n += len(rest)

    def _store_poison(self, item: Inbound, exc: Exception) -> None:
        self.pipeline.store_poison(item, exc)
        self._ack([item])
        self.metrics.add("rejected.internal_error")

    def _commit_until_done(self, batch: list[Inbound]) -> None:
        self._until_done(lambda: self._commit(batch))

    def _until_done(self, step: Callable[[], None], needs_state: bool = True) -> None:
        """Run ``step``, waiting out an unreachable database; other errors propagate."""
        delay = self.retry_s
        while True:
            try:
                if self._stale and needs_state:
                    with storage_errors():  # the reload reads the database too: an outage is waited out
                        self._reload()
                    self._stale = False
                step()
                return
            except StorageUnavailable as exc:  # the DB adapter's mapping of a driver's operational error
                self._stale = True
                self.metrics.add("db_unavailable")
                log.error("database unavailable (%s); %d messages held unacknowledged, retrying in %.0f s",
                          (exc.__cause__ or exc).__class__.__name__, self.backlog(), delay)
                if self._stop.wait(delay):
                    raise
                delay = min(30.0, delay * 2)
            except Exception:
                self._stale = True
                raise

    def _commit(self, batch: list[Inbound]) -> None:
        started = time.perf_counter()
        result: BatchResult = self.pipeline.process(batch)
        if not _is_urgent(batch[0]):
            cost = (time.perf_counter() - started) / len(batch)
            self._cost_s = cost if self._cost_s <= 0 else 0.7 * self._cost_s + 0.3 * cost
        if result.outbox:  # alerts first: acknowledging a large batch takes a while
            self._dispatch(result.outbox)
        self._ack(batch)
        self.metrics.add("messages", len(batch))
        self.metrics.add("batches")
        self.metrics.add("accepted", result.accepted)
        self.metrics.add("duplicates", result.duplicates)
        self.metrics.add("late", result.late)
        self.metrics.add("outbox_rows", len(result.outbox))
        for reason, n in result.rejected.items():
            self.metrics.add(f"rejected.{reason}", n)

    def _guarded(self, task: Callable[[], None]) -> None:
        try:
            task()
        except Exception:
            self._stale = True
            log.exception("loop task failed")


class _PutBack(Exception):
    """Raised by ``_handle`` once it has put every unhandled message back in the queue."""


def _is_urgent(item: Inbound) -> bool:
    return item.lane == PANIC_LANE or item.topic.endswith(PANIC_SUFFIX)


def _topic(item: Inbound) -> str:
    return item.topic[:120].encode("unicode_escape").decode("ascii")

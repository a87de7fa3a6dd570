"""Drains the outbox to the broker: most urgent first, at least once, no expiry.

Rows arrive from the ingest loop right after their commit (no polling delay)
and from the database on start and every ``rescan_s`` (rows of a crashed run,
rows written by other processes). A row is marked sent only when the broker
acknowledged it; one not acknowledged within ``retry_after_s`` is published
again. Consumers deduplicate by ``event_id``.

The dispatcher never writes: it reads through a reader engine and hands the
ids the broker acknowledged to ``mark_sent``, which the composition root runs
on the ingest thread, so a SQLite database has one writer and the dispatcher
never waits for the write lock while alerts are waiting to go out.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from service.adapters.db import alerts_repo
from service.adapters.db.alerts_repo import OutboxItem
from service.adapters.db.transaction import connection
from service.adapters.mqtt import Publisher
from service.errors import StorageUnavailable
from service.metrics import Metrics

log = logging.getLogger(__name__)
MAX_IN_FLIGHT = 1000
RECENT = 50_000
FRESH = timedelta(seconds=2)  # younger rows reach us through notify(); a rescan leaves them alone


class Dispatcher:
    def __init__(self, reader: Engine, publisher: Publisher, clock: Callable[[], datetime], metrics: Metrics,
                 mark_sent: Callable[[list[int]], None], retry_after_s: float = 10.0, rescan_s: float = 5.0) -> None:
        self.reader, self.publisher, self.clock, self.metrics = reader, publisher, clock, metrics
        self.mark_sent = mark_sent
        self.retry_after_s, self.rescan_s = retry_after_s, rescan_s
        self._incoming: deque[list[OutboxItem]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._queue: list[tuple[int, int, OutboxItem]] = []
        self._known: set[int] = set()  # outbox ids queued or in flight
        self._in_flight: dict[int, tuple[OutboxItem, float]] = {}  # packet id -> (row, monotonic publish time)
        self._sent: list[int] = []
        self._recently_sent: deque[int] = deque(maxlen=RECENT)  # acknowledged, maybe not yet marked in the database
        self._recent_set: set[int] = set()
        self._thread = threading.Thread(target=self._run, name="stayaway-dispatch", daemon=True)

    def notify(self, items: list[OutboxItem]) -> None:
        self._incoming.append(items)
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def pending(self) -> int:
        return len(self._queue) + len(self._in_flight)

    def _run(self) -> None:
        next_scan = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_scan:
                    self._rescan()
                    next_scan = time.monotonic() + self.rescan_s
                self._step()
            except Exception:  # noqa: BLE001 - the outermost loop: log with traceback, never die
                log.exception("dispatcher step failed")
                self._stop.wait(1.0)
            self._wake.wait(0.02 if (self._in_flight or self._sent) else 0.5)
            self._wake.clear()

    def _step(self) -> None:
        while self._incoming:
            for item in self._incoming.popleft():
                self._enqueue(item)
        self._collect_acks()
        self._retry_overdue()
        self._publish_queued()
        self._flush_sent()

    def _enqueue(self, item: OutboxItem) -> None:
        if item.id not in self._known and item.id not in self._recent_set:
            self._known.add(item.id)
            heapq.heappush(self._queue, (item.priority, item.id, item))

    def _publish_queued(self) -> None:
        while self._queue and len(self._in_flight) < MAX_IN_FLIGHT:
            _, _, item = heapq.heappop(self._queue)
            try:
                mid = self.publisher.publish(item.topic, item.payload)
            except Exception:
                heapq.heappush(self._queue, (item.priority, item.id, item))
                raise
            if mid is None:
                heapq.heappush(self._queue, (item.priority, item.id, item))
                return
            displaced = self._in_flight.get(mid)
            if displaced is not None:  # paho's 16-bit packet id wrapped: keep the older row going
                heapq.heappush(self._queue, (displaced[0].priority, displaced[0].id, displaced[0]))
            self._in_flight[mid] = (item, time.monotonic())
            self.metrics.add("published")

    def _collect_acks(self) -> None:
        acked = self.publisher.acked
        while acked:
            entry = self._in_flight.pop(acked.popleft(), None)
            if entry is not None:
                self._sent.append(entry[0].id)

    def _retry_overdue(self) -> None:
        limit = time.monotonic() - self.retry_after_s
        for mid, (item, at) in list(self._in_flight.items()):
            if at < limit:
                del self._in_flight[mid]
                heapq.heappush(self._queue, (item.priority, item.id, item))
                self.metrics.add("republished")

    def _flush_sent(self) -> None:
        if not self._sent:
            return
        ids, self._sent = self._sent, []
        for i in ids:
            if len(self._recently_sent) == RECENT:
                self._recent_set.discard(self._recently_sent[0])
            self._recently_sent.append(i)
            self._recent_set.add(i)
        self._known.difference_update(ids)
        self.mark_sent(ids)
        self.metrics.add("delivered", len(ids))

    def _rescan(self) -> None:
        try:
            with connection(self.reader) as conn:
                rows = alerts_repo.unsent_outbox(conn, created_before=self.clock() - FRESH)
        except StorageUnavailable as exc:
            log.error("cannot read the outbox (%s); will retry", (exc.__cause__ or exc).__class__.__name__)
            return
        for item in rows:
            self._enqueue(item)

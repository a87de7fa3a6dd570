"""The delivery queue both outside channels share: most urgent first, failed ones again after a
back-off, no expiry.

Worker threads take the most urgent waiting delivery (lowest ``priority``, as in
the outbox); one scheduler thread brings failed ones back when their back-off
has passed. A subclass sends (``_attempt``) and says what is retried; the queue
keeps deliveries in memory only: the caller's database is the durable copy.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from service.adapters.channels import Attempt

log = logging.getLogger(__name__)


class Queued(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def priority(self) -> int: ...
    @property
    def event_id(self) -> str: ...


def backoff_s(failures: int, u: float, base_s: float = 1.0, cap_s: float = 60.0, jitter: float = 0.25) -> float:
    """The delay after ``failures`` failed attempts: base·2^(failures-1), at most ``cap_s``, shortened
    by up to ``jitter`` of itself (``u`` uniform in [0, 1)) so that receivers coming back are not hit
    by every sender at the same instant."""
    return min(cap_s, base_s * 2.0 ** min(failures - 1, 64)) * (1.0 - jitter * u)


def _event_wait(event: threading.Event, timeout: float | None) -> bool:
    return event.wait(timeout)


class RetryingSender:
    """Worker threads send deliveries, most urgent first; one scheduler thread brings failed ones
    back when their back-off has passed. Callbacks run on the worker threads and must not block long.

    ``clock`` stamps attempts (UTC); ``monotonic`` and ``wait`` drive the back-off (tests pass a
    virtual clock whose ``wait`` advances it instead of sleeping)."""

    name = "channel"

    def __init__(self, on_attempt: Callable[[Attempt], None], on_delivered: Callable[[int], None],
                 clock: Callable[[], datetime], *, workers: int = 4, base_s: float = 1.0, cap_s: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 wait: Callable[[threading.Event, float | None], bool] = _event_wait,
                 random_unit: Callable[[], float] = random.random) -> None:
        self.on_attempt, self.on_delivered, self.clock = on_attempt, on_delivered, clock
        self.base_s, self.cap_s = base_s, cap_s
        self.monotonic, self.wait, self.random_unit = monotonic, wait, random_unit
        self._lock = threading.Lock()
        self._has_ready = threading.Condition(self._lock)
        self._ready: list[tuple[int, int, int, Any, int]] = []  # (priority, id, seq, delivery, failures)
        self._later: list[tuple[float, int, Any, int]] = []  # (due on monotonic, seq, delivery, failures)
        self._pending: dict[int, Any] = {}  # queued, waiting for a retry or in flight
        self._seq = itertools.count()
        self._tick = threading.Event()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, args=(i,), name=f"stayaway-{self.name}-{i}", daemon=True)
                         for i in range(workers)]
        self._threads.append(threading.Thread(target=self._schedule, name=f"stayaway-{self.name}-retry", daemon=True))

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def submit(self, delivery: Any) -> bool:
        """Queue ``delivery``; False if one with its id is already pending. ValueError from ``_check``."""
        self._check(delivery)
        with self._lock:
            if self._stopping:
                raise RuntimeError(f"the {self.name} sender is stopped")
            if delivery.id in self._pending:
                return False
            self._pending[delivery.id] = delivery
            heapq.heappush(self._ready, (delivery.priority, delivery.id, next(self._seq), delivery, 0))
            self._has_ready.notify()
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def stop(self, timeout: float = 2.0) -> list[Any]:
        """Stop now (``_interrupt`` cuts what is in flight). Returns what was not delivered, most urgent
        first; the caller's database still has it."""
        with self._lock:
            self._stopping = True
            self._has_ready.notify_all()
            self._interrupt()
        self._tick.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            if t.ident is not None:
                t.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return sorted(self._pending.values(), key=lambda d: (d.priority, d.id))

    # -- for subclasses ----------------------------------------------------------------------------
    def _check(self, delivery: Any) -> None:
        """Raise ValueError for a delivery that can never be sent."""

    def _interrupt(self) -> None:
        """Called with the lock held when stopping: wake workers blocked in a send."""

    def _attempt(self, index: int, d: Any, attempt_no: int) -> None:
        raise NotImplementedError

    def _delivered(self, d: Any) -> None:
        with self._lock:
            self._pending.pop(d.id, None)
        self._call(self.on_delivered, d.id)

    def _retry_later(self, d: Any, failures: int, delay_s: float) -> None:
        with self._lock:
            if d.id in self._pending:
                self._pending[d.id] = d  # a subclass may retry less than it first had (Apprise: failed URLs)
            heapq.heappush(self._later, (self.monotonic() + delay_s, next(self._seq), d, failures))
        self._tick.set()

    def _report(self, attempt: Attempt) -> None:
        self._call(self.on_attempt, attempt)

    # -- the threads ---------------------------------------------------------------------------------
    def _work(self, index: int) -> None:
        while True:
            with self._lock:
                while not self._ready and not self._stopping:
                    self._has_ready.wait()
                if self._stopping:
                    return
                _, _, _, delivery, failures = heapq.heappop(self._ready)
            try:
                self._attempt(index, delivery, failures + 1)
            except Exception:  # a worker never dies; the delivery is tried again
                log.exception("%s delivery %d: attempt failed unexpectedly", self.name, delivery.id)
                self._retry_later(delivery, failures + 1, self.cap_s)

    def _schedule(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                now = self.monotonic()
                while self._later and self._later[0][0] <= now:
                    _, seq, d, failures = heapq.heappop(self._later)
                    heapq.heappush(self._ready, (d.priority, d.id, seq, d, failures))
                    self._has_ready.notify()
                timeout = self._later[0][0] - now if self._later else None
            self.wait(self._tick, timeout)
            self._tick.clear()

    @staticmethod
    def _call(callback: Callable[[Any], None], arg: Any) -> None:
        try:
            callback(arg)
        except Exception:  # the caller's bookkeeping must not stop deliveries
            log.exception("delivery callback failed")
